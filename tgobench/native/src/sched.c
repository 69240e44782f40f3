/*
 * sched.c - the scheduler's shared core: everything both policies use.
 *
 * Tasks, Ps and g0 are described in runtime.h. This file owns the life of a
 * runtime (tgo_run), the worker loop, the task life cycle (spawn, run, park,
 * ready, yield, exit), and the idle-worker protocol. What it deliberately
 * does not decide is policy: which queue a new, woken or yielding task goes
 * to, in what order an idle P looks for work, and who may spin. Those are the
 * tgo__policy_* hooks, implemented once in sched_gmp.c and once in
 * sched_tgo.c, so that a measured difference between the drivers is the
 * policy's.
 *
 * The worker loop runs on the worker thread's own stack (g0):
 *
 *     for (;;) { t = find_runnable(p); if (!t) break; execute(p, t); }
 *
 * A task leaves the CPU only through tgo__mcall(): it saves its context,
 * switches away, and whoever runs next on that P carries out the requested
 * action (park: release the lock of what it waits on; yield: requeue it;
 * exit: free it). The order is the point: a task becomes visible to another
 * P only after its registers are saved, so no thief can resume a stack that
 * is still in use. Whoever runs next is g0, or, when the policy's local
 * queues (tgo__policy_take_local) hold a task, that task directly: one
 * switch instead of two, as in a ping-pong or a yield among local tasks.
 * Only that local take runs on the leaving task's stack; stealing, polling
 * and parking stay on g0. Overdue timers and an fd nobody polled for 10 ms
 * send the leaving task's P through g0 too, where they are served before
 * any local work (poll_overdue).
 *
 * Idle workers, and why no wakeup is lost
 * ----------------------------------------
 * A P with nothing to do first spins (looks again, within tgo__spin_ns),
 * then parks on its futex word park_seq. A cross-core futex wake-up costs
 * tens of microseconds on small VMs, so spinning briefly pays for itself
 * whenever work arrives soon, and parking is what keeps an idle machine idle.
 * A timer due within that window is waited for spinning too, by one idle P
 * at a time: a sleep of a few microseconds in epoll came back up to
 * milliseconds late here.
 *
 *   producer:  publish the task ; full fence ; load npidle/idle_mask
 *   idle P:    read park_seq ; npidle++ ; set its idle bit (seq_cst) ;
 *              rescan queues ; futex_wait(park_seq, old value)
 *
 * The producer's fence is often part of its put: an exchange into runnext,
 * or a locked queue's size stored seq_cst. A task displaced from runnext
 * to the ring comes after that exchange, and the rescan sees runnext taken
 * or the ring's new tail. Without a fence the put could still sit in the
 * store buffer when the producer read "no P idle", the idle P's rescan miss
 * it, and that P sleep beside the task until the producer's P next
 * switched: under tgo, 71 of 3.2 million rounds like those of
 * tests/c/wakeup.c were lost so.
 *
 * Either the producer sees the idle bit and wakes the P (clearing the bit
 * and bumping park_seq, which makes a late futex_wait return at once), or
 * the P's rescan sees the task. The P blocked in epoll (the one netpoll
 * waiter) is woken through the netpoller's eventfd instead; it announces
 * parked=2 before re-reading park_seq and the waker bumps park_seq before
 * reading parked, so one of the two sees the other.
 *
 * Timers and fds need that poller: the other idle Ps park on their
 * futexes, with no timeout. While a timer is set or a task waits on an fd
 * and a P is idle, one P must sleep in epoll, or the timer or fd waits for
 * a busy P's next switch (gmp lost 28 ms so in every round of
 * tests/c/poller.c). So a new earliest timer wakes an idle P when none is
 * polling (Go's wakeNetPoller), and a poller that leaves to run a task,
 * or a non-blocking poll that held the poller while a P went to park,
 * wakes another while either is pending (the part Go's sysmon plays).
 *
 * Spinning follows Go: at most one P is woken to look for work while
 * another already looks (nspinning), and a spinner that finds work wakes
 * the next one, so a burst of new tasks fans out one P at a time.
 *
 * Start: the workers wait at a gate until every thread exists, so a run
 * whose thread creation fails runs nothing; on fewer Ps it would measure
 * another machine, to be reported as an error anyway.
 *
 * Termination: each P counts the tasks it created and the tasks that
 * finished on it. A P about to park checks whether the sums are equal
 * (finished read before created); if so no task exists and none can be
 * created, and the runtime shuts down.
 *
 * Rejected: a single atomic count of live tasks (one cache line bouncing on
 * every spawn and exit); a sysmon thread (workloads cooperate; no
 * preemption is modelled); running all of the scheduler on task stacks
 * (stealing needs more stack than a 2 KiB task has, and a parked worker
 * would pin a task's stack).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"
#include "san.h"

_Static_assert(offsetof(tgo__task, ctx) == 0, "the assembly expects ctx first in a task");
_Static_assert(offsetof(tgo__ctx, sp) == 0, "the assembly stores sp at offset 0 of tgo__ctx");

tgo__sched *tgo__S;
enum { SPIN_NS_DEFAULT = 20 * 1000 };
uint64_t tgo__spin_ns = SPIN_NS_DEFAULT;
uint64_t tgo__slow_switch_ns;
bool tgo__pin_workers = true;

/* initial-exec: the runtime is linked into executables only, and
 * tgo__this_p reads it at a fixed offset from the thread pointer;
 * externally_visible keeps the name that read spells out under LTO */
