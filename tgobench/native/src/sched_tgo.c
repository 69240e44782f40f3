/*
 * sched_tgo.c - the tgo policy: the design the TGo-Scheduler article
 * describes, made concrete enough to run.
 *
 * The claims it models
 *   - per-P double-ended queues ordered by hint, the network-I/O wakeup at
 *     the head; no global run queue, only a shared fallback pool;
 *   - locality-aware hierarchical stealing: SMT sibling, shared L2, shared
 *     LLC, same NUMA node, then the rest;
 *   - a task that wakes after blocking resumes on its origin P, or on a P of
 *     the same NUMA node when the origin is busy; for a network wakeup the
 *     article names no P ("the target P"): here it is the P of the CPU its
 *     socket's data came in on, where that data is in cache;
 *   - workers pinned to their CPUs (unless TGOBENCH_PIN=0, to measure
 *     what the pinning alone does).
 *
 * The per-P "deque", from the owner's end (head) to the thieves' end:
 *
 *     urgent  | next        | ring          | inbox       | batch
 *     NETIO   | the task    | local tasks   | pushed by   | BATCH-hinted
 *     wakeups | spawned or  | (runq, FIFO)  | other Ps    | tasks
 *             | woken here  |               |             |
 *
 * The owner takes from the left, a thief from the right: a thief first takes
 * throughput work nobody waits for, and latency-sensitive wakeups stay with
 * the owner while anything else is there to take. As in one deque, a thief
 * reaches them when they are all that is left: a burst of I/O wakeups on one
 * P is then shared instead of run one after another while another P idles
 * (open-loop rpc, 2 Ps, workers unpinned: p99 3.5 -> 1.6 ms in a fresh
 * process, whose first milliseconds are such a burst; within noise once
 * warm). next, Go's runnext, is the exception: a thief takes it last of all,
 * after a pause that lets the owner run it.
 *
 * The article's single deque cannot be both pushed at the head by other Ps
 * (return-to-origin wakeups) and stolen from lock-free at the tail without
 * Chase-Lev's subtle fences; this shape gives the same order with simpler
 * parts: the urgent queue and the inbox are locked FIFOs that other Ps push
 * to and any P may take from, and the ring and batch ring are Go's
 * single-producer rings (runq.c).
 *
 * Where a task goes (each a function below)
 *   spawn             the spawner's next, as Go's newproc (the task there
 *                     moves to the ring's tail); BATCH: its batch ring; a
 *                     full ring spills to the pool; from outside the
 *                     runtime (the first task): the pool
 *   yield             the yielder's ring tail (there is no global queue)
 *   ready             a task with no hint whose origin is the waker's P:
 *                     that P's next (the task there moves to the ring's
 *                     tail); else origin_target(): the origin P unless it
 *                     is busy, then a P of the same node; a wakeup of the
 *                     netpoller goes to that P's urgent queue; others to
 *                     its ring, a BATCH task to its batch ring, when it is
 *                     the waker's P, else to its inbox
 *   data arrived      a reader of a TCP socket: its origin becomes the P
 *                     pinned to the CPU its data came in on (same node
 *                     only), and its ready stays there even when busy
 *   netpoll / timers  each task as a ready, with I/O wakeups as NETIO
 *
 * Why the data's CPU: a loopback echo on two CPUs costs twice the CPU time
 * per request when a connection's two ends run on different CPUs (every
 * socket buffer then crosses between caches): benchmarks/bare_echo.c, 64
 * connections, clients and servers in two threads, 289k requests/s; each
 * thread with both ends of its own connections, 583k. On loopback the data
 * comes in on the writer's CPU, so following it puts both ends on one P;
 * over a network it is the CPU that took the packets, as receive flow
 * steering does from the kernel's side.
 *
 * findRunnable, in order
 *   1. urgent, next, ring, inbox, batch of this P (tgo__policy_take_local,
 *      which the core also calls when a task leaves the CPU); every 61st
 *      slice first one task of the inbox, else the ring, and on every
 *      fourth such turn of the batch ring, or of the pool once no idle P
 *      has read it for 10 ms (take_fairly), so that none can starve while
 *      this P is kept busy, as gmp's turn reads its global queue; once
 *      urgent tasks held every turn for 10 ms, the turn comes before them;
 *   2. expired timers and a non-blocking netpoll;
 *   3. stealing by level: for each locality level in turn, the Ps of that
 *      level in random order (batch ring, ring, inbox, urgent), skipping
 *      idle Ps; the spinning limit is gmp's (half the busy Ps), and a
 *      running P's next is taken only after the pause gmp gives a runnext,
 *      so that the two policies differ only in what the article claims;
 *   4. the shared pool, last (gmp reads its global queue before it
 *      steals): so a thief takes from a ring what gmp would take from the
 *      spill, 2% of fib's tasks stolen against gmp's 0.01%; read first,
 *      tgo stole 0.01% too, in the same time per task;
 *   5. spin until tgo__spin_ns has passed, then park (shared with gmp).
 *
 * Why next: the article upgrades Go's local queue, and of its parts names
 * only the global queue as removed, so Go's runnext stays, for what Go
 * puts there: a new task, and a task that a running one wakes. Without it
 * (fresh drivers, interleaved, median of each one's best loop):
 *   - each wakeup of a ping-pong went through the ring (a slot, the tail,
 *     then the head written, where next is one word), and tgo's chan
 *     trailed gmp's: 53 -> 49 ns a round trip on one P, 58 -> 52 on two;
 *   - new tasks went to the ring's tail, and a fork-join tree ran breadth
 *     first, more of it alive, thieves taking the frontier's small tasks:
 *     fib 25 on two Ps 156 -> 119 ns a task, peak RSS 57 -> 36 MiB, 5.5%
 *     -> 2.3% of tasks stolen; spawn-tree 43 -> 35 ns. A spawn costs 9
 *     instructions more (spawn 1M: 35 -> 39 ns a task).
 *
 * Rejected: a Chase-Lev deque per P (remote pushes at the owner's end
 * would need a lock anyway); a global queue under another name (the pool is
 * read only when everything else failed).
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "runq.h"

enum { HALF_RING = TGO__RUNQ_SIZE / 2, FAIRNESS_TICKS = 61, DATA_ASK_EVERY = 16 };

typedef struct tgo_p {
    tgo__taskq urgent;        /* NETIO wakeups */
    tgo__runq ring;           /* local tasks; owner pushes, anyone takes */
    tgo__taskq inbox;         /* tasks other Ps made runnable here */
    tgo__runq batch;          /* BATCH-hinted tasks, stolen first */
    uint64_t urgent_since;    /* since when every fairness turn found urgent tasks */
    /* the task a task running here spawned or woke here; a ping-pong
     * writes it twice a round trip, so on a line of its own */
    _Alignas(64) tgo__runnext next;
    _Atomic uint32_t next_puts; /* the owner's puts into next, for thieves */
} tgo_p;

