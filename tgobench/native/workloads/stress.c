/*
 * stress - a seeded random mix of spawn trees and channel pipelines, for
 * correctness more than speed: every task must run exactly once, every
 * token sent must be received once, and a mutex must exclude.
 *
 * The plan is a function of the seed alone: task `id` draws its decisions
 * from a xorshift generator seeded by (seed, id), so a failure reproduces
 * with the same seed whatever the scheduling. Task ids 0..tasks-1 are
 * handed out by budget: a job task owns the ids [id, id + budget) and
 * spends the rest of its budget on children, each either
 *   - a subtree: a job task with a random part of the budget, or
 *   - a pipeline of 2..8 stage tasks passing 1..16 tokens through channels
 *     picked from the `chans` shared channels (random capacities, 0 for
 *     unbuffered), always in increasing channel order.
 * A job joins its children on its own wait group or not (coin flip); tasks
 * yield, sleep a few microseconds and take the mutex at random. Each task
 * carries a hint drawn from (seed, id): half none, a quarter NETIO, a
 * quarter BATCH, so that every queue of a hint-ordered policy holds tasks
 * that block, are woken and are stolen (gmp ignores hints). A task's
 * errno must come back from its yields as it left, though other tasks ran
 * in between and it may resume on another worker.
 *
 * Pipelines share channels, so a token may leave by another pipeline's
 * sink; the checks are therefore global (count and hash sum of tokens).
 * Deadlock freedom: the channel graph is acyclic because channels are used
 * in increasing order, and a pipeline's stages are spawned together with
 * nothing blocking in between, so the spawned stages always send exactly
 * as many tokens into each channel as they receive from it; the highest
 * channel with a blocked sender would then have a receiver ready.
 *
 * Exactly once: each task sets its flag with an atomic exchange; an old
 * value of 1 is a second run, a flag still 0 after the wait is a lost task
 * (in practice a lost task hangs the wait, which the caller's deadlock
 * guard reports with the seed).
 */
#include <errno.h>
#include <stdlib.h>

#include "workload.h"
#include "wl_util.h"

enum { P_SEED, P_TASKS, P_CHANS };

enum {
    NOT_A_STAGE = -2,            /* stress_task.in of a job task */
    NO_CHAN = -1,                /* source's in, sink's out */
    MAX_STAGES = 8,
    MAX_TOKENS = 16,
};

static const wl_param_spec params[] = {
    [P_SEED] = {"seed", WL_INT, 1, 0, 2147483648.0, NULL, NULL,
                "seed of the random plan; the same seed gives the same plan"},
    [P_TASKS] = {"tasks", WL_INT, 10000, 1, 10000000, NULL, NULL,
                 "tasks in the plan, every one run exactly once"},
    [P_CHANS] = {"chans", WL_INT, 8, 1, 1024, NULL, NULL,
                 "channels shared by the pipelines"},
};

/* Written by the spawning task before tgo_spawn, read by the task. */
typedef struct stress_task {
    tgo_wg *join;       /* the parent's wait group, or NULL */
    uint32_t count;     /* job: its budget of ids; stage: tokens it passes */
    int16_t in, out;    /* stage: channel indices; job: in == NOT_A_STAGE */
} stress_task;

static struct {
    uint64_t seed;
    uint32_t ntasks;
    int nchans;
    stress_task *tasks;
    _Atomic uint8_t *ran;
    tgo_chan **chans;
    tgo_wg *all;
    tgo_mutex *mu;
    uint64_t mu_counter;             /* only under mu */
    _Atomic uint64_t ran_twice;      /* 0, or 1 + the first id that ran twice */
    _Atomic uint64_t closed_early;   /* 0, or 1 + a stage id that saw a close */
    _Atomic uint64_t errno_lost;     /* 0, or 1 + a task id whose errno changed */
    _Atomic uint64_t woke_early;     /* 0, or 1 + a task id whose sleep ended early */
    _Atomic int out_of_memory;
    wl_per_p sent_sum, sent_count, recv_sum, recv_count, mu_entries;
} st;

static uint64_t rng_seeded(uint64_t id)
{
    uint64_t s = wl_mix64(st.seed * 0x100000001b3ull ^ id);
    return s ? s : 1;
}