__thread tgo__p *tgo__this_p_tls
    __attribute__((tls_model("initial-exec"), externally_visible, used));

enum { LAT_SAMPLE_MASK = 63, SIGSTACK_SIZE = 64 * 1024, IDLE_BACKOFF_PAUSES = 32,
       SPINS_BEFORE_YIELD = 1000, POLL_CHECK_SWITCHES = 32 };

/* Go's sysmon polls a network that nobody has polled for 10 ms. */
#define NETPOLL_STARVE_NS 10000000ull

/* ---- errors, time, randomness, locks ----------------------------------- */

noreturn void tgo__fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tgo runtime: fatal: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

uint64_t tgo_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t tgo__rand(tgo__p *p)
{
    uint64_t x = p->rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    p->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Spin a while, then give the CPU away: a lock holder preempted on this
 * CPU (more Ps than CPUs, pinned) runs only if the spinner steps aside. */
static void spin_wait(unsigned *spins)
{
    if (++*spins < SPINS_BEFORE_YIELD)
        cpu_relax();
    else
        sched_yield();
}

/* Out of line: the waiting loop, with its counter and its sched_yield call,
 * would give every caller of an uncontended lock a stack frame. */
static __attribute__((noinline)) void spin_lock_contended(tgo__spinlock *l)
{
    unsigned spins = 0;
    do {
        while (atomic_load_explicit(&l->locked, memory_order_relaxed))
            spin_wait(&spins);
    } while (atomic_exchange_explicit(&l->locked, 1, memory_order_acquire));
}

void tgo__spin_lock(tgo__spinlock *l)
{
    /* acquire: the critical section starts after we own the lock */
    if (TGO__UNLIKELY(atomic_exchange_explicit(&l->locked, 1, memory_order_acquire)))
        spin_lock_contended(l);
}

void tgo__spin_until_u32(_Atomic uint32_t *word, uint32_t value)
{
    unsigned spins = 0;
    while (atomic_load_explicit(word, memory_order_acquire) < value)
        spin_wait(&spins);
}

void tgo__spin_while_u64(_Atomic uint64_t *word, uint64_t value)
{
    unsigned spins = 0;
    while (atomic_load_explicit(word, memory_order_acquire) == value)
        spin_wait(&spins);
}

void tgo__spin_unlock(tgo__spinlock *l)
{
    /* release: the critical section's writes are visible to the next owner */
    atomic_store_explicit(&l->locked, 0, memory_order_release);
}

static void futex_wait(_Atomic uint32_t *word, uint32_t old)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, old, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word, int waiters)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, waiters, NULL, NULL, 0);
}

void *tgo__alloc_lines(size_t size)
{
    void *mem = NULL;
    if (posix_memalign(&mem, TGO__CACHE_LINE, size ? size : 1) != 0)
        return NULL;
    memset(mem, 0, size);
    return mem;
}

/* ---- the running P and task -------------------------------------------- */

__attribute__((noinline)) tgo__p *tgo__this_p_call(void)
{
    return tgo__this_p_tls;
}

tgo__task *tgo__this_task(void)
{
    tgo__p *p = tgo__this_p();
    return p ? p->cur : NULL;
}

/* Out of line, so that errno's address is looked up on the worker running
 * the caller now (see tgo.h). */
int tgo_errno(void)
{
    return errno;
}

int tgo_current_p(void)
{
    tgo__p *p = tgo__this_p();
    return p ? p->id : -1;
}

int tgo_procs(void)
{
    return tgo__S ? tgo__S->nprocs : 0;
}

int tgo_affinity_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 1;
    int n = CPU_COUNT(&set);
    return n > 0 ? n : 1;
}

/* ---- task life cycle ---------------------------------------------------- */

/* Every state transition is made by the task's one current owner: the P
 * running it, the P that took it from a queue, or the waker that removed it
 * from a wait queue (under that queue's lock, or by CAS on a netpoll slot).
 * So a checked plain store suffices, and a locked instruction, which would
 * cost more than the rest of a switch, is not needed; a task queued twice or
 * woken twice still trips the check. */
static void own_state(tgo__task *t, int from, int to, const char *what)
{
    int now = atomic_load_explicit(&t->state, memory_order_relaxed);
    if (TGO__UNLIKELY(now != from))
        tgo__fatal("%s: task %p is in state %d, expected %d (queued or woken twice?)", what,
                   (void *)t, now, from);
    /* release: publish the task's fields with its new state */
    atomic_store_explicit(&t->state, to, memory_order_release);
}

void tgo__mark_runnable(tgo__p *p, tgo__task *t)
{
    t->lat_sampled = p && ((++p->lat_tick & LAT_SAMPLE_MASK) == 0);
    if (t->lat_sampled)
        t->ready_ns = tgo_now_ns();
}

static void count_started(tgo__p *p)
{
    /* owner-only counter; release: a reader that sees it sees the task */
    uint64_t n = atomic_load_explicit(&p->n_started, memory_order_relaxed);
    atomic_store_explicit(&p->n_started, n + 1, memory_order_release);
}

#ifdef TGO__MAX_LIVE_TASKS
static _Atomic int64_t live_tasks; /* spawned and not yet exited (see san.h) */

static bool live_task_take(void)
{
    if (atomic_fetch_add(&live_tasks, 1) < TGO__MAX_LIVE_TASKS)
        return true;
    atomic_fetch_sub(&live_tasks, 1);
    return false;
}