/* How long work may wait behind a busy P's other queues before a fairness
 * turn reaches it: see take_fairly. */
#define FAIR_WAIT_NS 10000000ull

static struct {
    tgo__taskq pool;          /* the shared fallback pool */
    _Atomic uint64_t pool_read_ns; /* when an idle P last took from it */
    int **by_level;           /* by_level[p * LEVELS + l]: the Ps at level l from p */
    int *count;               /* count[p * LEVELS + l] */
    int *node_of_p;
    int *p_of_cpu;            /* the P pinned to each CPU, or -1 */
    int ncpus;                /* entries of p_of_cpu */
} shared;

const size_t tgo__policy_p_size = sizeof(tgo_p);

const char *tgo_policy_name(void)
{
    return "tgo";
}

static tgo_p *tp(tgo__p *p)
{
    return p->policy;
}

/* ---- queueing ----------------------------------------------------------- */

/* A task from p onto p's own queues; a full ring spills half to the pool. */
static void push_local(tgo__p *p, tgo__task *t)
{
    tgo__runq *q = t->hint == TGO_HINT_BATCH ? &tp(p)->batch : &tp(p)->ring;
    tgo__runq_put_or_spill(q, t, &shared.pool, &p->c.shared_puts);
}

/* push_local, then the full fence that makes the task visible to a P going
 * idle before the wakep that follows reads whether one is (sched.c: why no
 * wakeup is lost). A put into next needs none: its exchange is one, and a
 * task it displaces to the ring comes after it. */
