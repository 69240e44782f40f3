/*
 * waitgroup.c - a wait group may be freed by any waiter once its Wait has
 * returned. Each round: a task waits on a group of count 1; another task,
 * on the other P, calls Done, which releases it; the main task waits too,
 * most often while that release is under way, and frees the group as soon
 * as its Wait returns. A Done still touching the group then writes freed
 * memory (ASan names it) or finds a waiter left on the group's list (the
 * runtime stops the process: "wait group freed with tasks waiting on it").
 *
 * Usage: waitgroup ROUNDS. Prints "ok ROUNDS" and exits 0 once every
 * round's two tasks have ended.
 *
 * Usage: waitgroup negative|overflow|wide. A count that leaves
 * 0..INT32_MAX: a Done with no Add, an Add past INT32_MAX, an Add of 2^32
 * (which the 32-bit counter would take as 0). Each must stop the process
 * with the runtime's message; "survived" on stdout says it did not.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgo.h"

static tgo_wg *group;
static _Atomic int waiting, releasing;
static long rounds;

static void waiter(void *arg)
{
    (void)arg;
    atomic_store(&waiting, 1);
    tgo_wg_wait(group);
}

static void releaser(void *arg)
{
    (void)arg;
    atomic_store(&releasing, 1);
    tgo_wg_done(group);
}

static void spawn_or_die(void (*fn)(void *))
{
    if (tgo_spawn(fn, NULL) != 0) {
        fprintf(stderr, "waitgroup: out of memory spawning a task\n");
        exit(1);
    }
}

static void main_task(void *arg)
{
    (void)arg;
    for (long round = 0; round < rounds; round++) {
        group = tgo_wg_new();
        if (!group) {
            fprintf(stderr, "waitgroup: out of memory for a wait group\n");
            exit(1);
        }
        tgo_wg_add(group, 1);
        atomic_store(&waiting, 0);
        atomic_store(&releasing, 0);
        spawn_or_die(waiter);
        while (!atomic_load(&waiting))
            tgo_yield();
        tgo_yield(); /* the waiter registers and parks meanwhile */
        spawn_or_die(releaser);
        while (!atomic_load(&releasing)) {
            /* spin: the other P takes the releaser */
        }
        tgo_wg_wait(group);
        tgo_wg_free(group);
    }
}

static void misuse_task(void *arg)
{
    const char *how = arg;
    tgo_wg *wg = tgo_wg_new();
    if (!wg) {
        fprintf(stderr, "waitgroup: out of memory for a wait group\n");
        exit(1);
    }
    if (strcmp(how, "negative") == 0) {
        tgo_wg_done(wg);
    } else if (strcmp(how, "overflow") == 0) {
        tgo_wg_add(wg, INT32_MAX);
        tgo_wg_add(wg, 1);
    } else {
        tgo_wg_add(wg, (int64_t)1 << 32);
    }
    printf("survived\n");
    tgo_wg_free(wg);
}

static int misuse(const char *how)
{
    tgo_config cfg = {.procs = 1};
    return tgo_run(&cfg, misuse_task, (void *)how, NULL) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: waitgroup ROUNDS | waitgroup negative|overflow|wide\n");
        return 2;
    }
    if (!strcmp(argv[1], "negative") || !strcmp(argv[1], "overflow") || !strcmp(argv[1], "wide"))
        return misuse(argv[1]);
    rounds = atol(argv[1]);
    tgo_config cfg = {.procs = 2};
    int rc = tgo_run(&cfg, main_task, NULL, NULL);
    if (rc != 0) {
        fprintf(stderr, "waitgroup: tgo_run failed: %d\n", rc);
        return 1;
    }
    printf("ok %ld\n", rounds);
    return 0;
}