static void live_task_put(void)
{
    atomic_fetch_sub(&live_tasks, 1);
}

uint64_t tgo_max_live_tasks(void)
{
    return TGO__MAX_LIVE_TASKS;
}
#else
static bool live_task_take(void)
{
    return true;
}

static void live_task_put(void)
{
}

uint64_t tgo_max_live_tasks(void)
{
    return UINT64_MAX;
}
#endif

static tgo__task *task_new(tgo__p *p, tgo_fn fn, void *arg, tgo_hint hint)
{
    if (!live_task_take())
        return NULL;
    tgo__task *t = tgo__task_alloc(p);
    if (!t) {
        live_task_put();
        return NULL;
    }
    memset(t, 0, sizeof *t);
    t->fn = fn;
    t->arg = arg;
    t->hint = (uint8_t)hint;
    t->origin_p = p->id;
    atomic_store_explicit(&t->state, TGO__T_RUNNABLE, memory_order_relaxed);
    count_started(p);
    p->c.tasks_spawned++;
    return t;
}

int tgo_spawn_hint(tgo_fn fn, void *arg, tgo_hint hint)
{
    tgo__p *p = tgo__this_p();
    tgo__assert(p && p->cur, "tgo_spawn called outside a task");
    tgo__task *t = task_new(p, fn, arg, hint);
    if (!t)
        return -ENOMEM;
    tgo__mark_runnable(p, t);
    tgo__policy_spawn(p, t);
    return 0;
}

int tgo_spawn(tgo_fn fn, void *arg)
{
    return tgo_spawn_hint(fn, arg, TGO_HINT_NONE);
}

static void task_exit_after_switch(tgo__p *p, tgo__task *t, void *unused);

static size_t stack_bytes(const tgo__task *t)
{
    return t->own_stack ? TGO_STACK_DEFAULT : tgo__stack_usable();
}

/* Run the action of the task that last left this P (p->prev), now that its
 * context is saved: on g0, or on the stack of the task it switched to. */
static void finish_switch(tgo__p *p)
{
    tgo__after_fn after = p->after;
    if (!after)
        return;
    p->after = NULL;
    tgo__stack_check(p->prev);
    after(p, p->prev, p->after_arg);
}

/* Leave task t, running on p, for the context `to` whose stack is
 * [lo, lo+size); returns when t is resumed, maybe on another worker, so p
 * must be looked up anew. */
static void switch_from(tgo__p *p, tgo__task *t, bool exiting, tgo__ctx *to, const void *lo,
                        size_t size, void *fiber)
{
    (void)exiting, (void)lo, (void)size, (void)fiber; /* used by sanitizer builds only */
    t->saved_errno = *p->errno_at;
    /* an exiting task's fake stack is dropped: it never resumes */
    tgo__san_start_switch(exiting ? NULL : &t->san_fake_stack, lo, size);
    tgo__tsan_switch(fiber);
    tgo__ctx_switch(&t->ctx, to);
    tgo__san_finish_switch(t->san_fake_stack);
    p = tgo__this_p(); /* maybe another worker's: t may have moved */
    finish_switch(p);
    *p->errno_at = t->saved_errno;
}

static inline void begin_run(tgo__p *p, tgo__task *t, bool inherit_slice);

/* Timers and the netpoller come before local work when they are overdue, as
 * Go's schedule() checks timers first and sysmon polls a network nobody has
 * polled for 10 ms: a P whose tasks never block (a yield loop, a ping-pong
 * kept in its own queues) would otherwise starve every sleeper and reader,
 * for ever on one P. The clock is read every POLL_CHECK_SWITCHES switches,
 * and only while a timer is set or a task waits on an fd, so that a switch
 * among tasks that do neither costs two loads. */
static bool poll_overdue(tgo__p *p)
{
    uint64_t next = tgo__timers_next();
    bool io = tgo__netpoll_active();
    if (next == UINT64_MAX && !io)
        return false;
    if (++p->poll_tick % POLL_CHECK_SWITCHES != 0)
        return false;
    uint64_t now = tgo_now_ns();
    return next <= now || (io && now > tgo__netpoll_last_ns() + NETPOLL_STARVE_NS);
}

/* On g0, before p looks for work: what poll_overdue found, to the policy. */
static void serve_overdue(tgo__p *p)
{
    p->poll_overdue = false;
    tgo__task *list = tgo__poll_nonblocking(p);
    if (list) {
        tgo__policy_inject(p, list);
        tgo__policy_slice_end(p);
    }
}

/* Go's mcall, with a shortcut: when p's own queues hold a task, switch to it
 * directly and let it run fn first, instead of going through g0 (one switch
 * instead of two). Only the policy's local take runs on the leaving task's
 * stack, nothing that steals, polls or blocks; an overflowed stack always
 * goes to g0, whose large stack reports it. */
void tgo__mcall(tgo__after_fn fn, void *arg)
{
    tgo__p *p = tgo__this_p();
    tgo__task *t = p->cur;
    tgo__assert(t, "mcall outside a task");
    p->after = fn;
    p->after_arg = arg;
    p->prev = t;
    bool exiting = fn == task_exit_after_switch, inherit = false;
    p->poll_overdue = p->poll_overdue || poll_overdue(p); /* served on g0 */
    tgo__task *next = tgo__stack_intact(t) && !p->poll_overdue
                          ? tgo__policy_take_local(p, &inherit) : NULL;
    if (!next) {
        switch_from(p, t, exiting, &p->g0, p->g0_stack_lo, p->g0_stack_size, p->san_fiber);
        return;
    }
    begin_run(p, next, inherit);
    switch_from(p, t, exiting, &next->ctx, next->stack_lo, stack_bytes(next),
                tgo__task_san_fiber(next));
}

