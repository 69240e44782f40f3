/*
 * spawn - one task spawns N trivial tasks and waits for them: the cost of
 * creating, scheduling, running and retiring a task. Each task adds its
 * index into its P's slot; the sum must be N(N-1)/2.
 *
 * The wait counts in two levels, so that the workload's bookkeeping is not
 * the hot spot it measures (see wl_util.h). A task counts down the group of
 * GROUP consecutive indices it belongs to, a counter on lines of its own,
 * and the task that empties a group tells the wait group, which counts
 * groups. With one wait-group counter that every task wrote, its line moved
 * between the CPUs on nearly every task: a fifth of tgo's time per task and
 * a quarter of gmp's on 2 CPUs, and more with every CPU added.
 */
#include <stdlib.h>

#include "workload.h"
#include "wl_util.h"

enum { P_TASKS };

static const wl_param_spec params[] = {
    [P_TASKS] = {"tasks", WL_INT, 1000000, 1, 100000000, NULL, NULL,
                 "tasks spawned per loop"},
};

/* smaller than the batch a P takes from a shared queue at once (half a
 * ring, 128), so that a group's tasks seldom run on two Ps at once */
enum { GROUP = 64 };

static struct {
    tgo_wg *done;            /* counts the groups not yet empty */
    wl_slot *left;           /* per group: its tasks not yet done */
    wl_per_p index_sum;
} st;

/* acq_rel: the group's other tasks' writes happen before the wait group
 * hears of the group, and so before the waiter reads the slots. */
static void task_done(uint64_t index)
{
    if (atomic_fetch_sub_explicit(&st.left[index / GROUP].v, 1, memory_order_acq_rel) == 1)
        tgo_wg_done(st.done);
}

static void spawn_task(void *arg)
{
    wl_per_p_add(st.index_sum, (uint64_t)(uintptr_t)arg);
    task_done((uint64_t)(uintptr_t)arg);
}

/* The wait group and the group counters for n tasks; -1: out of memory. */
static int counts_new(uint64_t n)
{
    uint64_t groups = (n + GROUP - 1) / GROUP;
    st.done = tgo_wg_new();
    st.left = aligned_alloc(sizeof(wl_slot), groups * sizeof(wl_slot));
    if (!st.done || !st.left)
        return -1;
    for (uint64_t g = 0; g < groups; g++) {
        uint64_t size = g + 1 < groups ? GROUP : n - g * GROUP;
        atomic_store_explicit(&st.left[g].v, size, memory_order_relaxed);
    }
    tgo_wg_add(st.done, (int64_t)groups);
    return 0;
}

static void counts_free(void)
{
    if (st.done)
        tgo_wg_free(st.done);
    free(st.left);
    st.done = NULL;
    st.left = NULL;
}

static int spawn_loop(const wl_args *args, wl_loop_out *out)
{
    uint64_t n = (uint64_t)args->num[P_TASKS];
    wl_per_p_reset(st.index_sum);

    if (counts_new(n) != 0) {
        counts_free();
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
        task_done(i);
    tgo_wg_wait(st.done);
    uint64_t t1 = tgo_now_ns();
    counts_free();

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
    .help = "one task spawns N trivial tasks and waits for them (counted in groups of 64)",
    .params = params,
    .nparams = sizeof params / sizeof params[0],
    .loop = spawn_loop,
};
