/*
 * parked - N tasks each signal that they are ready and block receiving from
 * one unbuffered channel; once all are parked the loop reads the resident
 * set size, then closes the channel, which releases every task. Released
 * tasks add their index into their P's slot: the count must be N and the
 * sum N(N-1)/2, and every receive must report the close.
 *
 * Timed: spawning until every task is ready, plus closing until every task
 * is released. Not timed: the short settle pause that lets the last tasks
 * reach the channel, and the RSS read.
 *
 * rss_kib_per_task is (RSS while parked - RSS of the runtime before it ran
 * any of these tasks) / N: the memory a blocked task costs, stack included.
 * The driver runs all loops of a request in one runtime, whose stack pool
 * keeps the stacks of the previous loop resident, so from the second loop
 * on the RSS before spawning already holds them and would hide them. A
 * loop is such a warm one when the previous loop parked as many tasks and
 * the RSS before spawning is still more than half way up to that loop's
 * parked RSS (a new runtime starts with no stacks, so its RSS is back near
 * the old baseline); a warm loop keeps the previous loop's baseline.
 */
#include <errno.h>

#include "workload.h"
#include "wl_util.h"

enum { P_TASKS };

enum { SETTLE_NS = 2000000 };

static const wl_param_spec params[] = {
    [P_TASKS] = {"tasks", WL_INT, 100000, 1, 10000000, NULL, NULL,
                 "tasks parked at once"},
};

static struct {
    tgo_chan *gate;
    tgo_wg *ready, *released;
    _Atomic int bad_recv;        /* a receive returned other than -EPIPE */
    wl_per_p count, index_sum;
    /* the previous loop, to recognise a warm one */
    uint64_t prev_tasks;
    int64_t prev_baseline, prev_parked;
} st;

static int64_t rss_baseline(uint64_t n, int64_t rss_before)
{
    bool warm = n == st.prev_tasks &&
                rss_before > st.prev_baseline + (st.prev_parked - st.prev_baseline) / 2;
    return warm ? st.prev_baseline : rss_before;
}

static void parked_task(void *arg)
{
    char elem;
    tgo_wg_done(st.ready);
    if (tgo_chan_recv(st.gate, &elem) != -EPIPE)
        atomic_store_explicit(&st.bad_recv, 1, memory_order_relaxed);
    wl_per_p_add(st.count, 1);
    wl_per_p_add(st.index_sum, (uint64_t)(uintptr_t)arg);
    tgo_wg_done(st.released);
}

static int parked_loop(const wl_args *args, wl_loop_out *out)
{
    uint64_t n = (uint64_t)args->num[P_TASKS];
    if (wl_check_live_tasks(out, args, "parked", n) != 0)
        return -1;
    st.gate = tgo_chan_new(1, 0);
    st.ready = tgo_wg_new();
    st.released = tgo_wg_new();
    int rc = 0;
    if (!st.gate || !st.ready || !st.released) {
        wl_fail(out, "parked: out of memory allocating a channel or wait group");
        rc = -1;
        goto out_free;
    }
    atomic_store(&st.bad_recv, 0);
    wl_per_p_reset(st.count);
    wl_per_p_reset(st.index_sum);
    int64_t rss_before = tgo_rss_kib();

    uint64_t spawned = 0;
    uint64_t t0 = tgo_now_ns();
    tgo_wg_add(st.ready, (int64_t)n);
    tgo_wg_add(st.released, (int64_t)n);
    for (; spawned < n; spawned++) {
        if (tgo_spawn(parked_task, (void *)(uintptr_t)spawned) != 0)
            break;
    }
    for (uint64_t i = spawned; i < n; i++) {
        tgo_wg_done(st.ready);
        tgo_wg_done(st.released);
    }
    tgo_wg_wait(st.ready);
    uint64_t t1 = tgo_now_ns();

    tgo_sleep_ns(SETTLE_NS);
    int64_t rss_parked = tgo_rss_kib();

    uint64_t t2 = tgo_now_ns();
    tgo_chan_close(st.gate);
    tgo_wg_wait(st.released);
    uint64_t t3 = tgo_now_ns();

    uint64_t count = wl_per_p_sum(st.count), sum = wl_per_p_sum(st.index_sum);
    if (spawned < n) {
        wl_fail(out, "parked: out of memory after %llu of %llu tasks%s; lower tasks%s",
                (unsigned long long)spawned, (unsigned long long)n, wl_too_many_alive(),
                wl_smaller_stacks(args));
        rc = -1;
    } else if (count != n || sum != n * (n - 1) / 2) {
        wl_fail(out, "parked: %llu releases with index sum %llu, expected %llu "
                "and %llu: a task was lost or released twice",
                (unsigned long long)count, (unsigned long long)sum,
                (unsigned long long)n, (unsigned long long)(n * (n - 1) / 2));
        rc = -1;
    } else if (atomic_load(&st.bad_recv)) {
        wl_fail(out, "parked: a receive on the closed channel did not report "
                "the close (-EPIPE)");
        rc = -1;
    } else if (rss_before < 0 || rss_parked < 0) {
        wl_fail(out, "parked: cannot read /proc/self/statm for the RSS");
        rc = -1;
    } else {
        int64_t baseline = rss_baseline(n, rss_before);
        st.prev_tasks = n;
        st.prev_baseline = baseline;
        st.prev_parked = rss_parked;
        out->elapsed_ns = (t1 - t0) + (t3 - t2);
        out->ops = n;
        wl_metric_add(out, "rss_kib_per_task",
                      (double)(rss_parked - baseline) / (double)n, false);
    }
out_free:
    if (st.released)
        tgo_wg_free(st.released);
    if (st.ready)
        tgo_wg_free(st.ready);
    if (st.gate)
        tgo_chan_free(st.gate);
    return rc;
}

const workload wl_parked = {
    .name = "parked",
    .unit = "task",
    .help = "N tasks block on one channel, then all are released by its close; "
            "rss_kib_per_task is the memory each parked task costs",
    .params = params,
    .nparams = sizeof params / sizeof params[0],
    .loop = parked_loop,
};