noreturn static void task_entry(void)
{
    tgo__san_finish_switch(NULL);
    tgo__p *p = tgo__this_p();
    finish_switch(p);
    tgo__task *t = p->cur; /* p stays ours until t leaves the CPU */
    t->fn(t->arg);
    tgo__mcall(task_exit_after_switch, NULL);
    tgo__fatal("an exited task was resumed");
}

static void task_exit_after_switch(tgo__p *p, tgo__task *t, void *unused)
{
    (void)unused;
    own_state(t, TGO__T_RUNNING, TGO__T_DEAD, "exit");
    tgo__san_unpoison(t->stack_lo, stack_bytes(t));
    if (t->own_stack)
        tgo__main_stack_put(t->stack_lo);
    else
        tgo__stack_put(p, t->stack_lo);
    if (tgo__task_san_fiber(t))
        tgo__tsan_destroy(tgo__task_san_fiber(t));
    tgo__task_free(p, t);
    live_task_put();
    p->c.tasks_run++;
    uint64_t n = atomic_load_explicit(&p->n_finished, memory_order_relaxed);
    /* release: the quiescence check reads finished before created */
    atomic_store_explicit(&p->n_finished, n + 1, memory_order_release);
}

struct park_args {
    void (*unlock)(void *);
    void *arg;
};

static void park_after_switch(tgo__p *p, tgo__task *t, void *arg)
{
    (void)p;
    struct park_args *a = arg; /* lives on t's stack, which is parked, not freed */
    own_state(t, TGO__T_RUNNING, TGO__T_WAITING, "park");
    if (a->unlock)
        a->unlock(a->arg);
}

void tgo__park(void (*unlock)(void *arg), void *arg)
{
    struct park_args a = {unlock, arg};
    tgo__mcall(park_after_switch, &a);
}

void tgo__ready(tgo__task *t)
{
    tgo__p *p = tgo__this_p();
    own_state(t, TGO__T_WAITING, TGO__T_RUNNABLE, "ready");
    tgo__mark_runnable(p, t);
    tgo__policy_ready(p, t);
}

static void yield_after_switch(tgo__p *p, tgo__task *t, void *unused)
{
    (void)unused;
    own_state(t, TGO__T_RUNNING, TGO__T_RUNNABLE, "yield");
    tgo__mark_runnable(p, t);
    tgo__policy_yield(p, t);
}

void tgo_yield(void)
{
    tgo__mcall(yield_after_switch, NULL);
}

/* Tasks handed over by the netpoller or timers were WAITING. */
tgo__task *tgo__readied_list(tgo__p *p, tgo__task *list, uint64_t *counter)
{
    for (tgo__task *t = list; t; t = t->next) {
        own_state(t, TGO__T_WAITING, TGO__T_RUNNABLE, "netpoll/timer ready");
        tgo__mark_runnable(p, t);
        (*counter)++;
    }
    return list;
}

/* ---- running a task ------------------------------------------------------ */

void tgo__pause_ns(uint64_t ns)
{
    uint64_t until = tgo_now_ns() + ns;
    while (tgo_now_ns() < until)
        cpu_relax();
}

/* The cold parts of begin_run, out of line so that it inlines small. */
static __attribute__((noinline, cold)) void first_run_setup(tgo__p *p, tgo__task *t)
{
    t->stack_lo = t->own_stack ? tgo__main_stack_get() : tgo__stack_get(p);
    if (!t->stack_lo)
        tgo__fatal("out of memory for a task stack of %zu bytes on P%d", tgo__S->stack_size, p->id);
    tgo__ctx_make(&t->ctx, t->stack_lo + stack_bytes(t), task_entry);
    tgo__task_san_set_fiber(t, tgo__tsan_create());
}

static __attribute__((noinline, cold)) void record_sched_latency(tgo__p *p, tgo__task *t)
{
    tgo_hist_record(p->sched_lat, tgo_now_ns() - t->ready_ns);
    t->lat_sampled = 0;
}

/* Make t p's running task; the switch into it follows (from g0 or from the
 * task leaving the CPU). Inlined into both: it is on every switch. */
static inline __attribute__((always_inline)) void begin_run(tgo__p *p, tgo__task *t,
                                                            bool inherit_slice)
{
    if (TGO__UNLIKELY(!t->stack_lo))
        first_run_setup(p, t);
    if (!inherit_slice)
        p->schedtick++;
    if (TGO__UNLIKELY(t->lat_sampled))
        record_sched_latency(p, t);
    own_state(t, TGO__T_RUNNABLE, TGO__T_RUNNING, "execute");
    t->origin_p = p->id;
    p->cur = t;
    p->c.switches++;
    if (TGO__UNLIKELY(tgo__slow_switch_ns))
        tgo__pause_ns(tgo__slow_switch_ns);
}

/* On g0: run t until a task (t, or one t switched to directly) comes back
 * to g0, then carry out what that task asked for. */