/* Marsaglia's xorshift64. */
static uint32_t rng_next(uint64_t *s, uint32_t bound)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return (uint32_t)((x >> 32) % bound);
}

static tgo_hint task_hint(uint32_t id)
{
    static const tgo_hint hints[4] = {TGO_HINT_NONE, TGO_HINT_NONE, TGO_HINT_NETIO,
                                      TGO_HINT_BATCH};
    return hints[wl_mix64(st.seed * 0x9e3779b97f4a7c15ull ^ id) % 4];
}

static uint64_t token_value(uint32_t id, uint32_t j)
{
    return wl_mix64(st.seed << 32 ^ (uint64_t)id << 5 ^ j);
}

/* After a failed spawn: close every channel so that blocked stages return,
 * and let the loop report the out-of-memory error. */
static void stress_abort(void)
{
    if (atomic_exchange(&st.out_of_memory, 1) == 0) {
        for (int c = 0; c < st.nchans; c++)
            tgo_chan_close(st.chans[c]);
    }
}

static void note_first(_Atomic uint64_t *slot, uint32_t id)
{
    uint64_t none = 0;
    atomic_compare_exchange_strong(slot, &none, (uint64_t)id + 1);
}

static void maybe_pause(uint32_t id, uint64_t *rng)
{
    uint32_t r = rng_next(rng, 16);
    if (r < 3) {
        int mine = (int)(id % 4096) + 1;
        errno = mine;
        for (uint32_t i = 0; i <= r; i++)
            tgo_yield();
        if (tgo_errno() != mine)
            note_first(&st.errno_lost, id);
    } else if (r == 3) {
        uint64_t ns = 1000 * (1 + (uint64_t)rng_next(rng, 50)), due = tgo_now_ns() + ns;
        tgo_sleep_ns(ns);
        if (tgo_now_ns() < due)
            note_first(&st.woke_early, id);
    }
}

static void maybe_lock(uint64_t *rng)
{
    if (rng_next(rng, 8) != 0)
        return;
    tgo_mutex_lock(st.mu);
    st.mu_counter++;
    if (rng_next(rng, 2))
        tgo_yield();                 /* hold it across a switch */
    tgo_mutex_unlock(st.mu);
    wl_per_p_add(st.mu_entries, 1);
}

static void stress_task_fn(void *arg);

/* Spawn task `id`, already described, counted on `join` when given.
 * Returns 0 or -1 after a failed spawn. */
static int spawn_child(uint32_t id, tgo_wg *join)
{
    st.tasks[id].join = join;
    if (join)
        tgo_wg_add(join, 1);
    if (tgo_spawn_hint(stress_task_fn, (void *)(uintptr_t)id, task_hint(id)) == 0)
        return 0;
    if (join)
        tgo_wg_done(join);
    return -1;
}

/* Describe and spawn the stages first..first+nstages-1 of one pipeline.
 * Returns how many were spawned. */
static uint32_t spawn_pipeline(uint32_t first, uint32_t nstages, tgo_wg *join,
                               uint64_t *rng)
{
    uint32_t tokens = 1 + rng_next(rng, MAX_TOKENS);
    int nlinks = (int)nstages - 1, prev = NO_CHAN;
    for (int k = 0; k <= nlinks; k++) {
        stress_task *t = &st.tasks[first + (uint32_t)k];
        t->count = tokens;
        t->in = (int16_t)prev;
        if (k < nlinks) {
            /* pick a channel above prev, leaving room for the later links */
            int lo = prev + 1, hi = st.nchans - (nlinks - k);
            prev = lo + (int)rng_next(rng, (uint32_t)(hi - lo + 1));
            t->out = (int16_t)prev;
        } else {
            t->out = NO_CHAN;
        }
    }
    for (uint32_t k = 0; k < nstages; k++) {
        if (spawn_child(first + k, join) != 0)
            return k;
    }
    return nstages;
}

