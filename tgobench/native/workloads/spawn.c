/*
 * spawn - one task spawns N trivial tasks and waits for them: the cost of
 * creating, scheduling, running and retiring a task. Each task adds its
 * index into its P's slot; the sum must be N(N-1)/2.
 *
 * The wait counts in two levels, so that the workload's bookkeeping is not
 * the hot spot it measures (see wl_util.h). A task counts down the group of
 * WL_GROUP_TASKS consecutive indices it belongs to, a counter on lines of
 * its own, and the task that empties a group tells the wait group, which
 * counts groups. With one wait-group counter that every task wrote, its
 * line moved between the CPUs on nearly every task: a fifth of tgo's time
 * per task and a quarter of gmp's on 2 CPUs, and more with every CPU added.
 */
#include "workload.h"
#include "wl_util.h"

enum { P_TASKS };

static const wl_param_spec params[] = {
    [P_TASKS] = {"tasks", WL_INT, 1000000, 1, 100000000, NULL, NULL,
                 "tasks spawned per loop"},
};

static struct {
    wl_groups wait;
    wl_per_p index_sum;
} st;

static void spawn_task(void *arg)
{
    uint64_t index = (uintptr_t)arg;
    wl_per_p_add(st.index_sum, index);
    wl_groups_done(&st.wait, index / WL_GROUP_TASKS, 1);
}

static int spawn_loop(const wl_args *args, wl_loop_out *out)
{
    uint64_t n = (uint64_t)args->num[P_TASKS];
    wl_per_p_reset(st.index_sum);

    uint64_t groups = (n + WL_GROUP_TASKS - 1) / WL_GROUP_TASKS;
    uint64_t last = n - (groups - 1) * WL_GROUP_TASKS;
    if (wl_groups_new(&st.wait, groups, WL_GROUP_TASKS, last, 0) != 0) {
        wl_groups_free(&st.wait);
        wl_fail(out, "spawn: out of memory allocating the wait's counters");
        return -1;
    }

    uint64_t spawned = 0;
    uint64_t t0 = tgo_now_ns();
    for (; spawned < n; spawned++) {
        if (tgo_spawn(spawn_task, (void *)(uintptr_t)spawned) != 0)
            break;
    }
    for (uint64_t i = spawned; i < n; i++)   /* unblock the wait on failure */
        wl_groups_done(&st.wait, i / WL_GROUP_TASKS, 1);
    tgo_wg_wait(st.wait.done);
    uint64_t t1 = tgo_now_ns();
    wl_groups_free(&st.wait);

    if (spawned < n) {
        wl_fail(out, "spawn: out of memory after %llu of %llu tasks%s; lower tasks%s",
                (unsigned long long)spawned, (unsigned long long)n, wl_too_many_alive(),
                wl_smaller_stacks(args));
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
    .help = "one task spawns N trivial tasks and waits for them (counted in groups of 64)",
    .params = params,
    .nparams = sizeof params / sizeof params[0],
    .loop = spawn_loop,
};
