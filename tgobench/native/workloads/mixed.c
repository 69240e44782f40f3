/*
 * mixed - tasks that cycle through a CPU burst, a socket round trip and a
 * timer sleep, the shape of a service handler (the Go driver's mixed.go):
 * `burst` LCG steps, one 64-byte request echoed over the task's own
 * loopback connection (the rpc framing and payload, checked; wl_net.h),
 * then tgo_sleep_ns(sleep_us). The value is per cycle; cycles_per_s is the
 * loop's rate. Each task's final LCG state is checked against a serial
 * recomputation: a cycle lost or run twice shows. A sleep that returns
 * before its deadline is an error too.
 *
 * sched_lat_p99_ns is the workload's own view of scheduling latency: the
 * p99, over every cycle of the measured part, of the time from the moment
 * a task's sleep ended (its deadline) until the task ran again, i.e. the
 * timer's expiry plus the wait from ready to running. The runtime's own
 * sampled ready-to-running latency, over every wakeup of the whole run, is
 * in counters.sched_lat_p99_ns. The Go driver measures both the same way
 * (its counters' from the runtime's /sched/latencies).
 */
#include <stdlib.h>

#include "wl_net.h"
#include "wl_util.h"
#include "workload.h"

enum { P_TASKS, P_CYCLES, P_BURST, P_SLEEP_US };
enum { PAYLOAD = 64 };

static const wl_param_spec params[] = {
    [P_TASKS] = {"tasks", WL_INT, 64, 1, 100000, NULL, NULL,
                 "tasks, each with its own connection"},
    [P_CYCLES] = {"cycles", WL_INT, 100, 1, 1e9, NULL, NULL, "cycles per task per loop"},
    [P_BURST] = {"burst", WL_INT, 2000, 0, 1e9, NULL, NULL,
                 "LCG steps of the CPU burst of a cycle"},
    [P_SLEEP_US] = {"sleep_us", WL_INT, 50, 0, 10000000, NULL, NULL,
                    "microseconds of timer sleep per cycle"},
};

typedef struct mixed_task {
    int id;
    wl_reader reader;
    unsigned char out[WL_FRAME_HEADER + PAYLOAD], in[WL_FRAME_HEADER + PAYLOAD];
    uint64_t state;               /* the LCG after the last burst */
    uint64_t early_ns;            /* the most a sleep returned before its deadline */
} mixed_task;

static struct {
    wl_echo echo;
    mixed_task *tasks;
    int ntasks;
    uint64_t cycles, burst, sleep_ns;
    tgo_wg *gate, *done;
    tgo_hist *wake[TGO_MAX_PROCS]; /* per P: one writer each, merged after */
} st;

static void mixed_task_run(void *arg)
{
    mixed_task *t = arg;
    tgo_wg_wait(st.gate);
    uint64_t x = (uint64_t)t->id;
    for (uint64_t seq = 0; seq < st.cycles; seq++) {
        x = wl_burn(x, st.burst);
        wl_payload_fill(t->out + WL_FRAME_HEADER, PAYLOAD, (uint64_t)t->id, seq);
        if (wl_echo_round_trip(&st.echo, &t->reader, t->id, seq, t->out, t->in, PAYLOAD) != 0)
            break;
        uint64_t due = tgo_now_ns() + st.sleep_ns;
        tgo_sleep_ns(st.sleep_ns);
        uint64_t now = tgo_now_ns();
        if (now < due && due - now > t->early_ns)
            t->early_ns = due - now;
        tgo_hist_record(st.wake[tgo_current_p()], now > due ? now - due : 0);
    }
    t->state = x;
    tgo_wg_done(st.done);
}

static void free_state(void)
{
    for (int i = 0; st.tasks && i < st.ntasks; i++)
        wl_reader_free(&st.tasks[i].reader);
    free(st.tasks);
    st.tasks = NULL;
    for (int p = 0; p < TGO_MAX_PROCS; p++) {
        tgo_hist_free(st.wake[p]);
        st.wake[p] = NULL;
    }
    tgo_wg_free(st.gate);
    tgo_wg_free(st.done);
    st.gate = st.done = NULL;
}

