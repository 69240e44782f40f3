/*
 * floors.c - what this machine charges for the few things a scheduler's
 * hot path cannot avoid, each priced alone in a tight loop, so that a
 * runtime's figure can be read against the sum of its parts.
 *
 *   switch    one bare context switch, the runtime's own assembly
 *             (ctx_x86_64.S or ctx_aarch64.S), between two contexts that
 *             switch from one call site, as two tasks do when one hands
 *             the CPU straight to the other: the switch's return goes
 *             where the CPU predicts it
 *   switch_elsewhere
 *             the same switch into a context suspended at another call
 *             site, as between a task and its worker's own stack (g0):
 *             the return is mispredicted
 *   lock      an uncontended spinlock taken and released as the runtime
 *             does (an exchange that acquires, a store that releases)
 *   exchange  an uncontended atomic exchange (gmp's put to runnext)
 *   cas       an uncontended compare-and-swap (a take from a queue that
 *             thieves take from too)
 *   handoff   a lock word handed between two threads pinned to two CPUs:
 *             each handoff moves its cache line to the other CPU, as when
 *             two Ps take turns with gmp's global queue lock (needs two
 *             CPUs in the affinity mask)
 *
 * Every value is nanoseconds per operation. A loop's result is checked
 * (the count every thread saw), so a broken loop is an error, not a figure.
 *
 * Usage: floors; prints one line per floor, "NAME NS" ("handoff -" with
 * one CPU), or a message and exits 1. native.py --floors builds and runs it.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <time.h>

enum { SWITCHES = 20000000, ATOMICS = 50000000, HANDOFFS = 2000000, LINE = 64,
       STACK = 64 * 1024 };

/* The runtime's assembly (runtime.h): only the saved stack pointer. */
typedef struct ctx {
    void *sp;
} ctx;
void tgo__ctx_switch(ctx *from, ctx *to);
void tgo__ctx_make(ctx *c, void *stack_top, void (*entry)(void));

static _Alignas(LINE) _Atomic uint32_t word;
static _Alignas(LINE) _Atomic uint32_t turn;   /* handoff: whose turn, 0 or 1 */
static _Alignas(LINE) uint64_t switched[2];    /* switches made by each side */
static ctx main_ctx, fiber_ctx;

static noreturn void die(const char *what)
{
    fprintf(stderr, "floors: %s\n", what);
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Both sides switch from here, so each switch returns to the call site it
 * left from, as the runtime's tasks do in tgo__mcall. */
__attribute__((noinline)) static void bounce(int side, ctx *self, ctx *other, int n)
{
    for (int i = 0; i < n; i++) {
        switched[side]++;
        tgo__ctx_switch(self, other);
    }
}

static noreturn void fiber_bouncing(void)
{
    bounce(1, &fiber_ctx, &main_ctx, SWITCHES / 2);
    die("the fiber was resumed after its last switch");
}

static noreturn void fiber_elsewhere(void)
{
    for (;;) {
        switched[1]++;
        tgo__ctx_switch(&fiber_ctx, &main_ctx);
    }
}

/* ns per switch between main and a fiber starting at entry; main switches
 * from bounce() when same_site, else from a call site of its own. */
static double price_switch(void (*entry)(void), bool same_site)
{
    char *stack = malloc(STACK);
    if (!stack)
        die("out of memory for the fiber's stack");
    tgo__ctx_make(&fiber_ctx, stack + STACK, entry);
    switched[0] = switched[1] = 0;
    uint64_t t0 = now_ns();
    if (same_site) {
        bounce(0, &main_ctx, &fiber_ctx, SWITCHES / 2);
    } else {
        for (int i = 0; i < SWITCHES / 2; i++) {
            switched[0]++;
            tgo__ctx_switch(&main_ctx, &fiber_ctx);
        }
    }
    uint64_t t1 = now_ns();
    /* the fiber's last switch back is the one main's last resumed from */
    if (switched[0] != SWITCHES / 2 || switched[1] != SWITCHES / 2)
        die("the two contexts did not take turns, one switch each");
    free(stack);
    return (double)(t1 - t0) / SWITCHES;
}

static double price_lock(void)
{
    uint64_t t0 = now_ns();
    for (int i = 0; i < ATOMICS; i++) {
        /* acquire and release, as tgo__spin_lock and tgo__spin_unlock */
        if (atomic_exchange_explicit(&word, 1, memory_order_acquire) != 0)
            die("an uncontended lock was found held");
        atomic_store_explicit(&word, 0, memory_order_release);
    }
    return (double)(now_ns() - t0) / ATOMICS;
}

static double price_exchange(void)
{
    uint64_t t0 = now_ns();
    for (uint32_t i = 0; i < ATOMICS; i++)
        if (atomic_exchange(&word, i + 1) != i)
            die("an exchange read another value than the last one written");
    atomic_store(&word, 0);
    return (double)(now_ns() - t0) / ATOMICS;
}

static double price_cas(void)
{
    uint64_t t0 = now_ns();
    for (uint32_t i = 0; i < ATOMICS; i++) {
        uint32_t seen = i;
        if (!atomic_compare_exchange_strong(&word, &seen, i + 1))
            die("an uncontended compare-and-swap failed");
    }
    uint64_t t1 = now_ns();
    atomic_store(&word, 0);
    return (double)(t1 - t0) / ATOMICS;
}

/* Thread `me` (0 or 1) takes its turns: wait for the word to say it is
 * ours, then hand it over with a locked instruction, as an unlock by the
 * other CPU and a lock here would. */
static void *take_turns(void *arg)
{
    uint32_t me = (uint32_t)(uintptr_t)arg;
    for (int i = 0; i < HANDOFFS; i++) {
        while (atomic_load_explicit(&turn, memory_order_acquire) != me)
            ;
        if (atomic_exchange(&turn, 1 - me) != me)
            die("a handoff found the turn taken from its holder");
    }
    return NULL;
}

static bool pin(pthread_attr_t *attr, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_attr_setaffinity_np(attr, sizeof set, &set) == 0;
}

/* ns per handoff, or a negative value with fewer than two CPUs to pin to. */
static double price_handoff(void)
{
    cpu_set_t allowed;
    int cpus[2], n = 0;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
        die("sched_getaffinity failed");
    for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
        if (CPU_ISSET(c, &allowed))
            cpus[n++] = c;
    if (n < 2)
        return -1;
    pthread_t threads[2];
    pthread_attr_t attrs[2];
    atomic_store(&turn, 0);
    uint64_t t0 = now_ns();
    for (int i = 0; i < 2; i++) {
        if (pthread_attr_init(&attrs[i]) != 0 || !pin(&attrs[i], cpus[i]) ||
            pthread_create(&threads[i], &attrs[i], take_turns, (void *)(uintptr_t)i) != 0)
            die("could not start a thread pinned to its CPU");
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(threads[i], NULL);
        pthread_attr_destroy(&attrs[i]);
    }
    return (double)(now_ns() - t0) / (2.0 * HANDOFFS);
}

int main(void)
{
    printf("switch %.3f\n", price_switch(fiber_bouncing, true));
    printf("switch_elsewhere %.3f\n", price_switch(fiber_elsewhere, false));
    printf("lock %.3f\n", price_lock());
    printf("exchange %.3f\n", price_exchange());
    printf("cas %.3f\n", price_cas());
    double handoff = price_handoff();
    if (handoff < 0)
        printf("handoff -\n");
    else
        printf("handoff %.3f\n", handoff);
    return 0;
}
