/*
 * wakeup.c - a task queued while the other P goes idle is run there. On two
 * Ps the main task queues a task on its own P, then busy-waits for it to run
 * on the other P, which is going idle at about that moment: each round
 * waits a random 0-20 us first, so that the push falls anywhere in the
 * other P's spin, announcement, rescan and park. The push's wakep and the
 * idle P's rescan each must see the other; where neither does, the idle P
 * sleeps beside the task until the main task's P next switches, and here
 * that is never, so the round would wait for ever. A round that waited a
 * second, thousands of times a wake-up's cost, counts as lost.
 *
 *   yield  the task yields (gmp: onto the global queue, as Gosched; tgo:
 *          onto its P's ring), and the main task, which runs next on that
 *          P, waits for it to run again;
 *   batch  the main task spawns a BATCH-hinted task (tgo: onto its P's
 *          batch ring; gmp: into runnext, as any spawn) and waits for it.
 *
 * Usage: wakeup CASE ROUNDS SEED. Prints "ok CASE ROUNDS" and exits 0 when
 * no round was lost; otherwise names the first lost rounds on stderr and
 * exits 1.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgo.h"

enum { MAX_JITTER_NS = 20000, REPORTED = 5 };
static const uint64_t LOST_AFTER_NS = 1000000000;

static _Atomic long started, finished;
static long rounds, lost;
static bool batch;
static uint64_t rng;

static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void spin_for(uint64_t ns)
{
    uint64_t until = tgo_now_ns() + ns;
    while (tgo_now_ns() < until) {
    }
}

static void yielder(void *arg)
{
    long round = (long)(intptr_t)arg;
    atomic_store(&started, round);
    tgo_yield();
    atomic_store(&finished, round);
}

static void batch_task(void *arg)
{
    atomic_store(&finished, (long)(intptr_t)arg);
}

/* Busy-waits for round's task to finish elsewhere; a second without it is
 * a lost round, after which the task is let run here. */
static void await_elsewhere(long round)
{
    uint64_t t0 = tgo_now_ns();
    while (atomic_load(&finished) != round) {
        if (tgo_now_ns() - t0 < LOST_AFTER_NS)
            continue;
        if (++lost <= REPORTED)
            fprintf(stderr, "round %ld: the queued task did not run on the idle P "
                    "within 1 s\n", round);
        while (atomic_load(&finished) != round)
            tgo_yield();
    }
}

static void spawn_or_die(void (*fn)(void *), long round, tgo_hint hint)
{
    if (tgo_spawn_hint(fn, (void *)(intptr_t)round, hint) != 0) {
        fprintf(stderr, "wakeup: out of memory spawning round %ld's task\n", round);
        exit(1);
    }
}

static void main_task(void *arg)
{
    (void)arg;
    for (long round = 1; round <= rounds; round++) {
        spin_for(next_random() % MAX_JITTER_NS);
        if (batch) {
            spawn_or_die(batch_task, round, TGO_HINT_BATCH);
        } else {
            spawn_or_die(yielder, round, TGO_HINT_NONE);
            while (atomic_load(&started) != round)
                tgo_yield();
        }
        await_elsewhere(round);
    }
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "yield") != 0 && strcmp(argv[1], "batch") != 0)) {
        fprintf(stderr, "usage: wakeup yield|batch ROUNDS SEED\n");
        return 2;
    }
    batch = strcmp(argv[1], "batch") == 0;
    rounds = atol(argv[2]);
    rng = strtoull(argv[3], NULL, 10) | 1; /* xorshift's state must not be 0 */
    tgo_config cfg = {.procs = 2};
    int rc = tgo_run(&cfg, main_task, NULL, NULL);
    if (rc != 0) {
        fprintf(stderr, "wakeup: tgo_run failed: %d\n", rc);
        return 1;
    }
    if (lost) {
        fprintf(stderr, "wakeup %s: %ld of %ld rounds lost\n", argv[1], lost, rounds);
        return 1;
    }
    printf("ok %s %ld\n", argv[1], rounds);
    return 0;
}
