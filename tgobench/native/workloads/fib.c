/*
 * fib - fork-join fib(n): every call is a task; an inner node spawns its
 * two children, waits for them on its own wait group and adds their
 * results. The tree has 2*fib(n+1)-1 tasks and the root returns fib(n);
 * both are checked. The value is per task.
 */
#include "workload.h"
#include "wl_util.h"

enum { P_N };

static const wl_param_spec params[] = {
    [P_N] = {"n", WL_INT, 25, 1, 40, NULL, NULL, "compute fib(n)"},
};

/* Lives on the parent's stack, which stays put while the parent waits. */
typedef struct fib_node {
    int n;
    uint64_t result;
    tgo_wg *parent_done;
} fib_node;

static struct {
    _Atomic int failed;
    wl_per_p tasks;
} st;

static void fib_task(void *arg)
{
    fib_node *me = arg;
    wl_per_p_add(st.tasks, 1);
    if (me->n < 2) {
        me->result = (uint64_t)me->n;
    } else {
        fib_node kids[2] = {{me->n - 1, 0, NULL}, {me->n - 2, 0, NULL}};
        tgo_wg *done = tgo_wg_new();
        if (!done) {
            atomic_store_explicit(&st.failed, 1, memory_order_relaxed);
        } else {
            kids[0].parent_done = kids[1].parent_done = done;
            tgo_wg_add(done, 2);
            for (int i = 0; i < 2; i++) {
                if (tgo_spawn(fib_task, &kids[i]) != 0) {
                    atomic_store_explicit(&st.failed, 1, memory_order_relaxed);
                    tgo_wg_done(done);
                }
            }
            tgo_wg_wait(done);
            tgo_wg_free(done);
        }
        me->result = kids[0].result + kids[1].result;
    }
    tgo_wg_done(me->parent_done);   /* `me` may be gone after this */
}

static uint64_t fib_closed(int n)
{
    uint64_t a = 0, b = 1;
    for (int i = 0; i < n; i++) {
        uint64_t next = a + b;
        a = b;
        b = next;
    }
    return a;
}

static int fib_loop(const wl_args *args, wl_loop_out *out)
{
    int n = (int)args->num[P_N];
    uint64_t want_result = fib_closed(n), want_tasks = 2 * fib_closed(n + 1) - 1;
    tgo_wg *done = tgo_wg_new();
    if (!done) {
        wl_fail(out, "fib: out of memory allocating a wait group");
        return -1;
    }
    atomic_store(&st.failed, 0);
    wl_per_p_reset(st.tasks);
    fib_node root = {n, 0, done};

    uint64_t t0 = tgo_now_ns();
    tgo_wg_add(done, 1);
    if (tgo_spawn(fib_task, &root) != 0) {
        atomic_store(&st.failed, 1);
        tgo_wg_done(done);
    }
    tgo_wg_wait(done);
    uint64_t t1 = tgo_now_ns();
    tgo_wg_free(done);

    if (atomic_load(&st.failed)) {
        wl_fail(out, "fib: out of memory spawning %llu tasks%s; lower n%s",
                (unsigned long long)want_tasks, wl_too_many_alive(), wl_smaller_stacks(args));
        return -1;
    }
    uint64_t got_tasks = wl_per_p_sum(st.tasks);
    if (root.result != want_result || got_tasks != want_tasks) {
        wl_fail(out, "fib: fib(%d) gave %llu in %llu tasks, expected %llu in %llu",
                n, (unsigned long long)root.result, (unsigned long long)got_tasks,
                (unsigned long long)want_result, (unsigned long long)want_tasks);
        return -1;
    }
    out->elapsed_ns = t1 - t0;
    out->ops = want_tasks;
    wl_metric_add(out, "result", (double)root.result, true);
    return 0;
}

const workload wl_fib = {
    .name = "fib",
    .unit = "task",
    .help = "fork-join fib(n), one task per call and a wait group per inner "
            "call; the value is per task",
    .params = params,
    .nparams = sizeof params / sizeof params[0],
    .loop = fib_loop,
};