static void run_job(uint32_t id, uint64_t *rng)
{
    uint32_t next = id + 1, rest = st.tasks[id].count - 1;
    tgo_wg *join = rest > 0 && rng_next(rng, 2) ? tgo_wg_new() : NULL;
    maybe_pause(id, rng);
    maybe_lock(rng);
    while (rest > 0) {
        uint32_t room = rest - 1;                  /* stages beyond the first */
        if (room > (uint32_t)st.nchans)
            room = (uint32_t)st.nchans;
        if (room > MAX_STAGES - 1)
            room = MAX_STAGES - 1;
        uint32_t spent, spawned;
        if (room > 0 && rng_next(rng, 3) == 0) {
            spent = 2 + rng_next(rng, room);
            spawned = spawn_pipeline(next, spent, join, rng);
        } else {
            spent = 1 + rng_next(rng, rest);
            st.tasks[next].count = spent;
            st.tasks[next].in = NOT_A_STAGE;
            spawned = spawn_child(next, join) == 0 ? spent : 0;
        }
        if (spawned < spent) {
            stress_abort();
            for (uint32_t i = spawned; i < rest; i++)   /* ids that never run */
                tgo_wg_done(st.all);
            break;
        }
        next += spent;
        rest -= spent;
        if (rng_next(rng, 8) == 0)
            tgo_yield();
    }
    if (join) {
        tgo_wg_wait(join);
        tgo_wg_free(join);
    }
}

static void run_stage(uint32_t id, uint64_t *rng)
{
    const stress_task *t = &st.tasks[id];
    tgo_chan *in = t->in >= 0 ? st.chans[t->in] : NULL;
    tgo_chan *out = t->out >= 0 ? st.chans[t->out] : NULL;
    for (uint32_t j = 0; j < t->count; j++) {
        uint64_t v;
        if (in) {
            if (tgo_chan_recv(in, &v) != 0) {
                note_first(&st.closed_early, id);
                return;
            }
        } else {
            v = token_value(id, j);
            wl_per_p_add(st.sent_sum, v);
            wl_per_p_add(st.sent_count, 1);
        }
        if (out) {
            if (rng_next(rng, 8) == 0)
                tgo_yield();
            if (tgo_chan_send(out, &v) != 0) {
                note_first(&st.closed_early, id);
                return;
            }
        } else {
            wl_per_p_add(st.recv_sum, v);
            wl_per_p_add(st.recv_count, 1);
        }
    }
}

static void stress_task_fn(void *arg)
{
    uint32_t id = (uint32_t)(uintptr_t)arg;
    if (atomic_exchange(&st.ran[id], 1) != 0)
        note_first(&st.ran_twice, id);
    uint64_t rng = rng_seeded(id);
    tgo_wg *join = st.tasks[id].join;
    if (st.tasks[id].in == NOT_A_STAGE)
        run_job(id, &rng);
    else
        run_stage(id, &rng);
    if (join)
        tgo_wg_done(join);
    tgo_wg_done(st.all);
}

static void stress_free(void)
{
    for (int c = 0; st.chans && c < st.nchans; c++) {
        if (st.chans[c])
            tgo_chan_free(st.chans[c]);
    }
    free(st.chans);
    free(st.tasks);
    free((void *)st.ran);
    if (st.all)
        tgo_wg_free(st.all);
    if (st.mu)
        tgo_mutex_free(st.mu);
    st.chans = NULL;
    st.tasks = NULL;
    st.ran = NULL;
    st.all = NULL;
    st.mu = NULL;
}

static int stress_alloc(void)
{
    st.tasks = calloc(st.ntasks, sizeof *st.tasks);
    st.ran = calloc(st.ntasks, sizeof *st.ran);
    st.chans = calloc((size_t)st.nchans, sizeof *st.chans);
    st.all = tgo_wg_new();
    st.mu = tgo_mutex_new();
    if (!st.tasks || !st.ran || !st.chans || !st.all || !st.mu)
        return -1;
    static const size_t caps[] = {0, 0, 1, 2, 8};
    uint64_t rng = rng_seeded((uint64_t)1 << 40);
    for (int c = 0; c < st.nchans; c++) {
        st.chans[c] = tgo_chan_new(sizeof(uint64_t),
                                   caps[rng_next(&rng, sizeof caps / sizeof caps[0])]);
        if (!st.chans[c])
            return -1;
    }
    return 0;
}

