/*
 * spawn-tree - recursive spawn from one task: every node of depth < d adds
 * b to the tree's wait group and spawns b children, so the tree has
 * sum_{i=0..d} b^i nodes and every P but the first gets its work by
 * stealing. Each node counts itself in its P's slot; the count must match.
 */
#include "workload.h"
#include "wl_util.h"

enum { P_FANOUT, P_DEPTH };

#define MAX_NODES 100000000ull

static const wl_param_spec params[] = {
    [P_FANOUT] = {"fanout", WL_INT, 4, 1, 64, NULL, NULL,
                  "children per inner node"},
    [P_DEPTH] = {"depth", WL_INT, 10, 0, 30, NULL, NULL,
                 "levels below the root (the tree has at most 1e8 nodes)"},
};

static struct {
    tgo_wg *done;
    int fanout;
    _Atomic int spawn_failed;
    wl_per_p nodes;
} st;

/* arg: the levels still to grow below this node. */
static void tree_node(void *arg)
{
    uintptr_t below = (uintptr_t)arg;
    wl_per_p_add(st.nodes, 1);
    if (below > 0) {
        int b = st.fanout;
        tgo_wg_add(st.done, b);
        int i = 0;
        while (i < b && tgo_spawn(tree_node, (void *)(below - 1)) == 0)
            i++;
        if (i < b) {
            atomic_store_explicit(&st.spawn_failed, 1, memory_order_relaxed);
            for (; i < b; i++)
                tgo_wg_done(st.done);
        }
    }
    tgo_wg_done(st.done);
}

/* sum_{i=0..depth} fanout^i, or 0 when it exceeds MAX_NODES. */
static uint64_t tree_size(uint64_t fanout, uint64_t depth)
{
    uint64_t level = 1, total = 1;
    for (uint64_t i = 0; i < depth; i++) {
        level *= fanout;
        total += level;
        if (level > MAX_NODES || total > MAX_NODES)
            return 0;
    }
    return total;
}

static int spawn_tree_loop(const wl_args *args, wl_loop_out *out)
{
    int fanout = (int)args->num[P_FANOUT], depth = (int)args->num[P_DEPTH];
    uint64_t want = tree_size((uint64_t)fanout, (uint64_t)depth);
    if (want == 0) {
        wl_fail(out, "spawn-tree: fanout %d and depth %d give more than 1e8 nodes; "
                "lower depth or fanout", fanout, depth);
        return -1;
    }
    st.done = tgo_wg_new();
    if (!st.done) {
        wl_fail(out, "spawn-tree: out of memory allocating a wait group");
        return -1;
    }
    st.fanout = fanout;
    atomic_store(&st.spawn_failed, 0);
    wl_per_p_reset(st.nodes);

    uint64_t t0 = tgo_now_ns();
    tgo_wg_add(st.done, 1);
    if (tgo_spawn(tree_node, (void *)(uintptr_t)depth) != 0) {
        atomic_store(&st.spawn_failed, 1);
        tgo_wg_done(st.done);
    }
    tgo_wg_wait(st.done);
    uint64_t t1 = tgo_now_ns();
    tgo_wg_free(st.done);

    if (atomic_load(&st.spawn_failed)) {
        wl_fail(out, "spawn-tree: out of memory spawning %llu nodes; "
                "lower depth or use stack_size 2048", (unsigned long long)want);
        return -1;
    }
    uint64_t got = wl_per_p_sum(st.nodes);
    if (got != want) {
        wl_fail(out, "spawn-tree: %llu nodes ran, expected %llu: "
                "a task was lost or ran twice",
                (unsigned long long)got, (unsigned long long)want);
        return -1;
    }
    out->elapsed_ns = t1 - t0;
    out->ops = want;
    return 0;
}

const workload wl_spawn_tree = {
    .name = "spawn-tree",
    .unit = "task",
    .help = "recursive spawn from one task, fan-out b, depth d; "
            "the value is per tree node",
    .params = params,
    .nparams = sizeof params / sizeof params[0],
    .loop = spawn_tree_loop,
};
