/*
 * runtime.h - internal interfaces of the runtime, one section per subsystem
 * (libuv's internal.h style). Nothing here is public; names are tgo__.
 *
 * The model, after Go's proc.go:
 *   task  (G): a coroutine: a saved stack pointer, a stack, a function.
 *   P        : a scheduling context with its own run queue(s). Each P is
 *              driven by exactly one worker thread (M) for the life of the
 *              runtime; tasks never block their worker (I/O parks the task
 *              in the netpoller), so Go's M/P hand-off is not needed.
 *   g0       : each worker's own stack, where the scheduler loop runs. A task
 *              switches to g0 to park, yield or exit (mcall), and the action
 *              that publishes the task runs there, after its context is
 *              saved, so no other P can resume a stack still in use.
 */
#ifndef TGO_RUNTIME_H
#define TGO_RUNTIME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>
#include <pthread.h>

#include "san.h"
#include "tgo.h"

#define TGO__CACHE_LINE 64
#define TGO__ALIGNED __attribute__((aligned(TGO__CACHE_LINE)))
#define TGO__LIKELY(x) __builtin_expect(!!(x), 1)
#define TGO__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Stop the process: an invariant is broken. Never returns. */
noreturn void tgo__fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define tgo__assert(cond, ...) \
    do { if (TGO__UNLIKELY(!(cond))) tgo__fatal(__VA_ARGS__); } while (0)

/* Zeroed memory on its own cache lines (NULL when out of memory). */
void *tgo__alloc_lines(size_t size);

/* ---- context switch (ctx_x86_64.S, ctx_aarch64.S) ---------------------- */

typedef struct tgo__ctx {
    void *sp; /* saved stack pointer; callee-saved registers sit below it */
} tgo__ctx;

/* Save callee-saved registers on the current stack, store sp in from->sp,
 * load to->sp, restore and return into `to`. */
void tgo__ctx_switch(tgo__ctx *from, tgo__ctx *to);
/* First switch into a fresh stack calls entry() with an aligned stack. */
void tgo__ctx_make(tgo__ctx *ctx, void *stack_top, void (*entry)(void));

/* ---- tasks -------------------------------------------------------------- */

enum tgo__task_state {
    TGO__T_RUNNABLE = 1, /* on exactly one queue, or about to be */
    TGO__T_RUNNING,      /* on a P's cur */
    TGO__T_WAITING,      /* parked on a channel, wait group, timer, fd */
    TGO__T_DEAD,
};

typedef struct tgo__task {
    tgo__ctx ctx;             /* must stay first: the assembly uses offset 0 */
    struct tgo__task *next;   /* intrusive link: queues, wait lists */
    tgo_fn fn;
    union {
        void *arg;            /* fn's argument, read once as the task starts */
        void *wait_elem;      /* afterwards: a channel element while parked */
    };
    char *stack_lo;           /* NULL until the task first runs */
    uint64_t ready_ns;        /* when made runnable, if lat_sampled */
    _Atomic uint8_t state;    /* enum tgo__task_state, checked on transitions */
    uint8_t hint;             /* tgo_hint */
    uint8_t lat_sampled;
    uint8_t io_wakeup;        /* made runnable by the netpoller */
    uint8_t own_stack;        /* the first task: a stack of its own */
    uint8_t at_data;          /* tgo: origin_p is where its socket's data came in */
    int16_t origin_p;         /* the P the task last ran on; -1 before */
    int saved_errno;          /* errno is per thread; a task may move */
    int wait_result;          /* set by the waker before readying */
#ifdef TGO__SANITIZED
    void *san_fiber;          /* TSan fiber */
    void *san_fake_stack;     /* ASan fake stack across a switch */
#endif
} tgo__task;

#ifndef TGO__SANITIZED
/* One cache line: a task is written by its spawner and read by the P that
 * runs it, and each line it spans crosses between their caches. */
_Static_assert(sizeof(tgo__task) == 64, "a task descriptor is one cache line");
#endif
_Static_assert(TGO_MAX_PROCS <= INT16_MAX, "origin_p holds a P id");

/* ---- per-P state -------------------------------------------------------- */

typedef struct tgo__p tgo__p;
typedef void (*tgo__after_fn)(tgo__p *p, tgo__task *t, void *arg);