static void execute(tgo__p *p, tgo__task *t, bool inherit_slice)
{
    begin_run(p, t, inherit_slice);
    tgo__san_start_switch(&p->san_fake_stack, t->stack_lo, stack_bytes(t));
    tgo__tsan_switch(tgo__task_san_fiber(t));
    tgo__ctx_switch(&p->g0, &t->ctx);
    tgo__san_finish_switch(p->san_fake_stack);

    p->cur = NULL;
    tgo__assert(p->after, "task on P%d switched to g0 without an action", p->id);
    finish_switch(p);
}

/* ---- idle workers: spinning, parking, waking ---------------------------- */

static bool idle_bit_clear(int id)
{
    uint64_t bit = 1ull << (id % 64);
    uint64_t old = atomic_fetch_and(&tgo__S->idle_mask[id / 64], ~bit);
    if (!(old & bit))
        return false;
    atomic_fetch_sub(&tgo__S->npidle, 1);
    return true;
}

static int take_idle(int prefer)
{
    tgo__sched *s = tgo__S;
    if (prefer >= 0 && idle_bit_clear(prefer))
        return prefer;
    for (int w = 0; w * 64 < s->nprocs; w++) {
        uint64_t m;
        while ((m = atomic_load(&s->idle_mask[w])) != 0) {
            int id = w * 64 + __builtin_ctzll(m);
            if (idle_bit_clear(id))
                return id;
        }
    }
    return -1;
}

static void unpark(int id)
{
    tgo__p *target = &tgo__S->ps[id];
    atomic_fetch_add(&target->park_seq, 1); /* seq_cst: before reading parked */
    int how = atomic_load(&target->parked);
    if (how == 2)
        tgo__netpoll_break();
    else if (how == 1)
        futex_wake(&target->park_seq, 1);
    tgo__p *self = tgo__this_p();
    if (self)
        self->c.wakeups++;
}

void tgo__wakep(void)
{
    tgo__sched *s = tgo__S;
    /* No fence here: the caller's put ended with one (above: why no
     * wakeup is lost). A fence here cost tgo's yield 55% and gmp's chan
     * 18%, where a chan wake-up's exchange into runnext already is one. */
    if (atomic_load(&s->npidle) == 0 || atomic_load(&s->nspinning) != 0)
        return;
    int zero = 0;
    if (!atomic_compare_exchange_strong(&s->nspinning, &zero, 1))
        return;
    int id = take_idle(-1);
    if (id < 0) {
        atomic_fetch_sub(&s->nspinning, 1);
        return;
    }
    /* Counted in nspinning above, unless the P, which may be in its rescan
     * with its bit already cleared, made itself a spinner meanwhile and
     * counted itself: one count per set flag, or nspinning stays above 0
     * and no wakep wakes anyone again. */
    if (atomic_exchange(&s->ps[id].spinning, true))
        atomic_fetch_sub(&s->nspinning, 1);
    unpark(id);
}

bool tgo__wake_p(int id)
{
    /* The task went to id's own queues, which no one else takes from while
     * id is idle: the read of its idle state must not pass the push, whose
     * full fence (a locked queue's seq_cst size) keeps it after. The pair to
     * idle_park's seq_cst announcement (npidle, then its idle bit) before
     * its rescan. */
    if (atomic_load(&tgo__S->npidle) == 0 || !idle_bit_clear(id))
        return false;
    unpark(id);
    return true;
}

bool tgo__p_idle(int id)
{
    return atomic_load_explicit(&tgo__S->idle_mask[id / 64], memory_order_relaxed) &
           (1ull << (id % 64));
}

bool tgo__try_spin(tgo__p *p)
{
    if (atomic_load_explicit(&p->spinning, memory_order_relaxed))
        return true;
    /* proc.go: spinners at most half the busy Ps, so that idle Ps do not
     * burn the CPUs the busy ones need */
    int busy = tgo__S->nprocs - atomic_load(&tgo__S->npidle);
    if (2 * atomic_load(&tgo__S->nspinning) >= busy)
        return false;
    /* by exchange, as wakep sets it: a flag a waker set meanwhile is counted */
    if (!atomic_exchange(&p->spinning, true))
        atomic_fetch_add(&tgo__S->nspinning, 1);
    return true;
}

void tgo__stop_spinning(tgo__p *p)
{
    if (!atomic_load_explicit(&p->spinning, memory_order_relaxed))
        return;
    if (atomic_exchange(&p->spinning, false))
        atomic_fetch_sub(&tgo__S->nspinning, 1); /* seq_cst: the caller rescans after */
}

/* Whether p goes on spinning for a timer due within the spin window: a
 * sleep that short in the kernel saves nothing, and on a VM the CPU it
 * idles may be woken milliseconds after its timeout. One P at a time, so
 * that a stream of near timers does not keep every idle P spinning. */
static bool wait_for_timer(tgo__p *p, uint64_t now)
{
    uint64_t next = tgo__timers_next();
    if (next == UINT64_MAX || next > now + tgo__spin_ns)
        return false;
    int none = 0;
    /* relaxed: who waits is a hint that only decides spinning or parking;
     * any P that looks finds the timer due and expires it */
    return atomic_load_explicit(&tgo__S->timer_waiter, memory_order_relaxed) == p->id + 1 ||
           atomic_compare_exchange_strong(&tgo__S->timer_waiter, &none, p->id + 1);
}

