/*
 * chan - ping-pong over two unbuffered channels: the loop's task sends i,
 * a second task answers i+1, R times. Both sides check every value; the
 * value is per round trip (two rendezvous, two wake-ups).
 *
 * same_p_share: of every SAME_P_SAMPLE-th round, the share in which the
 * loop's task got its answer on the P the answer was sent from. Both tasks
 * on one P and the two on two Ps are two regimes, an order of magnitude
 * apart where wake-ups go back to their origin (tgo); a loop's time is
 * their mixture, and this says in what proportion.
 */
#include "workload.h"
#include "wl_util.h"

enum { P_ROUNDS };
enum { SAME_P_SAMPLE = 16 };

static const wl_param_spec params[] = {
    [P_ROUNDS] = {"rounds", WL_INT, 200000, 1, 1e9, NULL, NULL,
                  "round trips per loop"},
};

static struct {
    tgo_chan *ping, *pong;
    tgo_wg *done;
    uint64_t rounds;
    _Atomic uint64_t pong_bad;   /* 0, or 1 + the round pong saw wrong */
    /* the P pong answered a sampled round from, on a line of its own */
    _Alignas(64) _Atomic int pong_p;
} st;

static void pong_task(void *arg)
{
    (void)arg;
    uint64_t v;
    for (uint64_t i = 0; i < st.rounds; i++) {
        if (tgo_chan_recv(st.ping, &v) != 0)
            break;                       /* ping closed early: it failed */
        if (v != i) {
            atomic_store(&st.pong_bad, i + 1);
            break;
        }
        v = i + 1;
        if (i % SAME_P_SAMPLE == 0) /* before the send that ping reads it after */
            atomic_store_explicit(&st.pong_p, tgo_current_p(), memory_order_relaxed);
        if (tgo_chan_send(st.pong, &v) != 0)
            break;
    }
    tgo_chan_close(st.pong);
    tgo_wg_done(st.done);
}

static int chan_loop(const wl_args *args, wl_loop_out *out)
{
    st.rounds = (uint64_t)args->num[P_ROUNDS];
    st.ping = tgo_chan_new(sizeof(uint64_t), 0);
    st.pong = tgo_chan_new(sizeof(uint64_t), 0);
    st.done = tgo_wg_new();
    atomic_store(&st.pong_bad, 0);
    int rc = 0;
    if (!st.ping || !st.pong || !st.done) {
        wl_fail(out, "chan: out of memory allocating channels");
        rc = -1;
        goto out_free;
    }

    uint64_t t0 = tgo_now_ns();
    tgo_wg_add(st.done, 1);
    if (tgo_spawn(pong_task, NULL) != 0) {
        wl_fail(out, "chan: out of memory spawning the answering task");
        rc = -1;
        goto out_free;
    }
    uint64_t bad_round = 0, bad_value = 0;
    uint64_t closed_round = 0;           /* 0, or 1 + the round a channel closed */
    uint64_t sampled = 0, same_p = 0;
    for (uint64_t i = 0; i < st.rounds; i++) {
        uint64_t v = i;
        if (tgo_chan_send(st.ping, &v) != 0 || tgo_chan_recv(st.pong, &v) != 0) {
            closed_round = i + 1;
            break;
        }
        if (v != i + 1) {
            bad_round = i + 1;
            bad_value = v;
            break;
        }
        if (i % SAME_P_SAMPLE == 0) {
            sampled++;
            same_p += atomic_load_explicit(&st.pong_p, memory_order_relaxed) == tgo_current_p();
        }
    }
    tgo_chan_close(st.ping);             /* releases pong if we stopped early */
    tgo_wg_wait(st.done);
    uint64_t t1 = tgo_now_ns();

    uint64_t pong_bad = atomic_load(&st.pong_bad);
    if (pong_bad) {
        wl_fail(out, "chan: round %llu: the answering task received a wrong value",
                (unsigned long long)(pong_bad - 1));
        rc = -1;
    } else if (bad_round) {
        wl_fail(out, "chan: round %llu: answer %llu, expected %llu",
                (unsigned long long)(bad_round - 1), (unsigned long long)bad_value,
                (unsigned long long)bad_round);
        rc = -1;
    } else if (closed_round) {
        wl_fail(out, "chan: a channel closed unexpectedly at round %llu",
                (unsigned long long)(closed_round - 1));
        rc = -1;
    } else {
        out->elapsed_ns = t1 - t0;
        out->ops = st.rounds;
        wl_metric_add(out, "same_p_share", (double)same_p / (double)sampled, false);
    }
out_free:
    if (st.done)
        tgo_wg_free(st.done);
    if (st.pong)
        tgo_chan_free(st.pong);
    if (st.ping)
        tgo_chan_free(st.ping);
    return rc;
}

const workload wl_chan = {
    .name = "chan",
    .unit = "round trip",
    .help = "ping-pong between two tasks over two unbuffered channels",
    .params = params,
    .nparams = sizeof params / sizeof params[0],
    .loop = chan_loop,
};