struct tgo__p {
    /* owner-only, hot */
    int id;
    int cpu;                  /* CPU of the P's worker for topology, pinning */
    tgo__task *cur;
    tgo__ctx g0;
    tgo__after_fn after;      /* the mcall action of prev, pending */
    void *after_arg;
    tgo__task *prev;          /* the task that last left the CPU (mcall) */
    uint32_t schedtick;       /* incremented when a task starts a new slice */
    uint32_t lat_tick;
    uint32_t poll_tick;       /* switches since the last look at the clock for timers */
    bool poll_overdue;        /* timers or fds to serve before local work */
    bool left_poller;         /* back from a blocking poll, not yet running */
    uint64_t rng;
    /* this worker's errno, which a task keeps across switches: its address
     * is read here, since glibc's errno function is declared const and a
     * task that resumed on another worker must not reuse an old address */
    int *errno_at;
    void *policy;             /* the policy's per-P queues */
    struct tgo__stack_cache *stacks;
    struct tgo__task_cache *tasks;
    tgo_hist *sched_lat;
    tgo_counters c;
    pthread_t thread;
    void *san_fiber;          /* g0's TSan fiber */
    void *san_fake_stack;
    const void *g0_stack_lo;  /* g0's stack, for ASan's switch notes */
    size_t g0_stack_size;
    /* written by other Ps */
    TGO__ALIGNED _Atomic uint32_t park_seq; /* futex word */
    _Atomic int parked;       /* 0 running, 1 futex-parked, 2 in netpoll */
    _Atomic bool spinning;
    /* monotone counts for the quiescence check; owner writes, others read */
    TGO__ALIGNED _Atomic uint64_t n_started;  /* tasks this P created */
    _Atomic uint64_t n_finished;              /* tasks that exited on this P */
} TGO__ALIGNED;

/* The running P. A task can move to another worker across any switch, so
 * the compiler must never reuse a thread-local address it computed before
 * one. On x86-64 the read is one %fs-relative load in asm that is volatile
 * and clobbers memory, which the compiler can neither cache nor move across
 * a switch; elsewhere it is a call it cannot see into. Inlined, the load cut
 * a chan round trip from 610 to 568 instructions (tgo; gmp 594 to 551). */
extern __thread tgo__p *tgo__this_p_tls;
tgo__p *tgo__this_p_call(void) __attribute__((noinline));

static inline tgo__p *tgo__this_p(void)
{
#if defined(__x86_64__)
    tgo__p *p;
    __asm__ volatile("movq %%fs:tgo__this_p_tls@tpoff, %0" : "=r"(p) : : "memory");
    return p;
#else
    return tgo__this_p_call();
#endif
}

tgo__task *tgo__this_task(void);

/* ---- the scheduler, shared parts (sched.c) ----------------------------- */

typedef struct tgo__sched {
    int nprocs;
    size_t stack_size;
    tgo__p *ps;                /* nprocs entries */
    tgo_topology *topo;
    _Atomic int shutdown;
    _Atomic uint32_t start_gate; /* the workers wait there for every thread */
    _Atomic int npidle;        /* Ps parked or about to park */
    _Atomic int nspinning;     /* Ps looking for work */
    _Atomic int timer_waiter;  /* 1 + the idle P spinning for a near timer; 0: none */
    _Atomic int poller_blocked; /* a P sleeps in the netpoller until the next timer */
    _Atomic uint64_t idle_mask[TGO_MAX_PROCS / 64];
    void *policy;              /* the policy's global state */
} tgo__sched;

extern tgo__sched *tgo__S;

/* Leave the running task t and run fn(p, t, arg) once t's context is
 * saved (Go's mcall): on g0, or on the stack of the task p switches to
 * directly, so fn must be short and never block. fn must make t runnable,
 * park it somewhere a waker finds it, or free it. */
void tgo__mcall(tgo__after_fn fn, void *arg);

/* Park the running task; unlock(arg) runs after its context is saved
 * (Go's gopark with unlockf). The waker calls tgo__ready(). */
void tgo__park(void (*unlock)(void *arg), void *arg);
/* Make a parked task runnable (from a task, or from g0 on p). */
void tgo__ready(tgo__task *t);

/* Spinning and parking of idle workers, shared by both policies.
 * No lost wakeups: a producer publishes its task, then calls tgo__wakep()
 * or tgo__wake_p(); an idle P marks itself idle, rescans every queue
 * (the policy's has_work) and only then sleeps (see sched.c). */
