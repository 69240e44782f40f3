/*
 * spawn - one task spawns N trivial tasks and waits for them with a wait
 * group: the cost of creating, scheduling, running and retiring a task.
 * Each task adds its index into its P's slot; the sum must be N(N-1)/2.
 */
#include "workload.h"
#include "wl_util.h"

enum { P_TASKS };

static const wl_param_spec params[] = {
    [P_TASKS] = {"tasks", WL_INT, 1000000, 1, 100000000, NULL, NULL,
                 "tasks spawned per loop"},
};

static struct {
    tgo_wg *done;
    wl_per_p index_sum;
} st;

static void spawn_task(void *arg)
{
    wl_per_p_add(st.index_sum, (uint64_t)(uintptr_t)arg);
    tgo_wg_done(st.done);
}

static int spawn_loop(const wl_args *args, wl_loop_out *out)
{
    uint64_t n = (uint64_t)args->num[P_TASKS];
    st.done = tgo_wg_new();
    if (!st.done) {
        wl_fail(out, "spawn: out of memory allocating a wait group");
        return -1;
    }
    wl_per_p_reset(st.index_sum);

    uint64_t spawned = 0;
    uint64_t t0 = tgo_now_ns();
    tgo_wg_add(st.done, (int64_t)n);
    for (; spawned < n; spawned++) {
        if (tgo_spawn(spawn_task, (void *)(uintptr_t)spawned) != 0)
            break;
    }
    for (uint64_t i = spawned; i < n; i++)   /* unblock the wait on failure */
        tgo_wg_done(st.done);
    tgo_wg_wait(st.done);
    uint64_t t1 = tgo_now_ns();
    tgo_wg_free(st.done);

    if (spawned < n) {
        wl_fail(out, "spawn: out of memory after %llu of %llu tasks; "
                "lower tasks or use stack_size 2048",
                (unsigned long long)spawned, (unsigned long long)n);
        return -1;
    }
    uint64_t want = n * (n - 1) / 2, got = wl_per_p_sum(st.index_sum);
    if (got != want) {
        wl_fail(out, "spawn: sum of task indices is %llu, expected %llu: "
                "a task was lost or ran twice",
                (unsigned long long)got, (unsigned long long)want);
        return -1;
    }
    out->elapsed_ns = t1 - t0;
    out->ops = n;
    return 0;
}

const workload wl_spawn = {
    .name = "spawn",
    .unit = "task",
    .help = "one task spawns N trivial tasks and waits for them (wait group)",
    .params = params,
    .nparams = sizeof params / sizeof params[0],
    .loop = spawn_loop,
};
