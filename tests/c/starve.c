/*
 * starve.c - a runnable task runs while every P has work of its own. Most
 * cases keep every P busy with tasks that never block until a task that
 * waits for a timer, or for a socket, has been woken. A case's first word
 * says what keeps them busy: yield loops (yield), a channel ping-pong that
 * never leaves one P's queues (chan), or the same ping-pong between two
 * NETIO-hinted tasks (netio), which tgo readies ahead of other work. Its
 * second word says what must run meanwhile:
 *
 *   sleep    the main task sleeps 2 ms, then stops the busy tasks;
 *   read     a task reads a socket; the main task writes to it, then busy
 *            tasks spin until the reader has its byte;
 *   spill    the main task spawns SPILLED tasks without yielding, more
 *            than its P's ring holds, so that some go to the shared queue;
 *            the last of them to run stops the busy tasks;
 *   batch    the main task spawns a BATCH-hinted task, which stops them;
 *   woken-batch  a BATCH-hinted task waits on a channel before the busy
 *            tasks start; the main task wakes it, and it stops them.
 *
 * One case, for two Ps or more, keeps a woken task's own P busy instead:
 *
 *   wake-spin  the main task spawns a task that waits on a channel on the
 *              main task's P, wakes it there, where it is to run next
 *              (runnext), and spins until it has run, ROUNDS times: another
 *              P has to take it from there.
 *
 * Usage: starve PROCS CASE (yield, chan or netio, then -sleep, -read,
 * -spill, -batch or -woken-batch; or wake-spin). A timer or an fd served
 * only when a P runs out of work never wakes its task here, nor does a P
 * take what another is about to run, nor does a shared queue or a queue of
 * BATCH work served only then get to run, nor other work while NETIO work
 * is always ready, and the run hangs: the test's timeout is the check.
 * Prints "ok CASE" and exits 0 once every task finished.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tgo.h"

enum { ROUNDS = 100, SPILLED = 300 /* more than a ring's 256 slots */ };

static _Atomic int stop;
static tgo_chan *ping_ch, *pong_ch, *wake_ch;
static int sockets[2];
static _Atomic int woken_runs, spilled_runs;

static void yielder(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop))
        tgo_yield();
}

static void pinger(void *arg)
{
    (void)arg;
    char c = 0;
    while (!atomic_load(&stop)) {
        tgo_chan_send(ping_ch, &c);
        tgo_chan_recv(pong_ch, &c);
    }
    tgo_chan_close(ping_ch);
}

static void ponger(void *arg)
{
    (void)arg;
    char c;
    while (tgo_chan_recv(ping_ch, &c) == 0)
        tgo_chan_send(pong_ch, &c);
}

static void spilled(void *arg)
{
    (void)arg;
    if (atomic_fetch_add(&spilled_runs, 1) + 1 == SPILLED)
        atomic_store(&stop, 1);
}

/* The batch cases' BATCH task: first waits on its channel, if given one. */
static void batch_stopper(void *arg)
{
    tgo_chan *ch = arg;
    char c;
    if (ch && tgo_chan_recv(ch, &c) != 0) {
        fprintf(stderr, "starve: the BATCH task's channel was closed\n");
        exit(1);
    }
    atomic_store(&stop, 1);
}

static void reader(void *arg)
{
    (void)arg;
    char c = 0;
    if (tgo_read(sockets[1], &c, 1) != 1 || c != 'x') {
        fprintf(stderr, "starve: the reader got no 'x'\n");
        exit(1);
    }
    atomic_store(&stop, 1);
}

static void spawn_or_die(tgo_fn fn, void *arg, tgo_hint hint)
{
    if (tgo_spawn_hint(fn, arg, hint) != 0) {
        fprintf(stderr, "starve: out of memory spawning a task\n");
        exit(1);
    }
}

/* wake-spin's woken task: waits once, on the P it first ran on. */
static void woken(void *arg)
{
    (void)arg;
    char c;
    if (tgo_chan_recv(pong_ch, &c) != 0) {
        fprintf(stderr, "starve: the woken task's channel was closed\n");
        exit(1);
    }
    atomic_fetch_add(&woken_runs, 1);
}

