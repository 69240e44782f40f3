/*
 * sleep.c - a sleep too long to end in this process's life does not end.
 * A task sleeps LONG ns, so long that its deadline, now + LONG, wraps past
 * 2^64; the main task yields for 50 ms and then checks that the sleeper is
 * still asleep. A deadline that wrapped would be long past: the sleeper
 * would have woken within microseconds. The sleeper never ends, so the
 * program ends with _exit.
 *
 * Usage: sleep. Prints "ok" and exits 0 when the sleeper stayed asleep.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "tgo.h"

static const uint64_t LONG = UINT64_MAX - 1000;
static const uint64_t WATCH_NS = 50 * 1000 * 1000;
static _Atomic int woke;

static void sleeper(void *arg)
{
    (void)arg;
    tgo_sleep_ns(LONG);
    atomic_store(&woke, 1);
}

static void main_task(void *arg)
{
    (void)arg;
    if (tgo_spawn(sleeper, NULL) != 0) {
        fprintf(stderr, "sleep: out of memory spawning the sleeper\n");
        _exit(1);
    }
    uint64_t until = tgo_now_ns() + WATCH_NS;
    while (tgo_now_ns() < until && !atomic_load(&woke))
        tgo_yield();
    if (atomic_load(&woke)) {
        fprintf(stderr, "sleep: a sleep of %llu ns ended at once\n", (unsigned long long)LONG);
        _exit(1);
    }
    printf("ok\n");
    fflush(stdout);
    _exit(0);
}

int main(void)
{
    tgo_config cfg = {.procs = 2};
    tgo_run(&cfg, main_task, NULL, NULL);
    fprintf(stderr, "sleep: the runtime ended with the sleeper still asleep\n");
    return 1;
}