static void push_local_fenced(tgo__p *p, tgo__task *t)
{
    push_local(p, t);
    atomic_thread_fence(memory_order_seq_cst);
}

/* A task from p onto target's queues (target may be p), fenced: the locked
 * queues publish their size with a seq_cst store. */
static void push_to(tgo__p *p, tgo__p *target, tgo__task *t, bool urgent)
{
    if (urgent)
        tgo__taskq_put(&tp(target)->urgent, t);
    else if (target == p)
        push_local_fenced(p, t);
    else
        tgo__taskq_put(&tp(target)->inbox, t);
}

static uint32_t queued(tgo__p *p)
{
    tgo_p *q = tp(p);
    return (uint32_t)tgo__taskq_size(&q->urgent) + !tgo__runnext_empty(&q->next) +
           tgo__runq_len(&q->ring) + (uint32_t)tgo__taskq_size(&q->inbox) +
           tgo__runq_len(&q->batch);
}


/* Busy: running a task with others already waiting behind it. */
static bool busy(tgo__p *p)
{
    return !tgo__p_idle(p->id) && queued(p) > 0;
}

/* The origin rule's first case: a task that never ran, or last ran on the
 * waker's own P, is readied there. */
static bool origin_is_waker(const tgo__p *p, const tgo__task *t)
{
    return t->origin_p < 0 || t->origin_p == p->id;
}

/* A network wakeup, or a task hinted NETIO: it goes to the head (urgent). */
static bool urgent_wakeup(const tgo__task *t)
{
    return t->io_wakeup || t->hint == TGO_HINT_NETIO;
}

/* Return-to-origin: the origin P, or, when it is busy, a P of its node:
 * the waker's own if it is on that node, else an idle one there. A reader
 * whose origin is where its data came in (tgo__policy_data_arrived) is not
 * moved off a busy origin: a thief still takes it if that P falls behind. */
static tgo__p *origin_target(tgo__p *p, tgo__task *t)
{
    tgo__sched *s = tgo__S;
    if (origin_is_waker(p, t))
        return p;
    tgo__p *origin = &s->ps[t->origin_p];
    if (t->at_data || !busy(origin))
        return origin;
    int node = shared.node_of_p[origin->id];
    if (shared.node_of_p[p->id] == node)
        return p;
    for (int i = 0; i < s->nprocs; i++)
        if (shared.node_of_p[i] == node && tgo__p_idle(i))
            return &s->ps[i];
    return origin;
}

/* Out of line: see make_ready. */
static __attribute__((noinline)) void ready_elsewhere(tgo__p *p, tgo__task *t)
{
    bool urgent = urgent_wakeup(t);
    tgo__p *target = origin_target(p, t);
    t->io_wakeup = t->at_data = 0;
    push_to(p, target, t, urgent);
    if (target == p || !tgo__wake_p(target->id))
        tgo__wakep();
}

/* A task into p's next, counted: a thief that saw the same task there
 * before and after its pause then knows whether it was taken and put back
 * meanwhile (a ping-pong's wake-ups alternate its two tasks there). Go's
 * check cannot tell, and parts the two: gmp's next wake-up joins them
 * again, tgo's return-to-origin would keep them apart. Returns the task
 * displaced. */
