/*
 * sched_gmp.c - the gmp policy: Go's scheduler, as src/runtime/proc.go has
 * it, modelled without sysmon, preemption or GC (the workloads cooperate).
 *
 * Queues
 *   Each P has a 256-slot lock-free ring (runq: monotonic u32 head and
 *   tail; only the owner writes slots and the tail, the owner and thieves
 *   consume from the head by CAS) and a one-task runnext slot. There is one
 *   global queue, a linked list under one lock.
 *
 * Where a task goes (each a function below)
 *   spawn (newproc)   the spawner's runnext; the task there moves to the tail
 *   ready             the waker's runnext (a channel or wait group wake-up)
 *   yield (Gosched)   the global queue
 *   ring full         half the ring (128) plus the task to the global queue
 *   netpoll / timers  injectglist: one per idle P to the global queue, the
 *                     rest to this P's ring
 *   A task taken from runnext inherits the current time slice: schedtick
 *   does not advance, so a ping-pong pair shares one slice, as in Go.
 *   Go's sysmon ends a slice that ran 10 ms (retake): here the slice ends
 *   when the core finds timers or fds overdue (policy_slice_end), or when
 *   a take finds it has run 10 ms (slice_expired).
 *
 * findRunnable, in order
 *   1. every 61st schedtick, one task from the global queue (fairness);
 *   2. runnext, then the local ring;
 *   3. a batch from the global queue (size/procs + 1, at most 128);
 *   4. expired timers and a non-blocking netpoll;
 *   5. stealing, only while 2 * spinning < procs - idle: 4 rounds over all
 *      Ps in a random order with a coprime stride, skipping idle Ps, taking
 *      half of a victim's ring; the last round may also take a victim's
 *      runnext, after a short pause that lets its owner run it first;
 *   6. spin until tgo__spin_ns has passed (shared with tgo), then stop
 *      spinning, rescan everything and park (tgo__idle_park).
 *   Steps 1-3 are tgo__policy_take_local, which the core also calls when a
 *   task leaves the CPU, to switch to the next task directly.
 *   Workers are not pinned to CPUs.
 *
 * The ring, runnext and the global queue are the shared tgo__runq,
 * tgo__runnext and tgo__taskq (runq.c); every rule above is this file's.
 */
#include <stdlib.h>
#include <string.h>

#include "runq.h"

enum {
    RUNQ_SIZE = TGO__RUNQ_SIZE,
    GLOBAL_FAIRNESS_TICKS = 61,
    STEAL_ROUNDS = 4,
    RETAKE_CHECK_SWITCHES = 256, /* a power of two */
};

#define FORCE_PREEMPT_NS 10000000ull /* Go's forcePreemptNS */

typedef struct gmp_p {
    tgo__runq runq;
    tgo__runnext runnext;
    uint64_t seen_tick;       /* sysmon's view of the slice: pd.schedtick */
    uint64_t seen_ns;         /* and when it first saw it: pd.schedwhen */
} gmp_p;

static struct {
    tgo__taskq runq;         /* the global queue (sched.runq) */
    int *coprimes;           /* strides coprime with nprocs, for steal order */
    int ncoprimes;
    int8_t *level;           /* level[i * nprocs + j]: locality of Ps i and j */
} global;

const size_t tgo__policy_p_size = sizeof(gmp_p);

const char *tgo_policy_name(void)
{
    return "gmp";
}

static gmp_p *gp(tgo__p *p)
{
    return p->policy;
}

static void runq_put(tgo__p *p, tgo__task *t, bool next);

/* Go's globrunqget: one task to run, and the rest of the batch (at most
 * size/procs + 1, max if given, half a ring) into p's ring. */
static tgo__task *global_get(tgo__p *p, int max)
{
    int size = tgo__taskq_size(&global.runq);
    if (size == 0)
        return NULL;
    int n = size / tgo__S->nprocs + 1;
    if (max > 0 && n > max)
        n = max;
    if (n > RUNQ_SIZE / 2)
        n = RUNQ_SIZE / 2;
    int taken;
    tgo__task *list = tgo__taskq_take(&global.runq, n, &taken);
    if (!list)
        return NULL;
    p->c.shared_takes += (uint64_t)taken;
    for (tgo__task *t = list->next, *next; t; t = next) {
        next = t->next;
        runq_put(p, t, false);
    }
    return list;
}

/* ---- the local ring (runqput, runqget, runqgrab) -------------------------- */