static void stop_waiting_for_timer(tgo__p *p)
{
    /* relaxed: as above; only the waiter itself clears its own mark */
    if (atomic_load_explicit(&tgo__S->timer_waiter, memory_order_relaxed) == p->id + 1)
        atomic_store_explicit(&tgo__S->timer_waiter, 0, memory_order_relaxed);
}

/* With a timer set or a task waiting on an fd, and no P blocked in the
 * netpoller, an idle P (futex-parked, having found the poller taken) is
 * woken to become that poller. Without it the timer or the fd waits until
 * a busy P next switches: Go's sysmon would start an M for a timer, or
 * poll the network after 10 ms, and there is no sysmon here. */
static void ensure_poller(void)
{
    if ((tgo__timers_next() != UINT64_MAX || tgo__netpoll_active()) &&
        !atomic_load(&tgo__S->poller_blocked))
        tgo__wakep();
}

void tgo__timer_added(void)
{
    tgo__netpoll_break(); /* the blocked poller may sleep past this deadline */
    ensure_poller();
}

void tgo__found_work(tgo__p *p)
{
    stop_waiting_for_timer(p);
    if (atomic_load_explicit(&p->spinning, memory_order_relaxed)) {
        tgo__stop_spinning(p);
        tgo__wakep(); /* the last spinner hands the search on (Go's resetspinning) */
    }
    if (p->left_poller) { /* the poller leaves to run a task: it hands that part on */
        p->left_poller = false;
        ensure_poller();
    }
}

bool tgo__idle_spin(tgo__p *p, uint64_t *idle_since)
{
    uint64_t now = tgo_now_ns();
    if (!*idle_since)
        *idle_since = now;
    if (now - *idle_since >= tgo__spin_ns && !wait_for_timer(p, now)) {
        stop_waiting_for_timer(p);
        *idle_since = 0;
        return false;
    }
    /* back off between scans: a spinner that rereads other Ps' queue
     * indices in a tight loop steals their cache lines from their owners.
     * 32 pauses, about 0.3 us on the VM this was tuned on: against 4, tgo's
     * ping-pong with the other P spinning went from 119 to 97 ns a round
     * trip and its closed rpc loop 3% faster, with the open loop's p99 and
     * mixed unchanged; 128 (1.3 us) made the open loop's send lag p99 about
     * 7 us later. A pause costs what the CPU says: 25 ns on an AMD EPYC VM,
     * where 32 are 0.8 us; there 8 made tgo's ping-pong 8% slower, and 128
     * made both policies' 3% faster. */
    for (int i = 0; i < IDLE_BACKOFF_PAUSES; i++)
        cpu_relax();
    return true;
}

bool tgo__quiescent(void)
{
    tgo__sched *s = tgo__S;
    uint64_t finished = 0, started = 0;
    for (int i = 0; i < s->nprocs; i++)
        finished += atomic_load_explicit(&s->ps[i].n_finished, memory_order_acquire);
    atomic_thread_fence(memory_order_seq_cst);
    for (int i = 0; i < s->nprocs; i++)
        started += atomic_load_explicit(&s->ps[i].n_started, memory_order_acquire);
    return finished == started;
}

bool tgo__shutting_down(void)
{
    return atomic_load_explicit(&tgo__S->shutdown, memory_order_acquire);
}

static void begin_shutdown(void)
{
    tgo__sched *s = tgo__S;
    atomic_store(&s->shutdown, 1);
    for (int i = 0; i < s->nprocs; i++) {
        atomic_fetch_add(&s->ps[i].park_seq, 1);
        futex_wake(&s->ps[i].park_seq, 1);
    }
    tgo__netpoll_break();
}

static bool timers_due(void)
{
    uint64_t next = tgo__timers_next();
    return next != UINT64_MAX && next <= tgo_now_ns();
}

static void cancel_idle(tgo__p *p)
{
    idle_bit_clear(p->id); /* a waker may have cleared it already */
}

void tgo__idle_park(tgo__p *p)
{
    tgo__sched *s = tgo__S;
    uint32_t seq = atomic_load(&p->park_seq);
    p->left_poller = false;
    /* Count first, then the bit, so that npidle never falls below the number
     * of idle bits and a waker that reads npidle == 0 misses no idle P. The
     * other order let a waker clear a half-announced P's bit and bring npidle
     * to 0 while a parked P's bit was still set: a task pushed to that P's
     * own queues then waited forever. seq_cst: announce, then rescan. */
    atomic_fetch_add(&s->npidle, 1);
    atomic_fetch_or(&s->idle_mask[p->id / 64], 1ull << (p->id % 64));
    if (tgo__shutting_down() || tgo__policy_has_work(p) || timers_due()) {
        cancel_idle(p);
        return;
    }
    if (tgo__quiescent()) {
        cancel_idle(p);
        begin_shutdown();
        return;
    }
    p->c.parks++;
    if (tgo__netpoll_claim()) {
        /* this P is the one blocked poller; it also sleeps until the next timer */
        atomic_store(&p->parked, 2);
        atomic_store(&s->poller_blocked, 1); /* seq_cst: then read the next timer */
        tgo__task *list = NULL;
        if (atomic_load(&p->park_seq) == seq) {
            uint64_t next = tgo__timers_next(), now = tgo_now_ns();
            list = tgo__netpoll(next == UINT64_MAX ? UINT64_MAX : next > now ? next - now : 0);
        }
        atomic_store(&s->poller_blocked, 0);
        p->left_poller = true;
        atomic_store(&p->parked, 0);
        tgo__netpoll_release();
        cancel_idle(p);
        if (list)
            tgo__policy_inject(p, tgo__readied_list(p, list, &p->c.netpoll_wakeups));
        return;
    }
    atomic_store(&p->parked, 1);
    futex_wait(&p->park_seq, seq);
    atomic_store(&p->parked, 0);
    cancel_idle(p);
}