static inline tgo__task *put_next(tgo_p *q, tgo__task *t)
{
    tgo__task *displaced = tgo__runnext_put(&q->next, t);
    uint32_t puts = atomic_load_explicit(&q->next_puts, memory_order_relaxed);
    atomic_store_explicit(&q->next_puts, puts + 1, memory_order_relaxed);
    return displaced;
}

/* t onto p's own queues, into next when into_next (the task there moves
 * to the ring's tail), and an idle P woken to share them. */
static inline void put_here(tgo__p *p, tgo__task *t, bool into_next)
{
    if (!into_next)
        push_local_fenced(p, t);
    else if ((t = put_next(tp(p), t)))
        push_local(p, t); /* after the exchange into next, a full fence */
    tgo__wakep();
}

/* The common wakeup, a task with no hint whose origin is the waker's P
 * (every one of a ping-pong): by a running task, into the waker's next, the
 * task it displaces to the ring; readied in a list (timers), onto the ring,
 * in the list's order. Hinted tasks take the general path, which is out of
 * line, so that this one inlines into tgo__ready with no frame of its own:
 * a NETIO one goes to the urgent queue, and a BATCH one never to next, which
 * the owner runs first and a thief takes last. */
static inline void make_ready(tgo__p *p, tgo__task *t, bool by_task)
{
    if (TGO__UNLIKELY(urgent_wakeup(t) || t->hint == TGO_HINT_BATCH ||
                      !origin_is_waker(p, t))) {
        ready_elsewhere(p, t);
        return;
    }
    t->at_data = 0;
    put_here(p, t, by_task);
}

/* ---- taking work -------------------------------------------------------- */

/* Up to max tasks of a locked queue: the first to run, the rest into p's
 * ring (a full ring spills to the pool). *taken says how many. */
static tgo__task *take_inbox(tgo__p *p, tgo__taskq *inbox, uint64_t max, int *taken)
{
    tgo__task *list = tgo__taskq_take(inbox, (int)max, taken);
    if (!list)
        return NULL;
    for (tgo__task *t = list->next, *next; t; t = next) {
        next = t->next;
        push_local(p, t);
    }
    return list;
}

/* A fair share of the pool, at most max: the batch gmp takes from its
 * global queue (Go's globrunqget), so that the two policies move work
 * through their shared queue at the same grain. */
static tgo__task *take_pool(tgo__p *p, int max)
{
    int size = tgo__taskq_size(&shared.pool);
    if (size == 0)
        return NULL;
    int want = size / tgo__S->nprocs + 1, taken;
    tgo__task *t = take_inbox(p, &shared.pool, (uint64_t)(want < max ? want : max), &taken);
    p->c.shared_takes += (uint64_t)taken;
    return t;
}

/* The pool's fair share for a P that found nothing else (findRunnable's
 * last step), with the time, which take_fairly reads. */
static tgo__task *take_pool_when_idle(tgo__p *p)
{
    tgo__task *t = take_pool(p, HALF_RING);
    if (t)
        atomic_store_explicit(&shared.pool_read_ns, tgo_now_ns(), memory_order_relaxed);
    return t;
}

/* Nobody has read the pool for FAIR_WAIT_NS, and tasks wait there. */
static bool pool_waited(void)
{
    return tgo__taskq_size(&shared.pool) > 0 &&
           tgo_now_ns() - atomic_load_explicit(&shared.pool_read_ns, memory_order_relaxed) >
               FAIR_WAIT_NS;
}

/* Every fairness turn for FAIR_WAIT_NS has found tasks in the urgent
 * queue: NETIO work, which is taken first, has held this P so long. */
static bool urgent_held(tgo_p *q)
{
    if (tgo__taskq_size(&q->urgent) == 0) {
        q->urgent_since = 0;
        return false;
    }
    uint64_t now = tgo_now_ns();
    if (q->urgent_since == 0)
        q->urgent_since = now;
    return now - q->urgent_since > FAIR_WAIT_NS;
}