static void runq_put(tgo__p *p, tgo__task *t, bool next)
{
    if (next) {
        t = tgo__runnext_put(&gp(p)->runnext, t);
        if (!t)
            return;
        /* the previous runnext goes to the tail */
    }
    /* the ring; when it is full, runqputslow: half of it and t to the global queue */
    tgo__runq_put_or_spill(&gp(p)->runq, t, &global.runq, &p->c.shared_puts);
}

/* sysmon's retake, for the slice that lasts here: a runnext chain, a
 * ping-pong that inherits one slice while the ring and the global queue
 * wait. Every RETAKE_CHECK_SWITCHES switches a take reads the clock, as
 * sysmon would have looked: a slice first seen 10 ms ago is over, and its
 * runnext is preempted (policy_slice_end). The other takes pay a load and
 * a test. */
static __attribute__((noinline)) bool slice_expired(tgo__p *p)
{
    gmp_p *q = gp(p);
    uint64_t now = tgo_now_ns();
    if (q->seen_tick != p->schedtick || q->seen_ns == 0) { /* a new slice, or the first */
        q->seen_tick = p->schedtick;
        q->seen_ns = now;
        return false;
    }
    return now - q->seen_ns > FORCE_PREEMPT_NS;
}

static tgo__task *runq_get(tgo__p *p, bool *inherit)
{
    if (TGO__UNLIKELY(p->c.switches % RETAKE_CHECK_SWITCHES == 0) && slice_expired(p))
        tgo__policy_slice_end(p); /* a new slice, from the ring */
    tgo__task *next = tgo__runnext_take(&gp(p)->runnext);
    if (next) {
        *inherit = true;
        return next;
    }
    *inherit = false;
    return tgo__runq_get(&gp(p)->runq);
}

static bool runq_empty(tgo__p *p)
{
    return tgo__runq_len(&gp(p)->runq) == 0 && tgo__runnext_empty(&gp(p)->runnext);
}

/* Half of victim's ring into batch, or, on the last round, its runnext. */
static uint32_t runq_grab(tgo__p *victim, tgo__task **batch, bool steal_runnext)
{
    uint32_t n = tgo__runq_grab(&gp(victim)->runq, batch, RUNQ_SIZE / 2);
    if (n || !steal_runnext)
        return n;
    batch[0] = tgo__runnext_steal(&gp(victim)->runnext, NULL); /* Go's check */
    return batch[0] != NULL;
}

/* Steal into p's own ring; returns one task to run. */
static tgo__task *runq_steal(tgo__p *p, tgo__p *victim, bool steal_runnext)
{
    tgo__task *batch[RUNQ_SIZE / 2];
    uint32_t n = runq_grab(victim, batch, steal_runnext);
    if (n == 0)
        return NULL;
    int level = global.level[p->id * tgo__S->nprocs + victim->id];
    p->c.steals[level] += n;
    for (uint32_t i = 1; i < n; i++)
        runq_put(p, batch[i], false);
    return batch[0];
}

/* ---- stealing (stealWork) ----------------------------------------------- */


static tgo__task *steal_work(tgo__p *p)
{
    int n = tgo__S->nprocs;
    for (int round = 0; round < STEAL_ROUNDS; round++) {
        bool last = round == STEAL_ROUNDS - 1;
        uint64_t r = tgo__rand(p);
        int pos = (int)(r % (uint64_t)n);
        int stride = global.coprimes[(r >> 32) % (uint64_t)global.ncoprimes];
        for (int i = 0; i < n; i++, pos = (pos + stride) % n) {
            if (tgo__shutting_down())
                return NULL;
            if (pos == p->id || tgo__p_idle(pos))
                continue;
            p->c.steal_attempts++;
            tgo__task *t = runq_steal(p, &tgo__S->ps[pos], last);
            if (t)
                return t;
        }
    }
    return NULL;
}

/* ---- the hooks ---------------------------------------------------------- */