/* Work the netpoller and timers have for p, without blocking. */
tgo__task *tgo__poll_nonblocking(tgo__p *p)
{
    tgo__task *list = NULL;
    if (timers_due()) {
        uint64_t next;
        list = tgo__readied_list(p, tgo__timers_expire(tgo_now_ns(), &next), &p->c.timer_wakeups);
    }
    if (tgo__netpoll_active() && tgo__netpoll_claim()) {
        tgo__task *io = tgo__netpoll(0);
        tgo__netpoll_release();
        ensure_poller(); /* a P that went to park meanwhile found the poller taken */
        tgo__readied_list(p, io, &p->c.netpoll_wakeups);
        if (io) {
            tgo__task *tail = io;
            while (tail->next)
                tail = tail->next;
            tail->next = list;
            list = io;
        }
    }
    return list;
}

/* ---- workers ------------------------------------------------------------ */

#if !defined(TGO__ASAN) && !defined(TGO__TSAN) /* they report overflows themselves */
static void on_segv(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    if (tgo__stack_in_guard(si->si_addr)) {
        static const char msg[] =
            "tgo runtime: fatal: task stack overflow (hit the guard page): raise stack_size\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
    }
    signal(sig, SIG_DFL); /* return and fault again: the default action */
}
#endif

static void install_segv_handler(void)
{
#if !defined(TGO__ASAN) && !defined(TGO__TSAN)
    stack_t ss = {.ss_sp = malloc(SIGSTACK_SIZE), .ss_size = SIGSTACK_SIZE};
    if (ss.ss_sp && sigaltstack(&ss, NULL) == 0) {
        struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_ONSTACK};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, NULL);
    }
#endif
}

static void remove_sigaltstack(void)
{
#if !defined(TGO__ASAN) && !defined(TGO__TSAN)
    stack_t old, off = {.ss_flags = SS_DISABLE};
    if (sigaltstack(&off, &old) == 0 && !(old.ss_flags & SS_DISABLE))
        free(old.ss_sp);
#endif
}

static void record_g0_stack(tgo__p *p)
{
    pthread_attr_t attr;
    void *lo = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &lo, &size);
        pthread_attr_destroy(&attr);
    }
    p->g0_stack_lo = lo;
    p->g0_stack_size = size;
    p->san_fiber = tgo__tsan_current();
}

enum { GATE_CLOSED, GATE_OPEN, GATE_STOP }; /* start_gate */

/* Block until tgo_run has made every worker thread; false: the run stops. */
static bool wait_for_start(tgo__sched *s)
{
    uint32_t gate;
    while ((gate = atomic_load(&s->start_gate)) == GATE_CLOSED)
        futex_wait(&s->start_gate, GATE_CLOSED);
    return gate == GATE_OPEN;
}

static void *worker_main(void *arg)
{
    tgo__p *p = arg;
    if (!wait_for_start(tgo__S))
        return NULL;
    tgo__this_p_tls = p;
    p->errno_at = &errno;
    record_g0_stack(p);
    install_segv_handler();
    tgo__policy_worker_start(p);
    for (;;) {
        bool inherit = false;
        if (p->poll_overdue || poll_overdue(p))
            serve_overdue(p);
        tgo__task *t = tgo__policy_find_runnable(p, &inherit);
        if (!t)
            break;
        execute(p, t, inherit);
    }
    remove_sigaltstack();
    tgo__this_p_tls = NULL;
    return NULL;
}

/* ---- a runtime's life ---------------------------------------------------- */

static int check_config(const tgo_config *cfg, size_t *stack_size)
{
    if (cfg->procs < 1 || cfg->procs > TGO_MAX_PROCS)
        return -EINVAL;
    size_t ss = cfg->stack_size ? cfg->stack_size : TGO_STACK_DEFAULT;
    if ((ss != TGO_STACK_SMALL && (ss < 4096 || ss % 4096 || ss > TGO_STACK_MAX)) ||
        ss < tgo_stack_min())
        return -EINVAL;
    *stack_size = ss;
    return 0;
}

static void assign_cpus(tgo__sched *s)
{
    cpu_set_t set;
    int cpus[CPU_SETSIZE], n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set))
                cpus[n++] = c;
    for (int i = 0; i < s->nprocs; i++)
        s->ps[i].cpu = n ? cpus[i % n] : i;
}

