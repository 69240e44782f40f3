/*
 * spawn-tree - recursive spawn from one task: every node of depth < d
 * spawns b children, so the tree has sum_{i=0..d} b^i nodes and every P but
 * the first gets its work by stealing. Each node counts itself in its P's
 * slot; the count must match.
 *
 * The wait counts in two levels, as spawn's does, so that the workload's
 * bookkeeping is not the hot spot it measures: the subtrees rooted at depth
 * group_depth, the deepest whose subtrees have at least WL_GROUP_TASKS
 * nodes, are the groups, each counted down on lines of its own by its
 * nodes; the wait group counts the groups and the few nodes above them. A
 * node above the groups carries its position in its level, and a node in a
 * group the group's number.
 */
#include "workload.h"
#include "wl_util.h"

enum { P_FANOUT, P_DEPTH };
enum { MAX_DEPTH = 30, BELOW_BITS = 8 };

#define MAX_NODES 100000000ull

static const wl_param_spec params[] = {
    [P_FANOUT] = {"fanout", WL_INT, 4, 1, 64, NULL, NULL,
                  "children per inner node"},
    [P_DEPTH] = {"depth", WL_INT, 10, 0, MAX_DEPTH, NULL, NULL,
                 "levels below the root (the tree has at most 1e8 nodes)"},
};

static struct {
    wl_groups wait;           /* the wait group also counts the nodes above */
    int fanout, depth, group_depth;
    uint64_t subtree[MAX_DEPTH + 1];  /* nodes in a subtree rooted at depth k */
    _Atomic int spawn_failed;
    wl_per_p nodes;
} st;

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

/* A node's argument: where it is (its position in its level above the
 * groups, else its group) and the levels below it. */
static void *node_arg(uint64_t where, uint64_t below)
{
    return (void *)(uintptr_t)(where << BELOW_BITS | below);
}

/* Count down a node that ran, or (whole) the subtree rooted at it whose
 * spawn failed. Above the groups, the wait group counts each node and, for
 * each group, its root: a subtree there is tree_size(b, group_depth - depth)
 * of its units. */
static void count_down(uint64_t where, int depth, bool whole)
{
    if (depth < st.group_depth) {
        uint64_t n = whole ? tree_size((uint64_t)st.fanout, (uint64_t)(st.group_depth - depth)) : 1;
        tgo_wg_add(st.wait.done, -(int64_t)n);
        return;
    }
    wl_groups_done(&st.wait, where, whole ? st.subtree[depth] : 1);
}

static void tree_node(void *arg)
{
    uint64_t where = (uintptr_t)arg >> BELOW_BITS, below = (uintptr_t)arg & ((1u << BELOW_BITS) - 1);
    int depth = st.depth - (int)below;
    wl_per_p_add(st.nodes, 1);
    for (uint64_t j = 0; below > 0 && j < (uint64_t)st.fanout; j++) {
        /* a position down to the group depth, where it numbers the group */
        uint64_t child = depth < st.group_depth ? where * (uint64_t)st.fanout + j : where;
        if (tgo_spawn(tree_node, node_arg(child, below - 1)) != 0) {
            atomic_store_explicit(&st.spawn_failed, 1, memory_order_relaxed);
            count_down(child, depth + 1, true);
        }
    }
    count_down(where, depth, false);
}

/* The group depth and the wait for the tree of st.fanout and st.depth:
 * the groups, and the nodes above them counted one by one; -1: out of
 * memory. */
static int counts_new(void)
{
    int d = st.depth;
    for (int k = 0; k <= d; k++)
        st.subtree[k] = tree_size((uint64_t)st.fanout, (uint64_t)(d - k));
    st.group_depth = 0;
    for (int k = d; k > 0; k--)
        if (st.subtree[k] >= WL_GROUP_TASKS) {
            st.group_depth = k;
            break;
        }
    uint64_t above = st.group_depth ? tree_size((uint64_t)st.fanout, (uint64_t)st.group_depth - 1) : 0;
    uint64_t groups = tree_size((uint64_t)st.fanout, (uint64_t)st.group_depth) - above;
    uint64_t size = st.subtree[st.group_depth];
    return wl_groups_new(&st.wait, groups, size, size, above);
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
    st.fanout = fanout;
    st.depth = depth;
    atomic_store(&st.spawn_failed, 0);
    wl_per_p_reset(st.nodes);
    if (counts_new() != 0) {
        wl_groups_free(&st.wait);
        wl_fail(out, "spawn-tree: out of memory allocating the wait's counters");
        return -1;
    }

    uint64_t t0 = tgo_now_ns();
    if (tgo_spawn(tree_node, node_arg(0, (uint64_t)depth)) != 0) {
        atomic_store(&st.spawn_failed, 1);
        count_down(0, 0, true);
    }
    tgo_wg_wait(st.wait.done);
    uint64_t t1 = tgo_now_ns();
    wl_groups_free(&st.wait);

    if (atomic_load(&st.spawn_failed)) {
        wl_fail(out, "spawn-tree: out of memory spawning %llu nodes%s; lower depth%s",
                (unsigned long long)want, wl_too_many_alive(), wl_smaller_stacks(args));
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
