/*
 * thread_fail.c - tgo_run when a worker thread cannot be created. Linked
 * with -Wl,--wrap=pthread_create, so that the Nth creation of a run fails
 * with EAGAIN as it does when the process is out of threads or memory.
 *
 * A run must start all its Ps or none: the main task must not run on
 * fewer Ps than were asked for, since whatever it measured would be
 * reported as an error anyway, and tasks placed on a P without a thread
 * could wait forever. So a run whose Nth creation fails returns -EAGAIN
 * without having called main_fn, and the next run, with every creation
 * succeeding, runs to its end on all its Ps.
 *
 * Where the build bounds the tasks alive at once (ThreadSanitizer), a last
 * run holds that many: a failed run must also give back its main task's
 * place, which it took without running it.
 *
 * Usage: thread_fail PROCS. For each N of 1..PROCS, one run that fails at
 * the Nth creation, then one that does not. Prints "ok PROCS" and exits 0.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "tgo.h"

enum { TASKS = 2000 };   /* within the tasks a ThreadSanitizer build may have alive */

int __real_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                          void *(*start)(void *), void *arg);

static _Atomic int creations, fail_at;   /* fail_at 0: every creation succeeds */
static _Atomic long main_calls, tasks_run;

int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                          void *(*start)(void *), void *arg)
{
    if (atomic_fetch_add(&creations, 1) + 1 == atomic_load(&fail_at))
        return EAGAIN;
    return __real_pthread_create(thread, attr, start, arg);
}

static void counted_task(void *arg)
{
    tgo_yield();
    atomic_fetch_add(&tasks_run, 1);
    tgo_wg_done(arg);
}

static tgo_wg *wg_new_or_die(void)
{
    tgo_wg *wg = tgo_wg_new();
    if (!wg) {
        fprintf(stderr, "thread_fail: out of memory for a wait group\n");
        exit(1);
    }
    return wg;
}

/* spawns work that spreads over every P that has a thread */
static void main_task(void *arg)
{
    (void)arg;
    atomic_fetch_add(&main_calls, 1);
    tgo_wg *wg = wg_new_or_die();
    tgo_wg_add(wg, TASKS);
    for (int i = 0; i < TASKS; i++) {
        if (tgo_spawn(counted_task, wg) != 0) {
            fprintf(stderr, "thread_fail: out of memory spawning a task\n");
            exit(1);
        }
    }
    tgo_wg_wait(wg);
    tgo_wg_free(wg);
}

static void held_task(void *arg)
{
    tgo_wg **groups = arg; /* the gate, then the group of the held tasks */
    tgo_wg_wait(groups[0]);
    tgo_wg_done(groups[1]);
}

/* as many tasks alive at once as the build allows: the main task and
 * tgo_max_live_tasks() - 1 held at a gate until the last is spawned */
static void hold_every_task(void *arg)
{
    (void)arg;
    uint64_t held = tgo_max_live_tasks() - 1;
    tgo_wg *groups[2] = {wg_new_or_die(), wg_new_or_die()};
    tgo_wg_add(groups[0], 1);
    tgo_wg_add(groups[1], (int64_t)held);
    for (uint64_t i = 0; i < held; i++) {
        if (tgo_spawn(held_task, groups) != 0) {
            fprintf(stderr, "thread_fail: task %llu of the %llu the build allows besides the "
                    "main task could not be spawned: a failed run kept its place\n",
                    (unsigned long long)i + 1, (unsigned long long)held);
            exit(1);
        }
    }
    tgo_wg_done(groups[0]);
    tgo_wg_wait(groups[1]);
    tgo_wg_free(groups[0]);
    tgo_wg_free(groups[1]);
}

static int run(int procs, int fail)
{
    atomic_store(&creations, 0);
    atomic_store(&fail_at, fail);
    atomic_store(&main_calls, 0);
    atomic_store(&tasks_run, 0);
    tgo_config cfg = {.procs = procs};
    return tgo_run(&cfg, main_task, NULL, NULL);
}

static void expect(int procs, int fail, int rc, long calls, long tasks)
{
    if (rc == (fail ? -EAGAIN : 0) && calls == (fail ? 0 : 1) && tasks == (fail ? 0 : TASKS))
        return;
    fprintf(stderr, "thread_fail: procs=%d, creation %d failing: tgo_run returned %d, "
            "main ran %ld times and %ld of %d tasks ran; expected %d, %d and %d\n",
            procs, fail, rc, calls, tasks, TASKS, fail ? -EAGAIN : 0, fail ? 0 : 1,
            fail ? 0 : TASKS);
    exit(1);
}

int main(int argc, char **argv)
{
    int procs = argc > 1 ? atoi(argv[1]) : 0;
    if (procs < 1 || procs > TGO_MAX_PROCS) {
        fprintf(stderr, "usage: thread_fail PROCS (1..%d)\n", TGO_MAX_PROCS);
        return 2;
    }
    for (int fail = 1; fail <= procs; fail++) {
        int rc = run(procs, fail);
        expect(procs, fail, rc, atomic_load(&main_calls), atomic_load(&tasks_run));
        if (atomic_load(&creations) != fail) {
            fprintf(stderr, "thread_fail: procs=%d: %d thread creations, where creation %d "
                    "failed and none should follow it\n", procs, atomic_load(&creations), fail);
            return 1;
        }
        rc = run(procs, 0);
        expect(procs, 0, rc, atomic_load(&main_calls), atomic_load(&tasks_run));
    }
    if (tgo_max_live_tasks() != UINT64_MAX) {
        tgo_config cfg = {.procs = procs};
        if (tgo_run(&cfg, hold_every_task, NULL, NULL) != 0) {
            fprintf(stderr, "thread_fail: the run holding every task failed to start\n");
            return 1;
        }
    }
    printf("ok %d\n", procs);
    return 0;
}