/* A fairness turn, every 61st slice: a task that waits behind next, so
 * that none waits for ever however busy the others keep this P (a
 * ping-pong through next, a ring that never empties as two tasks yield in
 * turn). Every fourth turn reads the pool, but only once no idle P has
 * read it for 10 ms (Go's sysmon preempts after as long), and every
 * fourth the batch ring; the others, or those with nothing there, the
 * inbox's first task, else the ring's, else next's (for a turn that comes
 * ahead of the urgent queue: take_local_in_order). gmp's turn reads its
 * global queue whenever it holds a task; reading the pool so, or on every
 * fourth turn, ran fib's tree broader on one P: 113 -> 168 and 119 -> 140
 * ns a task (interleaved fresh drivers). With the 10 ms rule fib (n=25,
 * one P) never takes that turn: its pool takes and switches equal the old
 * rule's. */
static tgo__task *take_fairly(tgo__p *p)
{
    tgo_p *q = tp(p);
    int taken;
    tgo__task *t = NULL;
    switch (p->schedtick / FAIRNESS_TICKS % 4) {
    case 1:
        if (pool_waited())
            t = take_pool(p, 1);
        break;
    case 3:
        t = tgo__runq_get(&q->batch);
        break;
    }
    if (!t)
        t = take_inbox(p, &q->inbox, 1, &taken);
    if (!t)
        t = tgo__runq_get(&q->ring);
    if (!t)
        t = tgo__runnext_take(&q->next);
    return t;
}

/* Out of line: see tgo__policy_take_local. The fairness turn comes after
 * the urgent queue, which the article puts first, unless urgent tasks held
 * every turn for 10 ms: a ping-pong between two NETIO tasks would hold
 * this P for ever, and rpc's 1,000 connections held it for hundreds of
 * milliseconds while half their clients waited, not yet started, in the
 * ring and the pool. */
static __attribute__((noinline)) tgo__task *take_local_in_order(tgo__p *p)
{
    tgo_p *q = tp(p);
    int taken;
    bool fair_turn = p->schedtick % FAIRNESS_TICKS == 0;
    bool fair_first = fair_turn && urgent_held(q);
    tgo__task *t = fair_first ? take_fairly(p) : NULL;
    if (!t)
        t = tgo__taskq_take(&q->urgent, 1, &taken);
    if (!t && fair_turn && !fair_first)
        t = take_fairly(p);
    if (!t)
        t = tgo__runnext_take(&q->next);
    if (!t)
        t = tgo__runq_get(&q->ring);
    if (!t)
        t = take_inbox(p, &q->inbox, HALF_RING, &taken);
    if (!t)
        t = tgo__runq_get(&q->batch);
    return t;
}

/* The common case first, small enough to inline into tgo__mcall: nothing
 * urgent, not the fairness turn, and a task in next or the ring, which the
 * full order would take next anyway. */
tgo__task *tgo__policy_take_local(tgo__p *p, bool *inherit)
{
    tgo_p *q = tp(p);
    *inherit = false; /* every task starts a new slice, next's too */
    if (TGO__LIKELY(tgo__taskq_size(&q->urgent) == 0 &&
                    p->schedtick % FAIRNESS_TICKS != 0)) {
        tgo__task *t = tgo__runnext_take(&q->next);
        if (!t)
            t = tgo__runq_get(&q->ring);
        if (t)
            return t;
    }
    return take_local_in_order(p);
}

/* Half of one of victim's queues, from the thieves' end (batch ring, ring,
 * inbox, urgent), else its next after a pause; *n: how many. */