static void stress_reset(const wl_args *args)
{
    st.seed = (uint64_t)args->num[P_SEED];
    st.ntasks = (uint32_t)args->num[P_TASKS];
    st.nchans = (int)args->num[P_CHANS];
    st.mu_counter = 0;
    atomic_store(&st.ran_twice, 0);
    atomic_store(&st.closed_early, 0);
    atomic_store(&st.woke_early, 0);
    atomic_store(&st.errno_lost, 0);
    atomic_store(&st.out_of_memory, 0);
    wl_per_p_reset(st.sent_sum);
    wl_per_p_reset(st.sent_count);
    wl_per_p_reset(st.recv_sum);
    wl_per_p_reset(st.recv_count);
    wl_per_p_reset(st.mu_entries);
}

/* The run's verdict once every task has ended: 0, or -1 with the first
 * fault found. */
static int check_run(const wl_args *args, wl_loop_out *out)
{
    unsigned long long seed = st.seed;
    uint64_t twice = atomic_load(&st.ran_twice), closed = atomic_load(&st.closed_early);
    uint64_t errno_lost = atomic_load(&st.errno_lost), early = atomic_load(&st.woke_early);
    uint32_t missing = st.ntasks;
    for (uint32_t id = 0; id < st.ntasks && missing == st.ntasks; id++) {
        if (atomic_load_explicit(&st.ran[id], memory_order_relaxed) == 0)
            missing = id;
    }
    uint64_t sent = wl_per_p_sum(st.sent_count), received = wl_per_p_sum(st.recv_count);
    uint64_t mu_entries = wl_per_p_sum(st.mu_entries);
    if (atomic_load(&st.out_of_memory)) {
        wl_fail(out, "stress seed=%llu: out of memory spawning tasks%s; lower tasks%s", seed,
                wl_too_many_alive(), wl_smaller_stacks(args));
    } else if (twice) {
        wl_fail(out, "stress seed=%llu: task %llu ran twice", seed,
                (unsigned long long)(twice - 1));
    } else if (missing < st.ntasks) {
        wl_fail(out, "stress seed=%llu: task %u never ran", seed, missing);
    } else if (closed) {
        wl_fail(out, "stress seed=%llu: task %llu found its channel closed", seed,
                (unsigned long long)(closed - 1));
    } else if (sent != received ||
               wl_per_p_sum(st.sent_sum) != wl_per_p_sum(st.recv_sum)) {
        wl_fail(out, "stress seed=%llu: %llu tokens sent, %llu received, or their "
                "values differ: a token was lost, duplicated or corrupted",
                seed, (unsigned long long)sent, (unsigned long long)received);
    } else if (errno_lost) {
        wl_fail(out, "stress seed=%llu: task %llu's errno changed across its yields",
                seed, (unsigned long long)(errno_lost - 1));
    } else if (early) {
        wl_fail(out, "stress seed=%llu: a sleep of task %llu returned before its deadline",
                seed, (unsigned long long)(early - 1));
    } else if (st.mu_counter != mu_entries) {
        wl_fail(out, "stress seed=%llu: the mutex counter is %llu after %llu "
                "critical sections: the mutex did not exclude", seed,
                (unsigned long long)st.mu_counter, (unsigned long long)mu_entries);
    } else {
        return 0;
    }
    return -1;
}

static int stress_loop(const wl_args *args, wl_loop_out *out)
{
    stress_reset(args);
    unsigned long long seed = st.seed;
    if (stress_alloc() != 0) {
        stress_free();
        wl_fail(out, "stress seed=%llu: out of memory for %u tasks", seed, st.ntasks);
        return -1;
    }
    st.tasks[0].count = st.ntasks;
    st.tasks[0].in = NOT_A_STAGE;

    uint64_t t0 = tgo_now_ns();
    tgo_wg_add(st.all, st.ntasks);
    if (spawn_child(0, NULL) != 0) {
        stress_free();
        wl_fail(out, "stress seed=%llu: out of memory spawning the first task", seed);
        return -1;
    }
    tgo_wg_wait(st.all);
    uint64_t t1 = tgo_now_ns();

    int rc = check_run(args, out);
    if (rc == 0) {
        out->elapsed_ns = t1 - t0;
        out->ops = st.ntasks;
    }
    stress_free();
    return rc;
}

const workload wl_stress = {
    .name = "stress",
    .unit = "task",
    .help = "a seeded random mix of spawn trees and channel pipelines with "
            "yields, sleeps and a mutex; checks every task ran exactly once",
    .params = params,
    .nparams = sizeof params / sizeof params[0],
    .loop = stress_loop,
};
