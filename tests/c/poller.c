/*
 * poller.c - a timer or an fd is served while a P is idle, however long
 * the other P computes. Each round the main task starts two tasks on two
 * Ps and waits for both: the computer sleeps SHORT, then computes for BUSY
 * without yielding; the waiter waits for its event, due LONG after the
 * round starts, a little later:
 *
 *   timer  the waiter sleeps LONG;
 *   fd     the waiter reads a socket that a thread outside the runtime
 *          writes LONG after the round starts.
 *
 * Both Ps go idle while both tasks wait: one blocks in the netpoller until
 * the next timer, the other parks on its futex (the poller is taken). The
 * poller wakes for the computer and runs its long computation; the waiter's
 * event then needs another poller. Where nobody hands that part on, the
 * event waits until the busy P next switches, at the end of the
 * computation, while the other P sleeps on: Go's sysmon would start a
 * thread or poll the network, and the runtime has none. A waiter that runs
 * more than LATE after its event, half the computation, counts as late: a
 * wake-up costs tens of microseconds.
 *
 * Usage: poller CASE ROUNDS. Prints "ok CASE ROUNDS" and exits 0 when at
 * most NOISE_ROUNDS rounds were late (a host that stalls a CPU for LATE);
 * otherwise prints how late each late round was on stderr and exits 1.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tgo.h"

enum { MAX_ROUNDS = 1000, NOISE_ROUNDS = 1 };
static const uint64_t SHORT_NS = 1000000, LONG_NS = 2000000, BUSY_NS = 30000000,
                      LATE_NS = 15000000;

static tgo_wg *round_done;
static uint64_t lateness[MAX_ROUNDS];
static int sockets[2];                 /* fd case: the waiter reads [0], the writer writes [1] */
static _Atomic uint64_t written_at;

static noreturn void die(const char *what)
{
    fprintf(stderr, "poller: %s\n", what);
    exit(1);
}

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

static void timer_waiter(void *arg)
{
    uint64_t *late = arg;
    uint64_t deadline = tgo_now_ns() + LONG_NS;
    tgo_sleep_ns(LONG_NS);
    *late = tgo_now_ns() - deadline;
    tgo_wg_done(round_done);
}

static void fd_waiter(void *arg)
{
    uint64_t *late = arg;
    char byte;
    if (tgo_read(sockets[0], &byte, 1) != 1)
        die("the waiter's read failed");
    *late = tgo_now_ns() - atomic_load(&written_at);
    tgo_wg_done(round_done);
}

/* A thread outside the runtime: writes one byte LONG from now. */
static void *writer(void *arg)
{
    (void)arg;
    struct timespec pause = {0, (long)LONG_NS};
    nanosleep(&pause, NULL);
    atomic_store(&written_at, tgo_now_ns());
    if (write(sockets[1], "x", 1) != 1)
        die("the writer's write failed");
    return NULL;
}

static long rounds;
static bool fd_case;

static void run_round(long r)
{
    pthread_t thread;
    tgo_wg_add(round_done, 2);
    if (tgo_spawn(computer, NULL) != 0 ||
        tgo_spawn(fd_case ? fd_waiter : timer_waiter, &lateness[r]) != 0)
        die("out of memory spawning a round's tasks");
    if (fd_case && pthread_create(&thread, NULL, writer, NULL) != 0)
        die("no thread for the writer");
    tgo_wg_wait(round_done);
    if (fd_case)
        pthread_join(thread, NULL);
}

static void main_task(void *arg)
{
    (void)arg;
    long late = 0;
    round_done = tgo_wg_new();
    if (!round_done)
        die("out of memory for the wait group");
    if (fd_case && socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sockets) != 0)
        die("no socket pair");
    for (long r = 0; r < rounds; r++)
        run_round(r);
    tgo_wg_free(round_done);
    for (long r = 0; r < rounds; r++)
        if (lateness[r] > LATE_NS) {
            fprintf(stderr, "poller: round %ld: the waiter ran %.1f ms late\n", r,
                    (double)lateness[r] / 1e6);
            late++;
        }
    if (late > NOISE_ROUNDS) {
        fprintf(stderr, "poller: %ld of %ld rounds late by over %.0f ms\n", late, rounds,
                (double)LATE_NS / 1e6);
        exit(1);
    }
    if (fd_case) {
        tgo_close(sockets[0]);
        tgo_close(sockets[1]);
    }
    printf("ok %s %ld\n", fd_case ? "fd" : "timer", rounds);
}

int main(int argc, char **argv)
{
    rounds = argc == 3 ? strtol(argv[2], NULL, 10) : 0;
    if (rounds < 1 || rounds > MAX_ROUNDS ||
        (strcmp(argv[1], "timer") != 0 && strcmp(argv[1], "fd") != 0)) {
        fprintf(stderr, "usage: poller timer|fd ROUNDS (1 to %d)\n", MAX_ROUNDS);
        return 2;
    }
    fd_case = strcmp(argv[1], "fd") == 0;
    tgo_config cfg = {.procs = 2};
    if (tgo_run(&cfg, main_task, NULL, NULL) != 0)
        die("the runtime did not start");
    return 0;
}
