/*
 * poller.c - a timer is served while a P is idle, however busy the others.
 * Each round the main task starts two tasks and waits for both: the first
 * sleeps SHORT, then computes for BUSY without yielding; the second sleeps
 * LONG, a little longer. Both Ps go idle while both sleep: one blocks in
 * the netpoller until the next timer, the other parks on its futex (the
 * poller is taken). The poller wakes for the first task and runs its long
 * computation; the second's timer then needs another poller. Where nobody
 * hands that part on, the timer waits until the busy P next switches, at
 * the end of the computation, while the other P sleeps on: Go's sysmon
 * would start a thread for it, and the runtime has none. A second task that
 * wakes more than LATE after its deadline, half the computation, counts as
 * late: a wake-up costs tens of microseconds.
 *
 * Usage: poller ROUNDS. Prints "ok ROUNDS" and exits 0 when at most
 * NOISE_ROUNDS rounds were late (a host that stalls a CPU for LATE);
 * otherwise prints how late each late round woke on stderr and exits 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tgo.h"

enum { MAX_ROUNDS = 1000, NOISE_ROUNDS = 1 };
static const uint64_t SHORT_NS = 1000000, LONG_NS = 2000000, BUSY_NS = 30000000,
                      LATE_NS = 15000000;

static tgo_wg *round_done;
static uint64_t lateness[MAX_ROUNDS];

static void spin_for(uint64_t ns)
{
    uint64_t until = tgo_now_ns() + ns;
    while (tgo_now_ns() < until) {
    }
}

static void computer(void *arg)
{
    (void)arg;
    tgo_sleep_ns(SHORT_NS);
    spin_for(BUSY_NS);
    tgo_wg_done(round_done);
}

static void sleeper(void *arg)
{
    uint64_t *late = arg;
    uint64_t deadline = tgo_now_ns() + LONG_NS;
    tgo_sleep_ns(LONG_NS);
    *late = tgo_now_ns() - deadline;
    tgo_wg_done(round_done);
}

static void main_task(void *arg)
{
    long rounds = (long)(intptr_t)arg, late = 0;
    round_done = tgo_wg_new();
    if (!round_done) {
        fprintf(stderr, "poller: out of memory for the wait group\n");
        exit(1);
    }
    for (long r = 0; r < rounds; r++) {
        tgo_wg_add(round_done, 2);
        if (tgo_spawn(computer, NULL) != 0 || tgo_spawn(sleeper, &lateness[r]) != 0) {
            fprintf(stderr, "poller: out of memory spawning round %ld\n", r);
            exit(1);
        }
        tgo_wg_wait(round_done);
    }
    tgo_wg_free(round_done);
    for (long r = 0; r < rounds; r++)
        if (lateness[r] > LATE_NS) {
            fprintf(stderr, "poller: round %ld: the sleeper woke %.1f ms late\n", r,
                    (double)lateness[r] / 1e6);
            late++;
        }
    if (late > NOISE_ROUNDS) {
        fprintf(stderr, "poller: %ld of %ld rounds late by over %.0f ms\n", late, rounds,
                (double)LATE_NS / 1e6);
        exit(1);
    }
    printf("ok %ld\n", rounds);
}

int main(int argc, char **argv)
{
    long rounds = argc == 2 ? strtol(argv[1], NULL, 10) : 0;
    if (rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: poller ROUNDS (1 to %d)\n", MAX_ROUNDS);
        return 2;
    }
    tgo_config cfg = {.procs = 2};
    if (tgo_run(&cfg, main_task, (void *)(intptr_t)rounds, NULL) != 0) {
        fprintf(stderr, "poller: the runtime did not start\n");
        return 1;
    }
    return 0;
}