static void wake_and_spin(void)
{
    pong_ch = tgo_chan_new(1, 0);
    char c = 0;
    for (int r = 1; r <= ROUNDS; r++) {
        spawn_or_die(woken, NULL, TGO_HINT_NONE);
        tgo_yield(); /* it runs on this P first, and waits there */
        tgo_chan_send(pong_ch, &c);
        while (atomic_load(&woken_runs) < r) {
        }
    }
}

/* What keeps every P busy: a case's first word. */
typedef enum { BUSY_YIELD, BUSY_CHAN, BUSY_NETIO } busy_kind;

static void keep_every_p_busy(busy_kind busy)
{
    bool chan = busy != BUSY_YIELD;
    if (chan) {
        tgo_hint hint = busy == BUSY_NETIO ? TGO_HINT_NETIO : TGO_HINT_NONE;
        ping_ch = tgo_chan_new(1, 0);
        pong_ch = tgo_chan_new(1, 0);
        spawn_or_die(pinger, NULL, hint);
        spawn_or_die(ponger, NULL, hint);
    }
    /* two a P: its ring never empties as one yields */
    for (int i = chan ? 2 : 0; i < 2 * tgo_procs(); i++)
        spawn_or_die(yielder, NULL, TGO_HINT_NONE);
}

/* The batch cases: a BATCH task, spawned or woken while every P is busy,
 * stops the busy tasks. */
static void run_batch_after_busy(busy_kind busy, bool woken)
{
    wake_ch = woken ? tgo_chan_new(1, 0) : NULL;
    if (woken) {
        spawn_or_die(batch_stopper, wake_ch, TGO_HINT_BATCH);
        tgo_sleep_ns(1000000); /* it runs first, and waits on wake_ch */
    }
    keep_every_p_busy(busy);
    if (woken) {
        char c = 0;
        tgo_chan_send(wake_ch, &c);
    } else {
        spawn_or_die(batch_stopper, NULL, TGO_HINT_BATCH);
    }
}

static void main_task(void *arg)
{
    const char *which = arg;
    busy_kind busy = strncmp(which, "chan", 4) == 0    ? BUSY_CHAN
                     : strncmp(which, "netio", 5) == 0 ? BUSY_NETIO
                                                       : BUSY_YIELD;
    if (strcmp(which, "wake-spin") == 0) {
        wake_and_spin();
        return;
    }
    if (strstr(which, "-spill")) {
        keep_every_p_busy(busy);
        for (int i = 0; i < SPILLED; i++)
            spawn_or_die(spilled, NULL, TGO_HINT_NONE);
        return;
    }
    if (strstr(which, "-batch")) {
        run_batch_after_busy(busy, strstr(which, "-woken-batch") != NULL);
        return;
    }
    if (strstr(which, "-sleep")) {
        keep_every_p_busy(busy);
        tgo_sleep_ns(2000000);
        atomic_store(&stop, 1);
        return;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sockets) != 0) {
        perror("starve: socketpair");
        exit(1);
    }
    spawn_or_die(reader, NULL, TGO_HINT_NONE);
    tgo_sleep_ns(1000000); /* the reader parks on its fd first */
    keep_every_p_busy(busy);
    if (tgo_write(sockets[0], "x", 1) != 1) {
        fprintf(stderr, "starve: write failed\n");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr,
                "usage: starve PROCS yield|chan|netio-sleep|read|spill|batch|woken-batch\n"
                "       starve PROCS wake-spin\n");
        return 2;
    }
    tgo_config cfg = {.procs = atoi(argv[1])};
    int rc = tgo_run(&cfg, main_task, argv[2], NULL);
    if (rc != 0) {
        fprintf(stderr, "starve: tgo_run failed: %d\n", rc);
        return 1;
    }
    if (strstr(argv[2], "-read")) {
        close(sockets[0]);
        close(sockets[1]);
    }
    tgo_chan *channels[] = {ping_ch, pong_ch, wake_ch};
    for (size_t i = 0; i < sizeof channels / sizeof channels[0]; i++)
        if (channels[i])
            tgo_chan_free(channels[i]);
    printf("ok %s\n", argv[2]);
    return 0;
}