void tgo__wakep(void);                  /* Go's wakep: one more spinner, if none */
bool tgo__wake_p(int id);               /* wake P id if it is idle */
/* Start (or keep) looking for work as a spinner, if allowed: Go's rule,
 * spinners at most half the busy Ps, shared by both policies. */
bool tgo__try_spin(tgo__p *p);
bool tgo__p_idle(int id);               /* P id is parked or about to park */
void tgo__stop_spinning(tgo__p *p);     /* fence, then the caller rescans */
void tgo__found_work(tgo__p *p);        /* found work: a spinner or the poller hands on */
void tgo__idle_park(tgo__p *p);         /* block until woken, a timer or I/O */
/* A timer became the earliest (timer.c): the P blocked in the netpoller
 * must sleep no longer than it, and where none is, an idle P is woken to
 * become that poller (Go's wakeNetPoller). */
void tgo__timer_added(void);
/* Whether an idle P should look again (spinning, with a short back-off)
 * rather than park: true until tgo__spin_ns have passed since *idle_since. */
bool tgo__idle_spin(tgo__p *p, uint64_t *idle_since);
bool tgo__quiescent(void);              /* every task created has exited */
bool tgo__shutting_down(void);
uint64_t tgo__rand(tgo__p *p);          /* xorshift, per P */
void tgo__pause_ns(uint64_t ns);        /* busy-wait, reading the clock */
/* How long a thief waits before it takes the task that a running P is about
 * to run itself (proc.go's runqsteal: usleep(3) before taking runnext). */
enum { TGO__STEAL_PAUSE_NS = 3000 };
/* Expired timers and ready fds, without blocking, as a list of tasks that
 * are already RUNNABLE; the policy decides where they go. */
tgo__task *tgo__poll_nonblocking(tgo__p *p);
tgo__task *tgo__readied_list(tgo__p *p, tgo__task *list, uint64_t *counter);
/* How long an idle P keeps looking before parking: a cross-core futex wake
 * costs tens of microseconds on the machines this is measured on. 20 us, or
 * TGOBENCH_SPIN_NS; the tests set 0 so that Ps park and wake all the time. */
extern uint64_t tgo__spin_ns;
/* Whether a policy that pins its workers (tgo) does: TGOBENCH_PIN=0 turns
 * it off, so that what pinning costs or gains can be measured alone. */
extern bool tgo__pin_workers;
/* Readied-task bookkeeping shared by both policies' ready/spawn paths. */
void tgo__mark_runnable(tgo__p *p, tgo__task *t);

/* ---- policy hooks (sched_gmp.c or sched_tgo.c) ------------------------- */

/* Bytes of per-P policy state; the core allocates it zeroed, on its own
 * cache lines, at p->policy, and frees it. */
extern const size_t tgo__policy_p_size;
int tgo__policy_init(tgo__sched *s);
void tgo__policy_destroy(tgo__sched *s);
/* A new task created by the task running on p (p NULL: from outside). */
void tgo__policy_spawn(tgo__p *p, tgo__task *t);
/* A parked task became runnable; p is the waker's P (may be the poller). */
void tgo__policy_ready(tgo__p *p, tgo__task *t);
/* The running task yielded; its context is saved. */
void tgo__policy_yield(tgo__p *p, tgo__task *t);
/* Tasks the netpoller or timers made runnable, as a linked list. */
void tgo__policy_inject(tgo__p *p, tgo__task *list);
/* The netpoller is readying t because data arrived on the TCP socket fd
 * (before the inject): the policy may note where that data is. memo is the
 * policy's word for fd, 0 when the fd is new; one poller at a time. */
void tgo__policy_data_arrived(tgo__task *t, int fd, _Atomic uint32_t *memo);
/* Overdue timers or fds were just injected while p still had work (the
 * core's poll_overdue, its stand-in for Go's sysmon): p's time slice ends,
 * and nothing the policy runs ahead of its queues may keep them waiting. */
void tgo__policy_slice_end(tgo__p *p);
/* The next task from p's own queues (whatever the policy counts as local:
 * no stealing, polling or blocking), or NULL. It runs on the stack of the
 * task leaving the CPU, so it must use little stack. */
tgo__task *tgo__policy_take_local(tgo__p *p, bool *inherit_slice);
/* The next task for p; blocks; NULL once the runtime shuts down.
 * *inherit_slice is set when the task continues the current time slice. */