static int alloc_state(void)
{
    st.tasks = calloc((size_t)st.ntasks, sizeof *st.tasks);
    st.gate = tgo_wg_new();
    st.done = tgo_wg_new();
    if (!st.tasks || !st.gate || !st.done)
        return -1;
    for (int i = 0; i < st.ntasks; i++) {
        mixed_task *t = &st.tasks[i];
        t->id = i;
        wl_frame_header(t->out, PAYLOAD);
        if (wl_reader_init(&t->reader, atomic_load(&st.echo.client_fds[i])) != 0)
            return -1;
    }
    for (int p = 0; p < tgo_procs(); p++)
        if (!(st.wake[p] = tgo_hist_new()))
            return -1;
    return 0;
}

/* Each task's LCG state against a serial recomputation, and its sleeps
 * against their deadlines. */
static int check_tasks(wl_loop_out *out)
{
    for (int i = 0; i < st.ntasks; i++) {
        uint64_t want = wl_burn((uint64_t)i, st.burst * st.cycles);
        if (st.tasks[i].state != want) {
            wl_fail(out, "mixed: task %d ended its bursts in state %llu, expected %llu: a cycle "
                    "was lost or ran twice", i, (unsigned long long)st.tasks[i].state,
                    (unsigned long long)want);
            return -1;
        }
        if (st.tasks[i].early_ns) {
            wl_fail(out, "mixed: a sleep of %llu us by task %d returned %llu ns before its "
                    "deadline", (unsigned long long)(st.sleep_ns / 1000), i,
                    (unsigned long long)st.tasks[i].early_ns);
            return -1;
        }
    }
    return 0;
}

static int mixed_loop(const wl_args *args, wl_loop_out *out)
{
    st.ntasks = (int)args->num[P_TASKS];
    st.cycles = (uint64_t)args->num[P_CYCLES];
    st.burst = (uint64_t)args->num[P_BURST];
    st.sleep_ns = (uint64_t)args->num[P_SLEEP_US] * 1000;

    if (wl_echo_open(&st.echo, "mixed", st.ntasks, PAYLOAD, "tasks", "tasks", out) != 0)
        return -1;
    if (alloc_state() != 0) {
        free_state();
        wl_echo_close(&st.echo, out);
        wl_fail(out, "mixed: out of memory for %d tasks; lower tasks", st.ntasks);
        return -1;
    }

    int started = 0;
    tgo_wg_add(st.gate, 1);
    tgo_wg_add(st.done, st.ntasks);
    for (; started < st.ntasks; started++)
        if (tgo_spawn(mixed_task_run, &st.tasks[started]) != 0)
            break;
    if (started < st.ntasks) {
        wl_echo_fail(&st.echo, WL_ECHO_CLIENT_TASKS, -1, (uint64_t)st.ntasks, started);
        tgo_wg_add(st.done, -(int64_t)(st.ntasks - started));
    }

    uint64_t t0 = tgo_now_ns();
    tgo_wg_done(st.gate);
    tgo_wg_wait(st.done);
    uint64_t elapsed = tgo_now_ns() - t0;

    if (wl_echo_close(&st.echo, out) != 0) {
        free_state();
        return -1;
    }
    if (check_tasks(out) != 0) {
        free_state();
        return -1;
    }
    tgo_hist *wake = tgo_hist_new();
    for (int p = 0; wake && p < tgo_procs(); p++)
        tgo_hist_merge(wake, st.wake[p]);
    free_state();
    if (!wake) {
        wl_fail(out, "mixed: out of memory merging the latency histograms");
        return -1;
    }
    uint64_t ops = (uint64_t)st.ntasks * st.cycles, woken = tgo_hist_count(wake);
    if (woken != ops) {
        tgo_hist_free(wake);
        wl_fail(out, "mixed: %llu wakeups counted for %llu cycles: a cycle was lost or ran twice",
                (unsigned long long)woken, (unsigned long long)ops);
        return -1;
    }
    out->elapsed_ns = elapsed;
    out->ops = ops;
    wl_metric_add(out, "cycles_per_s", elapsed ? (double)ops * 1e9 / (double)elapsed : 0, false);
    wl_metric_add(out, "sched_lat_p99_ns", (double)tgo_hist_percentile(wake, 99), true);
    tgo_hist_free(wake);
    return 0;
}

const workload wl_mixed = {
    .name = "mixed",
    .unit = "cycle",
    .help = "tasks alternate a CPU burst, a socket round trip and a timer sleep; "
            "sched_lat_p99_ns is the p99 delay from a sleep's deadline until its task runs "
            "again (the runtime's sampled ready-to-running p99 is counters.sched_lat_p99_ns)",
    .params = params,
    .nparams = sizeof params / sizeof params[0],
    .loop = mixed_loop,
};