static void collect_stats(tgo__sched *s, tgo_stats *st)
{
    memset(st, 0, sizeof *st);
    st->procs = s->nprocs;
    st->policy = tgo_policy_name();
    tgo_hist *all = tgo_hist_new();
    for (int i = 0; i < s->nprocs; i++) {
        tgo__p *p = &s->ps[i];
        tgo_counters *c = &st->per_p[i];
        *c = p->c;
        c->sched_lat_samples = tgo_hist_count(p->sched_lat);
        c->sched_lat_p50_ns = tgo_hist_percentile(p->sched_lat, 50);
        c->sched_lat_p99_ns = tgo_hist_percentile(p->sched_lat, 99);
        c->sched_lat_max_ns = tgo_hist_max(p->sched_lat);
        if (all)
            tgo_hist_merge(all, p->sched_lat);
        uint64_t *sum = (uint64_t *)&st->total;
        const uint64_t *add = (const uint64_t *)c;
        for (size_t k = 0; k < offsetof(tgo_counters, sched_lat_samples) / sizeof(uint64_t); k++)
            sum[k] += add[k];
    }
    if (all) {
        st->total.sched_lat_samples = tgo_hist_count(all);
        st->total.sched_lat_p50_ns = tgo_hist_percentile(all, 50);
        st->total.sched_lat_p99_ns = tgo_hist_percentile(all, 99);
        st->total.sched_lat_max_ns = tgo_hist_max(all);
        tgo_hist_free(all);
    }
}

static void sched_free(tgo__sched *s)
{
    if (s->ps) {
        for (int i = 0; i < s->nprocs; i++) {
            tgo__stack_cache_free(s->ps[i].stacks);
            tgo__task_cache_free(s->ps[i].tasks);
            free(s->ps[i].policy);
            tgo_hist_free(s->ps[i].sched_lat);
        }
    }
    tgo__policy_destroy(s);
    tgo__netpoll_destroy();
    tgo__timers_destroy();
    tgo__stacks_destroy();
    tgo__tasks_destroy();
    if (s->topo)
        tgo_topology_free(s->topo);
    free(s->ps);
    free(s);
}

static int sched_new(const tgo_config *cfg, size_t stack_size, tgo__sched **out)
{
    int err = 0;
    tgo__sched *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    tgo__S = s;
    s->nprocs = cfg->procs;
    s->stack_size = stack_size;
    s->ps = tgo__alloc_lines(sizeof(tgo__p) * (size_t)cfg->procs);
    if (!s->ps) {
        err = -ENOMEM;
        goto fail;
    }
    s->topo = tgo_topology_read(cfg->sysfs_root, &err);
    if (!s->topo)
        goto fail;
    assign_cpus(s);
    if ((err = tgo__stacks_init(stack_size)) || (err = tgo__timers_init()) ||
        (err = tgo__netpoll_init()))
        goto fail;
    for (int i = 0; i < s->nprocs; i++) {
        tgo__p *p = &s->ps[i];
        p->id = i;
        p->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1) ^ tgo_now_ns();
        p->stacks = tgo__stack_cache_new();
        p->tasks = tgo__task_cache_new();
        p->sched_lat = tgo_hist_new();
        p->policy = tgo__alloc_lines(tgo__policy_p_size);
        if (!p->stacks || !p->tasks || !p->sched_lat || !p->policy) {
            err = -ENOMEM;
            goto fail;
        }
    }
    if ((err = tgo__policy_init(s)))
        goto fail;
    *out = s;
    return 0;
fail:
    sched_free(s);
    tgo__S = NULL;
    return err ? err : -ENOMEM;
}

static uint64_t env_u64(const char *name, uint64_t unset)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : unset;
}

/* nspinning counts the set spinning flags; a count without its flag would
 * stop every later wakep for the rest of the run. */
static void check_spinning_count(tgo__sched *s)
{
    int flags = 0;
    for (int i = 0; i < s->nprocs; i++)
        flags += atomic_load(&s->ps[i].spinning);
    tgo__assert(atomic_load(&s->nspinning) == flags,
                "nspinning is %d at the end of the run, but %d Ps are flagged spinning",
                atomic_load(&s->nspinning), flags);
}

int tgo_run(const tgo_config *cfg, tgo_fn main_fn, void *arg, tgo_stats *stats)
{
    size_t stack_size;
    int err = check_config(cfg, &stack_size);
    if (err)
        return err;
    if (tgo__S)
        return -EBUSY;
    tgo__sched *s;
    if ((err = sched_new(cfg, stack_size, &s)))
        return err;
    tgo__slow_switch_ns = env_u64("TGOBENCH_SLOW_SWITCH_NS", 0);
    tgo__spin_ns = env_u64("TGOBENCH_SPIN_NS", SPIN_NS_DEFAULT);
    tgo__pin_workers = env_u64("TGOBENCH_PIN", 1) != 0;
    tgo__mem_budget_start(env_u64("TGOBENCH_MEM_LIMIT_MIB", 0));

    tgo__task *main_task = task_new(&s->ps[0], main_fn, arg, TGO_HINT_NONE);
    if (!main_task) {
        sched_free(s);
        tgo__S = NULL;
        return -ENOMEM;
    }
    main_task->own_stack = 1;
    tgo__policy_spawn(NULL, main_task);

    /* All Ps or none: a run on fewer Ps than asked would measure another
     * machine, and the main task has not run before the gate opens. */
    int started = 0;
    for (; started < s->nprocs; started++) {
        if ((err = pthread_create(&s->ps[started].thread, NULL, worker_main, &s->ps[started]))) {
            err = -err;
            break;
        }
    }
    atomic_store(&s->start_gate, err ? GATE_STOP : GATE_OPEN);
    futex_wake(&s->start_gate, INT_MAX);
    for (int i = 0; i < started; i++)
        pthread_join(s->ps[i].thread, NULL);
    if (err) {
        live_task_put(); /* the main task, which never ran */
    } else {
        check_spinning_count(s);
        if (stats)
            collect_stats(s, stats);
    }
    sched_free(s);
    tgo__S = NULL;
    return err;
}