tgo__task *tgo__policy_find_runnable(tgo__p *p, bool *inherit_slice);
/* Whether any queue holds a task p could take (the pre-park rescan). */
bool tgo__policy_has_work(tgo__p *p);
/* Runs first on each worker thread: the policy decides about pinning. */
void tgo__policy_worker_start(tgo__p *p);

/* ---- stacks (stack.c) -------------------------------------------------- */

int tgo__stacks_init(size_t stack_size);
void tgo__stacks_destroy(void);
struct tgo__stack_cache *tgo__stack_cache_new(void);
void tgo__stack_cache_free(struct tgo__stack_cache *c);
char *tgo__stack_get(tgo__p *p);              /* lowest usable byte; NULL: ENOMEM */
void tgo__stack_put(tgo__p *p, char *lo);     /* trims a stack that grew */
void tgo__stack_check(const tgo__task *t);    /* canary; fatal on overflow */
bool tgo__stack_intact(const tgo__task *t);   /* the canary holds (or none is used) */
size_t tgo__stack_usable(void);               /* bytes from lo to top */
/* The first task's stack: TGO_STACK_DEFAULT whatever the class, since it
 * runs the workload's driver loop, not a task body. */
char *tgo__main_stack_get(void);
void tgo__main_stack_put(char *lo);
bool tgo__stack_in_guard(const void *addr);   /* for the SIGSEGV handler */

/* ---- task descriptors (task_alloc.c) ----------------------------------- */

struct tgo__task_cache *tgo__task_cache_new(void);
void tgo__task_cache_free(struct tgo__task_cache *c);
tgo__task *tgo__task_alloc(tgo__p *p);          /* uninitialised; NULL: ENOMEM */
void tgo__task_free(tgo__p *p, tgo__task *t);   /* from any P */
void tgo__tasks_destroy(void);                  /* every descriptor, at the end */

/* mem.c: the memory budget of one tgo_run */
void tgo__mem_budget_start(uint64_t limit_mib); /* at tgo_run's start; 0: no limit of its own */
bool tgo__mem_may_grow(void);      /* the resident set is within the budget */
/* The least room the process's memory cgroups leave, in KiB, read under
 * root ("", or a fixture tree); -1 where none sets a limit. */
int64_t tgo__cgroup_room_kib(const char *root);

/* ---- netpoller (netpoll.c) --------------------------------------------- */

int tgo__netpoll_init(void);
void tgo__netpoll_destroy(void);
/* Poll for ready fds; block up to timeout_ns (0: don't block, UINT64_MAX:
 * forever). Returns the readied tasks as a list. One blocking poller at a
 * time: the caller must hold tgo__netpoll_claim(). */
tgo__task *tgo__netpoll(uint64_t timeout_ns);
bool tgo__netpoll_claim(void);
void tgo__netpoll_release(void);
void tgo__netpoll_break(void);       /* wake the blocked poller */
bool tgo__netpoll_active(void);      /* any task waiting on an fd */
uint64_t tgo__netpoll_last_ns(void); /* when a poll last returned (tgo_now_ns) */

/* ---- timers (timer.c) -------------------------------------------------- */

int tgo__timers_init(void);
void tgo__timers_destroy(void);
/* Expired timers' tasks as a list; *next_ns is the next deadline or
 * UINT64_MAX. Cheap when no timer is due. */
tgo__task *tgo__timers_expire(uint64_t now, uint64_t *next_ns);
uint64_t tgo__timers_next(void);

/* ---- spinlock for short critical sections ------------------------------ */

typedef struct { _Atomic int locked; } tgo__spinlock;
void tgo__spin_lock(tgo__spinlock *l);
void tgo__spin_unlock(tgo__spinlock *l);
/* Wait until *word >= value, or while *word == value (acquire). These
 * waits and the lock's yield the CPU after a while: with more Ps than CPUs
 * the thread they wait for may be preempted on this very CPU. */
void tgo__spin_until_u32(_Atomic uint32_t *word, uint32_t value);
void tgo__spin_while_u64(_Atomic uint64_t *word, uint64_t value);

/* ---- fault injection (sched.c) ----------------------------------------- */

/* TGOBENCH_SLOW_SWITCH_NS: busy-wait this long on every switch into a task,
 * to prove that the regression gate catches a slower build. 0 by default. */
extern uint64_t tgo__slow_switch_ns;

#endif /* TGO_RUNTIME_H */
