/*
 * timer.c - sleeping without blocking the worker.
 *
 * One min-heap of deadlines for the whole runtime, under a spinlock. A P
 * looking for work checks the earliest deadline (one atomic load) and
 * collects the expired tasks; the P blocked in the netpoller sleeps no
 * longer than that deadline, and a new earliest timer breaks it out. While
 * a timer is set and some P is idle, one P is that poller: a new earliest
 * timer wakes an idle P when none polls, and a poller that leaves to run a
 * task wakes another (sched.c, ensure_poller).
 *
 * Rejected: per-P heaps as Go has them. They avoid the lock under heavy
 * timer traffic, at the cost of stealing timers from idle Ps; the workloads
 * here sleep at most a few thousand tasks at once, so one heap is enough.
 */
#include <errno.h>
#include <stdlib.h>

#include "runtime.h"

typedef struct {
    uint64_t when;
    tgo__task *task;
} timer_entry;

static struct {
    tgo__spinlock lock;
    timer_entry *heap;
    size_t n, cap;
    _Atomic uint64_t next; /* earliest deadline, UINT64_MAX when none */
} timers;

int tgo__timers_init(void)
{
    timers.n = 0;
    atomic_store(&timers.next, UINT64_MAX);
    return 0;
}

void tgo__timers_destroy(void)
{
    free(timers.heap);
    timers.heap = NULL;
    timers.n = timers.cap = 0;
}

uint64_t tgo__timers_next(void)
{
    return atomic_load_explicit(&timers.next, memory_order_acquire);
}

static void sift_up(size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (timers.heap[parent].when <= timers.heap[i].when)
            break;
        timer_entry tmp = timers.heap[parent];
        timers.heap[parent] = timers.heap[i];
        timers.heap[i] = tmp;
        i = parent;
    }
}

static void sift_down(size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < timers.n && timers.heap[l].when < timers.heap[m].when)
            m = l;
        if (r < timers.n && timers.heap[r].when < timers.heap[m].when)
            m = r;
        if (m == i)
            return;
        timer_entry tmp = timers.heap[m];
        timers.heap[m] = timers.heap[i];
        timers.heap[i] = tmp;
        i = m;
    }
}

static void publish_next(void)
{
    /* release: a P that sees the deadline finds the entry under the lock */
    atomic_store_explicit(&timers.next, timers.n ? timers.heap[0].when : UINT64_MAX,
                          memory_order_release);
}

tgo__task *tgo__timers_expire(uint64_t now, uint64_t *next_ns)
{
    tgo__task *list = NULL, **tail = &list;
    tgo__spin_lock(&timers.lock);
    while (timers.n && timers.heap[0].when <= now) {
        tgo__task *t = timers.heap[0].task;
        timers.heap[0] = timers.heap[--timers.n];
        sift_down(0);
        t->next = NULL;
        *tail = t;
        tail = &t->next;
    }
    publish_next();
    *next_ns = tgo__timers_next();
    tgo__spin_unlock(&timers.lock);
    return list;
}

/* After the sleeper's context is saved; a new earliest deadline (arg not
 * NULL) then wakes the poller, with the heap already unlocked for it: a
 * syscall under the spinlock would keep every other sleeper spinning. */
static void unlock_timers(void *earliest)
{
    tgo__spin_unlock(&timers.lock);
    if (earliest)
        tgo__timer_added();
}

void tgo_sleep_ns(uint64_t ns)
{
    if (ns == 0) {
        tgo_yield();
        return;
    }
    tgo__task *self = tgo__this_task();
    tgo__assert(self, "tgo_sleep_ns called outside a task");
    uint64_t now = tgo_now_ns();
    /* saturated: a sleep of centuries must not wrap into one that is due
     * (UINT64_MAX means no timer) */
    uint64_t when = ns < UINT64_MAX - 1 - now ? now + ns : UINT64_MAX - 1;
    tgo__spin_lock(&timers.lock);
    if (timers.n == timers.cap) {
        size_t cap = timers.cap ? timers.cap * 2 : 256;
        timer_entry *grown = realloc(timers.heap, cap * sizeof *grown);
        if (!grown)
            tgo__fatal("out of memory for the timer heap (%zu timers)", timers.n);
        timers.heap = grown;
        timers.cap = cap;
    }
    bool earliest = timers.n == 0 || when < timers.heap[0].when;
    timers.heap[timers.n] = (timer_entry){when, self};
    sift_up(timers.n++);
    publish_next();
    tgo__park(unlock_timers, earliest ? &timers : NULL);
}