static int gcd(int a, int b)
{
    while (b) {
        int t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int tgo__policy_init(tgo__sched *s)
{
    int n = s->nprocs;
    memset(&global, 0, sizeof global);
    global.coprimes = malloc(sizeof(int) * (size_t)n);
    global.level = malloc((size_t)n * (size_t)n);
    if (!global.coprimes || !global.level)
        return -12; /* -ENOMEM */
    for (int i = 1; i <= n; i++)
        if (gcd(i, n) == 1)
            global.coprimes[global.ncoprimes++] = i;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            int l = tgo_topology_level(s->topo, s->ps[i].cpu, s->ps[j].cpu);
            global.level[i * n + j] = (int8_t)(l < 0 ? 0 : l);
        }
    return 0;
}

void tgo__policy_destroy(tgo__sched *s)
{
    (void)s;
    free(global.coprimes);
    free(global.level);
    memset(&global, 0, sizeof global);
}

void tgo__policy_worker_start(tgo__p *p)
{
    (void)p; /* Go does not pin its threads */
}

void tgo__policy_spawn(tgo__p *p, tgo__task *t)
{
    if (!p) {
        runq_put(&tgo__S->ps[0], t, true); /* the main task, before workers start */
        return;
    }
    runq_put(p, t, true);
    tgo__wakep();
}

void tgo__policy_ready(tgo__p *p, tgo__task *t)
{
    runq_put(p, t, true);
    tgo__wakep();
}

/* t onto the global queue, and an idle P woken to take it: Gosched's,
 * injectglist's and a preempted task's way. */
static void put_global(tgo__p *p, tgo__task *t)
{
    p->c.shared_puts++;
    tgo__taskq_put(&global.runq, t);
    tgo__wakep();
}

void tgo__policy_yield(tgo__p *p, tgo__task *t)
{
    put_global(p, t);
}

/* Go's netpoll does not ask where a socket's data came in. */
void tgo__policy_data_arrived(tgo__task *t, int fd, _Atomic uint32_t *memo)
{
    (void)t;
    (void)fd;
    (void)memo;
}

/* Go's injectglist: start one idle P per task, through the global queue;
 * the rest go to this P. */
void tgo__policy_inject(tgo__p *p, tgo__task *list)
{
    int idle = atomic_load(&tgo__S->npidle);
    while (list && idle-- > 0) {
        tgo__task *t = list;
        list = list->next;
        put_global(p, t);
    }
    while (list) {
        tgo__task *t = list;
        list = list->next;
        runq_put(p, t, false);
    }
}

/* sysmon's retake: a slice that ran too long is preempted, and the
 * preempted task goes to the global queue (gopreempt_m). Here the long slice
 * is a runnext chain, a ping-pong inheriting it, which would keep the ring
 * (where injectglist put the woken tasks) waiting for ever; its next task
 * goes to the global queue instead, as it would once preempted. */
void tgo__policy_slice_end(tgo__p *p)
{
    tgo__task *next = tgo__runnext_take(&gp(p)->runnext);
    if (next)
        put_global(p, next);
}

bool tgo__policy_has_work(tgo__p *p)
{
    (void)p;
    if (tgo__taskq_size(&global.runq) > 0)
        return true;
    for (int i = 0; i < tgo__S->nprocs; i++)
        if (!runq_empty(&tgo__S->ps[i]))
            return true;
    return false;
}


static tgo__task *take_io_and_timers(tgo__p *p)
{
    tgo__task *list = tgo__poll_nonblocking(p);
    if (!list)
        return NULL;
    tgo__task *run = list;
    tgo__policy_inject(p, list->next);
    return run;
}

/* findRunnable's first steps: fairness, runnext, the ring, the global queue. */
tgo__task *tgo__policy_take_local(tgo__p *p, bool *inherit)
{
    tgo__task *t = NULL;
    *inherit = false;
    /* the size first, as findRunnable does: a task that inherits its
     * slice leaves schedtick as it is, so this may come up every switch */
    if (p->schedtick % GLOBAL_FAIRNESS_TICKS == 0 && tgo__taskq_size(&global.runq) > 0)
        t = global_get(p, 1);
    if (!t)
        t = runq_get(p, inherit);
    if (!t)
        t = global_get(p, 0);
    return t;
}

tgo__task *tgo__policy_find_runnable(tgo__p *p, bool *inherit)
{
    uint64_t idle_since = 0;
    for (;;) {
        if (tgo__shutting_down())
            return NULL;
        tgo__task *t = tgo__policy_take_local(p, inherit);
        if (!t)
            t = take_io_and_timers(p);
        if (!t && tgo__try_spin(p))
            t = steal_work(p);
        if (t) {
            tgo__found_work(p);
            return t;
        }
        if (tgo__idle_spin(p, &idle_since))
            continue;
        tgo__stop_spinning(p);
        tgo__idle_park(p);
    }
}