static tgo__task *steal_from(tgo__p *p, tgo__p *victim, uint32_t *n_stolen)
{
    tgo__task *batch[HALF_RING];
    tgo_p *v = tp(victim);
    *n_stolen = 0;
    uint32_t n = tgo__runq_grab(&v->batch, batch, HALF_RING);
    if (!n)
        n = tgo__runq_grab(&v->ring, batch, HALF_RING);
    if (!n) {
        tgo__taskq *q = tgo__taskq_size(&v->inbox) ? &v->inbox : &v->urgent;
        int size = tgo__taskq_size(q), taken = 0;
        tgo__task *t = size ? take_inbox(p, q, (uint64_t)(size - size / 2), &taken) : NULL;
        if (!t) {
            t = tgo__runnext_steal(&v->next, &v->next_puts);
            taken = t != NULL;
        }
        *n_stolen = (uint32_t)taken;
        return t;
    }
    for (uint32_t i = 1; i < n; i++)
        push_local(p, batch[i]);
    *n_stolen = n;
    return batch[0];
}

static tgo__task *steal_work(tgo__p *p)
{
    for (int level = 0; level < TGO_STEAL_LEVELS; level++) {
        int idx = p->id * TGO_STEAL_LEVELS + level;
        int n = shared.count[idx];
        if (n == 0)
            continue;
        const int *ps = shared.by_level[idx];
        int start = (int)(tgo__rand(p) % (uint64_t)n);
        for (int i = 0; i < n; i++) {
            int v = ps[(start + i) % n];
            if (tgo__p_idle(v) || tgo__shutting_down())
                continue;
            p->c.steal_attempts++;
            uint32_t n;
            tgo__task *t = steal_from(p, &tgo__S->ps[v], &n);
            if (t) {
                p->c.steals[level] += n;
                return t;
            }
        }
    }
    return NULL;
}

/* ---- the hooks ---------------------------------------------------------- */

/* p_of_cpu: each CPU's P (the first, when several share one). */
static int map_cpus(tgo__sched *s)
{
    for (int i = 0; i < s->nprocs; i++)
        if (s->ps[i].cpu >= shared.ncpus)
            shared.ncpus = s->ps[i].cpu + 1;
    shared.p_of_cpu = malloc(sizeof(int) * (size_t)shared.ncpus);
    if (!shared.p_of_cpu)
        return -1;
    for (int c = 0; c < shared.ncpus; c++)
        shared.p_of_cpu[c] = -1;
    for (int i = s->nprocs - 1; i >= 0; i--)
        shared.p_of_cpu[s->ps[i].cpu] = i;
    return 0;
}

static int build_levels(tgo__sched *s)
{
    int n = s->nprocs;
    shared.by_level = calloc((size_t)n * TGO_STEAL_LEVELS, sizeof(int *));
    shared.count = calloc((size_t)n * TGO_STEAL_LEVELS, sizeof(int));
    shared.node_of_p = calloc((size_t)n, sizeof(int));
    if (!shared.by_level || !shared.count || !shared.node_of_p)
        return -1;
    for (int i = 0; i < n; i++) {
        shared.node_of_p[i] = tgo_topology_node_of(s->topo, s->ps[i].cpu);
        for (int l = 0; l < TGO_STEAL_LEVELS; l++)
            if (!(shared.by_level[i * TGO_STEAL_LEVELS + l] = malloc(sizeof(int) * (size_t)n)))
                return -1;
        for (int j = 0; j < n; j++) {
            if (j == i)
                continue;
            int l = tgo_topology_level(s->topo, s->ps[i].cpu, s->ps[j].cpu);
            if (l < 0)
                l = 0; /* two Ps on one CPU: as close as it gets */
            int idx = i * TGO_STEAL_LEVELS + l;
            shared.by_level[idx][shared.count[idx]++] = j;
        }
    }
    return 0;
}

int tgo__policy_init(tgo__sched *s)
{
    memset(&shared, 0, sizeof shared);
    if (build_levels(s) != 0 || map_cpus(s) != 0)
        return -12; /* -ENOMEM */
    return 0;
}

void tgo__policy_destroy(tgo__sched *s)
{
    for (int i = 0; i < s->nprocs && shared.by_level; i++)
        for (int l = 0; l < TGO_STEAL_LEVELS; l++)
            free(shared.by_level[i * TGO_STEAL_LEVELS + l]);
    free(shared.by_level);
    free(shared.count);
    free(shared.node_of_p);
    free(shared.p_of_cpu);
    memset(&shared, 0, sizeof shared);
}

