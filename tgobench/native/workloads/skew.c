/*
 * skew - one task spawns N tasks of uneven length: task i burns
 * units * 2^(h(i) mod 6) steps of an LCG (1x to 32x the base), h a fixed
 * hash of i, so which tasks are long is deterministic but scattered. Each
 * P sums the final LCG states and the work units it ran; the checksum is
 * recomputed serially after the timed part. `balance` is the busiest P's
 * work units over the mean per P: 1.0 is a perfect spread.
 */
#include "workload.h"
#include "wl_util.h"

enum { P_TASKS, P_UNITS };

static const wl_param_spec params[] = {
    [P_TASKS] = {"tasks", WL_INT, 10000, 1, 10000000, NULL, NULL,
                 "tasks spawned per loop"},
    [P_UNITS] = {"units", WL_INT, 200, 1, 1000000, NULL, NULL,
                 "LCG steps of the shortest task; the longest take 32x"},
};

static struct {
    tgo_wg *done;
    uint64_t units;
    wl_per_p checksum;
    wl_per_p work;
} st;

static uint64_t task_work(uint64_t i, uint64_t units)
{
    return units << (wl_mix64(i) % 6);
}

static void skew_task(void *arg)
{
    uint64_t i = (uintptr_t)arg, work = task_work(i, st.units);
    uint64_t x = wl_burn(i, work);
    wl_per_p_add(st.checksum, x);
    wl_per_p_add(st.work, work);
    tgo_wg_done(st.done);
}

static int skew_loop(const wl_args *args, wl_loop_out *out)
{
    uint64_t n = (uint64_t)args->num[P_TASKS];
    st.units = (uint64_t)args->num[P_UNITS];
    st.done = tgo_wg_new();
    if (!st.done) {
        wl_fail(out, "skew: out of memory allocating a wait group");
        return -1;
    }
    wl_per_p_reset(st.checksum);
    wl_per_p_reset(st.work);

    uint64_t spawned = 0;
    uint64_t t0 = tgo_now_ns();
    tgo_wg_add(st.done, (int64_t)n);
    for (; spawned < n; spawned++) {
        if (tgo_spawn(skew_task, (void *)(uintptr_t)spawned) != 0)
            break;
    }
    for (uint64_t i = spawned; i < n; i++)
        tgo_wg_done(st.done);
    tgo_wg_wait(st.done);
    uint64_t t1 = tgo_now_ns();
    tgo_wg_free(st.done);

    if (spawned < n) {
        wl_fail(out, "skew: out of memory after %llu of %llu tasks; lower tasks",
                (unsigned long long)spawned, (unsigned long long)n);
        return -1;
    }
    uint64_t want_sum = 0, want_work = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t work = task_work(i, st.units);
        want_sum += wl_burn(i, work);
        want_work += work;
    }
    uint64_t got_sum = wl_per_p_sum(st.checksum), got_work = wl_per_p_sum(st.work);
    if (got_sum != want_sum || got_work != want_work) {
        wl_fail(out, "skew: checksum %llu over %llu work units, expected %llu over %llu: "
                "a task was lost, ran twice or computed wrongly",
                (unsigned long long)got_sum, (unsigned long long)got_work,
                (unsigned long long)want_sum, (unsigned long long)want_work);
        return -1;
    }
    int procs = tgo_procs();
    uint64_t busiest = 0;
    for (int p = 0; p < procs; p++) {
        uint64_t w = wl_per_p_get(st.work, p);
        busiest = w > busiest ? w : busiest;
    }
    out->elapsed_ns = t1 - t0;
    out->ops = n;
    wl_metric_add(out, "balance", (double)busiest * procs / (double)want_work, false);
    return 0;
}

const workload wl_skew = {
    .name = "skew",
    .unit = "task",
    .help = "one task spawns tasks whose length varies 32x by index; "
            "balance = the busiest P's work over the mean per P",
    .params = params,
    .nparams = sizeof params / sizeof params[0],
    .loop = skew_loop,
};
