/*
 * find_order.c - where an idle P looks first for another P's spilled work:
 * gmp reads its global queue before it steals, as Go's findRunnable does;
 * tgo reads its shared pool only once stealing found nothing.
 *
 * On two Ps, the main task first gets a blocker task running on the other
 * P (it takes the main task's runnext after the pause), so that nothing is
 * taken while the main task spawns TASKS tasks without yielding. Each new
 * task goes to runnext and pushes the one before it onto the ring, whose
 * 256 slots fill; the next put spills the older half and that task to the
 * shared queue (Go's runqputslow), so the queues end up as
 *
 *     shared queue  tasks 0..127 and 256
 *     ring          tasks 128..255 and 257..TASKS-2
 *     runnext       task TASKS-1
 *
 * Then the blocker returns, the other P looks for work while the main task
 * spins, and the program prints the index of the first task that ran on a
 * P other than the main task's: "first-elsewhere INDEX". It checks that
 * every task ran once (the sum of their indices) and exits 0.
 *
 * Usage: find_order (two Ps; it needs no argument).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "other_p.h"
#include "tgo.h"

enum { TASKS = 300 };

static _Atomic int runs;
static _Atomic long index_sum;

static void counted(void *arg)
{
    int index = (int)(long)arg;
    note_if_elsewhere(index);
    atomic_fetch_add(&index_sum, index);
    atomic_fetch_add(&runs, 1);
}

static void main_task(void *arg)
{
    (void)arg;
    hold_other_p();
    for (long i = 0; i < TASKS; i++)
        if (tgo_spawn(counted, (void *)i) != 0) {
            fprintf(stderr, "find_order: out of memory spawning task %ld\n", i);
            exit(1);
        }
    release_other_p();
}

int main(void)
{
    tgo_config cfg = {.procs = 2};
    int rc = tgo_run(&cfg, main_task, NULL, NULL);
    if (rc != 0) {
        fprintf(stderr, "find_order: tgo_run failed: %d\n", rc);
        return 1;
    }
    long want_sum = (long)TASKS * (TASKS - 1) / 2;
    if (atomic_load(&runs) != TASKS || atomic_load(&index_sum) != want_sum) {
        fprintf(stderr, "find_order: %d runs with index sum %ld, expected %d and %ld\n",
                atomic_load(&runs), atomic_load(&index_sum), TASKS, want_sum);
        return 1;
    }
    printf("first-elsewhere %d\n", atomic_load(&first_elsewhere));
    return 0;
}
