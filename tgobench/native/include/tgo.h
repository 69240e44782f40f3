/*
 * tgo.h - the public API of tgobench's M:N coroutine runtime.
 *
 * One runtime, two scheduler policies: the same sources are linked once with
 * sched_tgo.c and once with sched_gmp.c, so every difference measured between
 * the two drivers is a difference of policy. Nothing here names a policy.
 *
 * A runtime lives for one call of tgo_run(): it starts `procs` worker
 * threads (one per P), runs main_fn as the first task, and returns once
 * main_fn and every task it spawned have finished. Everything else in this
 * header is called from inside a task.
 *
 * Public names start with tgo_, internal non-static names with tgo__.
 * Functions that can fail return 0 or a negative errno value.
 *
 * A task may resume on another worker thread after any call that can
 * switch. Each task keeps its own errno across switches, but glibc declares
 * errno's address function const, so a function that reads errno after a
 * switch may be compiled to read the old worker's: read it with
 * tgo_errno(), or use the returned error values.
 */
#ifndef TGO_H
#define TGO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*tgo_fn)(void *arg);

/* A hint says what kind of work a task is; policies may order by it. */
typedef enum tgo_hint {
    TGO_HINT_NONE = 0,
    TGO_HINT_NETIO = 1, /* woken by network readiness: latency-sensitive */
    TGO_HINT_BATCH = 2, /* throughput work: may wait behind everything else */
} tgo_hint;

enum {
    TGO_MAX_PROCS = 256,
    TGO_STACK_SMALL = 2048,          /* the small class: packed, canary-checked */
    TGO_STACK_MIN = 2048,
    TGO_STACK_DEFAULT = 64 * 1024,   /* virtual; pages are committed on touch */
    TGO_STACK_MAX = 64 * 1024 * 1024,
    TGO_STEAL_LEVELS = 5,            /* SMT, L2, LLC, NUMA node, remote */
};

typedef struct tgo_config {
    int procs;               /* number of Ps, 1..TGO_MAX_PROCS */
    size_t stack_size;       /* bytes; TGO_STACK_SMALL..TGO_STACK_MAX; 0: default */
    const char *sysfs_root;  /* topology source; NULL: "/sys" */
} tgo_config;

/*
 * Per-P counters of one tgo_run(), each P writing only its own copy.
 * steals[level] counts tasks taken from a victim at that locality level
 * (see topology in tgo__topo); shared_takes counts tasks taken from the
 * global queue (gmp) or the shared fallback pool (tgo).
 */
typedef struct tgo_counters {
    uint64_t tasks_spawned;
    uint64_t tasks_run;        /* tasks that ran to completion on this P */
    uint64_t switches;         /* switches into a task */
    uint64_t steals[TGO_STEAL_LEVELS];
    uint64_t steal_attempts;
    uint64_t shared_takes;
    uint64_t shared_puts;
    uint64_t parks;            /* the worker blocked on its futex */
    uint64_t wakeups;          /* futex wakes this P issued to others */
    uint64_t netpoll_wakeups;  /* tasks made runnable by the netpoller */
    uint64_t timer_wakeups;
    uint64_t sched_lat_samples;
    uint64_t sched_lat_p50_ns; /* ready-to-running latency, sampled 1 in 64 */
    uint64_t sched_lat_p99_ns;
    uint64_t sched_lat_max_ns;
} tgo_counters;

typedef struct tgo_stats {
    int procs;
    const char *policy;
    tgo_counters total;                  /* sum over Ps; latency merged */
    tgo_counters per_p[TGO_MAX_PROCS];
} tgo_stats;

/* The policy this binary was linked with: "tgo" or "gmp". */
const char *tgo_policy_name(void);

/* The smallest stack_size this build runs: TGO_STACK_MIN, or 4096 where a
 * sanitizer's instrumentation needs more than the small class holds. */
size_t tgo_stack_min(void);

/* CPUs in this process's affinity mask: the default number of Ps. */
int tgo_affinity_cpus(void);

/* Run main_fn(arg) as the first task of a fresh runtime; fill *stats (may be
 * NULL) after every task has finished. Returns 0 or -errno (bad config,
 * out of memory, thread creation failed). A run starts all its Ps or none:
 * where a worker thread cannot be made, main_fn is never called. Not
 * reentrant. */
int tgo_run(const tgo_config *cfg, tgo_fn main_fn, void *arg, tgo_stats *stats);

/* --- inside a task --- */
/* -ENOMEM when a descriptor cannot be had, which includes the resident set
 * outgrowing what was available when tgo_run started, less a reserve
 * (mem.c): the tasks alive at once would not fit. */
int tgo_spawn(tgo_fn fn, void *arg);                    /* 0 or -ENOMEM */
int tgo_spawn_hint(tgo_fn fn, void *arg, tgo_hint hint);
void tgo_yield(void);                                   /* Go's Gosched */
void tgo_sleep_ns(uint64_t ns);
int tgo_current_p(void);                                /* index of the running P */
int tgo_procs(void);
uint64_t tgo_now_ns(void);                              /* CLOCK_MONOTONIC */
int tgo_errno(void) __attribute__((noinline));          /* errno, safe after a switch */

