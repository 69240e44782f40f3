/*
 * other_p.h - for a test on two Ps that lets the other P steal: the main
 * task holds that P with a blocker task while it queues tasks on its own
 * P, releases it, and learns which task the other P ran first.
 *
 * The blocker reaches the other P as a thief takes it from the main task's
 * runnext (next) after the pause. Once released, the blocker returns and
 * that P looks for work while the main task spins, so that every task it
 * runs first was taken from the main task's P or from the shared queue.
 */
#ifndef TGOBENCH_TESTS_OTHER_P_H
#define TGOBENCH_TESTS_OTHER_P_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "tgo.h"

static _Atomic int blocker_running, release_blocker;
static _Atomic int first_elsewhere = -1;   /* the first task run elsewhere */
static int main_p;

static void blocker(void *arg)
{
    (void)arg;
    atomic_store(&blocker_running, 1);
    while (!atomic_load(&release_blocker)) {
    }
}

/* From the main task: returns once a blocker runs on the other P. */
static void hold_other_p(void)
{
    main_p = tgo_current_p();
    if (tgo_spawn(blocker, NULL) != 0) {
        fprintf(stderr, "out of memory spawning the blocker\n");
        exit(1);
    }
    while (!atomic_load(&blocker_running)) {
    }
}

/* From every task of the test: notes `task` if it is the first to run on
 * a P other than the main task's. */
static void note_if_elsewhere(int task)
{
    if (tgo_current_p() != main_p) {
        int none = -1;
        atomic_compare_exchange_strong(&first_elsewhere, &none, task);
    }
}

/* From the main task: releases the blocker and spins until the other P has
 * run a task of the test; returns that task. */
static int release_other_p(void)
{
    atomic_store(&release_blocker, 1);
    while (atomic_load(&first_elsewhere) < 0) {
    }
    return atomic_load(&first_elsewhere);
}

#endif
