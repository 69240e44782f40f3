/*
 * yield - K tasks each yield M times (Go's runtime.Gosched): the cost of a
 * switch through the scheduler. Each task counts the yields that returned
 * to it and stores the count in its own slot; every count must be M. That
 * holds however a yield behaves, so the runtime's own count is the check
 * that can fail: each yield switches into a task (its own, when nothing
 * else is runnable on its P), so a request of L loops switches at least
 * L * K * M times, and a yield that returned without a switch would have
 * measured nothing.
 */
#include <stdio.h>
#include <stdlib.h>

#include "workload.h"
#include "wl_util.h"

enum { P_TASKS, P_YIELDS };

static const wl_param_spec params[] = {
    [P_TASKS] = {"tasks", WL_INT, 4, 1, 1000000, NULL, NULL,
                 "tasks yielding at once"},
    [P_YIELDS] = {"yields", WL_INT, 250000, 1, 1e9, NULL, NULL,
                  "yields per task"},
};

static struct {
    tgo_wg *done;
    uint64_t yields;
    uint64_t *counted;   /* one per task, written once by its task */
} st;

static void yield_task(void *arg)
{
    uint64_t m = st.yields, n = 0;
    for (uint64_t i = 0; i < m; i++) {
        tgo_yield();
        n++;
    }
    st.counted[(uintptr_t)arg] = n;
    tgo_wg_done(st.done);
}

static int yield_loop(const wl_args *args, wl_loop_out *out)
{
    uint64_t k = (uint64_t)args->num[P_TASKS], m = (uint64_t)args->num[P_YIELDS];
    if (wl_check_live_tasks(out, args, "yield", k) != 0)
        return -1;
    st.yields = m;
    st.counted = calloc(k, sizeof *st.counted);
    st.done = tgo_wg_new();
    if (!st.counted || !st.done) {
        free(st.counted);
        if (st.done)
            tgo_wg_free(st.done);
        wl_fail(out, "yield: out of memory for %llu tasks", (unsigned long long)k);
        return -1;
    }

    uint64_t spawned = 0;
    uint64_t t0 = tgo_now_ns();
    tgo_wg_add(st.done, (int64_t)k);
    for (; spawned < k; spawned++) {
        if (tgo_spawn(yield_task, (void *)(uintptr_t)spawned) != 0)
            break;
    }
    for (uint64_t i = spawned; i < k; i++)
        tgo_wg_done(st.done);
    tgo_wg_wait(st.done);
    uint64_t t1 = tgo_now_ns();
    tgo_wg_free(st.done);

    int rc = 0;
    if (spawned < k) {
        wl_fail(out, "yield: out of memory after %llu of %llu tasks; lower tasks",
                (unsigned long long)spawned, (unsigned long long)k);
        rc = -1;
    }
    for (uint64_t i = 0; rc == 0 && i < k; i++) {
        if (st.counted[i] != m) {
            wl_fail(out, "yield: task %llu counted %llu yields, expected %llu",
                    (unsigned long long)i, (unsigned long long)st.counted[i],
                    (unsigned long long)m);
            rc = -1;
        }
    }
    free(st.counted);
    if (rc == 0) {
        out->elapsed_ns = t1 - t0;
        out->ops = k * m;
    }
    return rc;
}

static int yield_check_counters(const wl_args *args, long loops, const tgo_counters *total,
                                char *error, size_t error_len)
{
    uint64_t yields = (uint64_t)loops * (uint64_t)args->num[P_TASKS] *
                      (uint64_t)args->num[P_YIELDS];
    if (total->switches >= yields)
        return 0;
    snprintf(error, error_len,
             "yield: the runtime switched into a task %llu times for %llu yields: "
             "a yield returned without a switch",
             (unsigned long long)total->switches, (unsigned long long)yields);
    return -1;
}

const workload wl_yield = {
    .name = "yield",
    .unit = "switch",
    .help = "K tasks each yield M times (Gosched); the value is per yield",
    .params = params,
    .nparams = sizeof params / sizeof params[0],
    .loop = yield_loop,
    .check_counters = yield_check_counters,
};