void tgo__policy_worker_start(tgo__p *p)
{
    if (!tgo__pin_workers)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(p->cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set); /* best effort */
}

void tgo__policy_spawn(tgo__p *p, tgo__task *t)
{
    if (!p) {
        tgo__taskq_put(&shared.pool, t); /* from outside the runtime: the pool */
        return;
    }
    put_here(p, t, t->hint != TGO_HINT_BATCH);
}

void tgo__policy_ready(tgo__p *p, tgo__task *t)
{
    make_ready(p, t, true);
}

void tgo__policy_yield(tgo__p *p, tgo__task *t)
{
    push_local_fenced(p, t);
    tgo__wakep();
}

/* The P pinned to the CPU the kernel names for fd's incoming data
 * (SO_INCOMING_CPU: where its receive path last ran, the sender's own CPU
 * on loopback), or -1. */
static int data_p(int fd)
{
    int cpu = -1;
    socklen_t len = sizeof cpu;
    if (getsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, &cpu, &len) != 0 || cpu < 0 ||
        cpu >= shared.ncpus)
        return -1;
    return shared.p_of_cpu[cpu];
}

/* Data for t came in on data_p(fd): t's origin becomes that P, if it is on
 * the origin's node, so that t reads the data where it is in cache. The
 * kernel is asked once in DATA_ASK_EVERY wake-ups of the fd, its answer
 * kept in memo (P + 1, and the wake-ups left before the next ask, << 16):
 * a system call on every wake-up cost a tenth of rpc's throughput on one
 * P, and where a socket's data comes in rarely changes. Unpinned, a P's CPU
 * is only nominal, and the origin stays; so on one P. */
void tgo__policy_data_arrived(tgo__task *t, int fd, _Atomic uint32_t *memo)
{
    if (!tgo__pin_workers || t->origin_p < 0 || tgo__S->nprocs == 1)
        return;
    uint32_t m = atomic_load_explicit(memo, memory_order_relaxed);
    if (m >> 16 == 0)
        m = (uint32_t)(data_p(fd) + 1) | (uint32_t)(DATA_ASK_EVERY - 1) << 16;
    else
        m -= 1u << 16;
    atomic_store_explicit(memo, m, memory_order_relaxed);
    int p = (int)(m & 0xffff) - 1;
    if (p >= 0 && shared.node_of_p[p] == shared.node_of_p[t->origin_p]) {
        t->origin_p = (int16_t)p;
        t->at_data = 1;
    }
}

void tgo__policy_inject(tgo__p *p, tgo__task *list)
{
    while (list) {
        tgo__task *t = list;
        list = list->next;
        make_ready(p, t, false);
    }
}

/* Nothing to end: no task inherits a slice; what inject readied is in an
 * urgent queue (first), or a ring, batch ring or inbox that take_local
 * reaches ahead of next at least every 4 * FAIRNESS_TICKS slices. */
void tgo__policy_slice_end(tgo__p *p)
{
    (void)p;
}

bool tgo__policy_has_work(tgo__p *p)
{
    (void)p;
    if (tgo__taskq_size(&shared.pool) > 0)
        return true;
    for (int i = 0; i < tgo__S->nprocs; i++)
        if (queued(&tgo__S->ps[i]) > 0)
            return true;
    return false;
}


tgo__task *tgo__policy_find_runnable(tgo__p *p, bool *inherit)
{
    uint64_t idle_since = 0;
    for (;;) {
        if (tgo__shutting_down())
            return NULL;
        tgo__task *t = tgo__policy_take_local(p, inherit);
        if (!t) {
            tgo__task *list = tgo__poll_nonblocking(p);
            if (list) {
                tgo__policy_inject(p, list);
                continue;
            }
        }
        if (!t && tgo__try_spin(p))
            t = steal_work(p);
        if (!t)
            t = take_pool_when_idle(p);
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