/* For refusing a request whose tasks, alive at once, would not fit, before
 * any of them starts: a task takes its stack when it first runs, and a
 * stack that cannot be had then ends the process. */
typedef struct tgo_stack_cost {
    size_t resident;   /* the least one task that ran commits: its descriptor
                          and the stack pages it cannot avoid touching */
    uint64_t carved;   /* stacks handed out so far: committed, and pooled
                          for reuse once their tasks finished */
} tgo_stack_cost;
void tgo_stack_costs(tgo_stack_cost *out);
/* Map the address space of n stacks now (pages are still committed on
 * touch), so that n tasks alive at once get theirs. 0 or -ENOMEM. */
int tgo_reserve_stacks(uint64_t n);

/* The most tasks this build can have alive at once: UINT64_MAX but under
 * ThreadSanitizer, which counts each task as a thread. */
uint64_t tgo_max_live_tasks(void);

/* This process's resident set, and the memory available to it, in KiB:
 * the kernel's MemAvailable, or where it is less, the room the process's
 * memory cgroups left at tgo_run's start less what the resident set has
 * grown by since. -1 when neither can be read. Safe on a small task stack. */
int64_t tgo_rss_kib(void);
int64_t tgo_mem_available_kib(void);

/* Wait group: Add before spawning, Done in the task, Wait for zero. */
typedef struct tgo_wg tgo_wg;
tgo_wg *tgo_wg_new(void);
void tgo_wg_free(tgo_wg *wg);
/* The count must stay within 0..INT32_MAX, as Go's does: a count that
 * leaves it stops the process with a message. */
void tgo_wg_add(tgo_wg *wg, int64_t delta);
void tgo_wg_done(tgo_wg *wg);
void tgo_wg_wait(tgo_wg *wg);

/* Channels of fixed-size elements; cap 0 is unbuffered (rendezvous).
 * send returns -EPIPE on a closed channel; recv returns -EPIPE once the
 * channel is closed and drained. */
typedef struct tgo_chan tgo_chan;
tgo_chan *tgo_chan_new(size_t elem_size, size_t cap);
void tgo_chan_free(tgo_chan *ch);
int tgo_chan_send(tgo_chan *ch, const void *elem);
int tgo_chan_recv(tgo_chan *ch, void *elem);
void tgo_chan_close(tgo_chan *ch);

/* Mutex that parks the task, not the worker. */
typedef struct tgo_mutex tgo_mutex;
tgo_mutex *tgo_mutex_new(void);
void tgo_mutex_free(tgo_mutex *mu);
void tgo_mutex_lock(tgo_mutex *mu);
void tgo_mutex_unlock(tgo_mutex *mu);

/* Network I/O on non-blocking descriptors: each call parks the task on
 * EAGAIN until the netpoller reports readiness. Return values as the libc
 * call, but errors as -errno. tgo_socket() makes a non-blocking socket. */
int tgo_socket(int domain, int type, int protocol);
ssize_t tgo_read(int fd, void *buf, size_t len);
ssize_t tgo_write(int fd, const void *buf, size_t len);
int tgo_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);
int tgo_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
int tgo_close(int fd);

/* Histogram of non-negative integers (nanoseconds) to 3 significant digits,
 * log-linear like HdrHistogram. Not thread-safe: one writer, merge after. */
typedef struct tgo_hist tgo_hist;
tgo_hist *tgo_hist_new(void);
void tgo_hist_free(tgo_hist *h);
void tgo_hist_reset(tgo_hist *h);
void tgo_hist_record(tgo_hist *h, uint64_t value);
void tgo_hist_merge(tgo_hist *dst, const tgo_hist *src);
uint64_t tgo_hist_count(const tgo_hist *h);
uint64_t tgo_hist_max(const tgo_hist *h);
uint64_t tgo_hist_percentile(const tgo_hist *h, double pct); /* pct in [0, 100] */

/* Topology as the runtime sees it (read from cfg->sysfs_root). */
typedef struct tgo_topology tgo_topology;
tgo_topology *tgo_topology_read(const char *sysfs_root, int *err);
void tgo_topology_free(tgo_topology *topo);
int tgo_topology_ncpus(const tgo_topology *topo);   /* CPUs present */
int tgo_topology_nnodes(const tgo_topology *topo);
int tgo_topology_node_of(const tgo_topology *topo, int cpu);
/* Locality level between two CPUs: 0 SMT sibling, 1 shared L2, 2 shared
 * LLC, 3 same NUMA node, 4 remote; -1 for cpu == other or out of range. */
int tgo_topology_level(const tgo_topology *topo, int cpu, int other);

#ifdef __cplusplus
}
#endif
#endif /* TGO_H */
