/*
 * rpc - a loopback TCP echo inside the driver (wl_net.h): an acceptor task,
 * one server task per connection, and client tasks that send framed
 * requests (4-byte little-endian length, `size` payload bytes that depend
 * on (conn, seq)) and check every reply byte for byte. The same workload as
 * the Go driver's rpc.go: parameters, framing, payload and metrics (but
 * same_p_share, which Go's runtime cannot tell).
 *
 * Closed loop: one client task per connection sends `requests` requests per
 * loop, one at a time; latency is from before the request is built to the
 * checked reply. same_p_share: of every SERVED_HERE_SAMPLE-th reply, the
 * share that its client read on the P its server wrote it from, that is,
 * how often both ends of a connection ran on one CPU: the socket's data is
 * then in that CPU's cache, and on two CPUs that decides much of the cost.
 * active_conns: the connections in use on average over the timed span, each
 * from its first send to its last reply; below conns when a scheduler
 * starts some clients late (while others already finished), and the run
 * then measured fewer connections than it was asked for.
 *
 * Open loop: the connections together send at `rate` requests per second
 * for `duration_ms`; request k of connection c is due (k * conns + c) / rate
 * seconds after the start. Each connection has a sender task, which sleeps
 * until a request is due and writes it, and a receiver task, which reads
 * and checks the replies and records each one's latency from the time the
 * request was DUE: a slow reply never delays a later send, and a late
 * sender or a stalled server shows as latency instead of as fewer requests
 * (no coordinated omission). Every due request is sent, so ops is the
 * schedule's count; elapsed_ns runs from the start to the last reply. The
 * sender also records how late it woke for each request (send_lag_ns): the
 * part of a request's latency spent before it was written, which tells a
 * late timer wake-up from a slow echo when the tail moves.
 *
 * Latency and send lag go into histograms per P (3 significant digits): a task
 * records into the P it runs on, with no switch point in between, so no
 * histogram has two writers; they are merged after the loop.
 *
 * Timed: from the moment every client may start until the last reply. Not
 * timed: opening and closing the connections. fds_before is counted before
 * the listener opens and fds_after after everything is closed: equal unless
 * a descriptor leaked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wl_net.h"
#include "workload.h"

enum { P_CONNS, P_SIZE, P_REQUESTS, P_MODE, P_RATE, P_DURATION_MS };
enum { SERVED_HERE_SAMPLE = 16 };

static const char *const modes[] = {"closed", "open", NULL};

static const wl_param_spec params[] = {
    [P_CONNS] = {"conns", WL_INT, 64, 1, 100000, NULL, NULL,
                 "connections, each with its own client and server task"},
    [P_SIZE] = {"size", WL_INT, 64, 1, 1048576, NULL, NULL, "payload bytes per message"},
    [P_REQUESTS] = {"requests", WL_INT, 1000, 1, 1e9, NULL, NULL,
                    "closed loop: requests per connection per loop"},
    [P_MODE] = {"mode", WL_STR, 0, 0, 0, "closed", modes,
                "closed: each client waits for its reply; open: requests at a fixed rate"},
    [P_RATE] = {"rate", WL_INT, 20000, 1, 10000000, NULL, NULL,
                "open loop: requests per second over all connections"},
    [P_DURATION_MS] = {"duration_ms", WL_INT, 1000, 1, 3600000, NULL, NULL,
                       "open loop: how long each loop sends"},
};

/* One connection's client side. In the open loop the sender writes `out`
 * and the receiver reads into `in` and builds the expected reply in `want`.
 * Cache lines of its own: clients on different Ps write theirs per request. */
typedef struct rpc_client {
    int id;
    uint64_t requests;            /* in a loop; open: those due within the duration */
    wl_reader reader;
    unsigned char *out, *in, *want;
    uint64_t sampled, served_here; /* closed loop: wl_echo_served_here, sampled */
    uint64_t active_ns;            /* closed loop: first send to last reply */
} __attribute__((aligned(64))) rpc_client;

static struct {
    wl_echo echo;
    rpc_client *clients;
    int conns;
    size_t size;
    uint64_t requests;            /* closed loop */
    double rate;                  /* open loop */
    uint64_t duration_ns;
    uint64_t t0;                  /* written before the gate opens */
    tgo_wg *gate, *done;
    tgo_hist *latency[TGO_MAX_PROCS];
    tgo_hist *send_lag[TGO_MAX_PROCS]; /* open loop */
    _Atomic uint64_t last_reply;  /* open loop: the latest reply's time */
} st;

static void record_latency(uint64_t ns)
{
    tgo_hist_record(st.latency[tgo_current_p()], ns);
}

/* ---- closed loop ---------------------------------------------------------------- */

static void closed_client(void *arg)
{
    rpc_client *c = arg;
    tgo_wg_wait(st.gate);
    uint64_t first = tgo_now_ns();
    for (uint64_t seq = 0; seq < c->requests; seq++) {
        uint64_t sent = tgo_now_ns();
        wl_payload_fill(c->out + WL_FRAME_HEADER, st.size, (uint64_t)c->id, seq);
        if (wl_echo_round_trip(&st.echo, &c->reader, c->id, seq, c->out, c->in, st.size) != 0)
            break;
        record_latency(tgo_now_ns() - sent);
        if (seq % SERVED_HERE_SAMPLE == 0) {
            c->sampled++;
            c->served_here += wl_echo_served_here(&st.echo, c->id);
        }
    }
    c->active_ns = tgo_now_ns() - first;
    tgo_wg_done(st.done);
}

/* ---- open loop ------------------------------------------------------------------ */

/* When request k of connection c is due, in ns from the start (the Go
 * driver's schedule, truncated the same way). */
static uint64_t due_ns(uint64_t c, uint64_t k)
{
    return (uint64_t)((double)(k * (uint64_t)st.conns + c) / st.rate * 1e9);
}

/* Requests of connection c due before the end of the loop's duration. */
static uint64_t requests_of(uint64_t c)
{
    uint64_t k = 0;
    while (due_ns(c, k) < st.duration_ns)
        k++;
    return k;
}

static void open_sender(void *arg)
{
    rpc_client *c = arg;
    tgo_wg_wait(st.gate);
    uint64_t n = c->requests;
    size_t frame = WL_FRAME_HEADER + st.size;
    for (uint64_t k = 0; k < n && !wl_echo_stopping(&st.echo); k++) {
        uint64_t due = st.t0 + due_ns((uint64_t)c->id, k), now = tgo_now_ns();
        if (due > now)
            tgo_sleep_ns(due - now);
        now = tgo_now_ns();
        tgo_hist_record(st.send_lag[tgo_current_p()], now > due ? now - due : 0);
        wl_payload_fill(c->out + WL_FRAME_HEADER, st.size, (uint64_t)c->id, k);
        ssize_t got = tgo_write(c->reader.fd, c->out, frame);
        if (got != (ssize_t)frame) {
            if (!wl_echo_stopping(&st.echo))
                wl_echo_fail(&st.echo, WL_ECHO_CLIENT_WRITE, c->id, k, got < 0 ? got : -EPIPE);
            break;
        }
    }
    tgo_wg_done(st.done);
}

static void open_receiver(void *arg)
{
    rpc_client *c = arg;
    tgo_wg_wait(st.gate);
    uint64_t n = c->requests;
    size_t frame = WL_FRAME_HEADER + st.size;
    uint64_t k = 0;
    for (; k < n; k++) {
        ssize_t got = wl_read_full(&c->reader, c->in, frame);
        uint64_t now = tgo_now_ns(), due = st.t0 + due_ns((uint64_t)c->id, k);
        if (got != (ssize_t)frame) {
            if (!wl_echo_stopping(&st.echo))
                wl_echo_fail(&st.echo, WL_ECHO_CLIENT_READ, c->id, k, got < 0 ? got : 0);
            break;
        }
        wl_payload_fill(c->want + WL_FRAME_HEADER, st.size, (uint64_t)c->id, k);
        if (memcmp(c->in, c->want, frame) != 0) {
            wl_echo_fail(&st.echo, WL_ECHO_CLIENT_REPLY, c->id, k, 0);
            break;
        }
        record_latency(now > due ? now - due : 0);
    }
    if (k == n && n > 0) {
        uint64_t now = tgo_now_ns(), last = atomic_load(&st.last_reply);
        while (now > last && !atomic_compare_exchange_weak(&st.last_reply, &last, now)) {
        }
    }
    tgo_wg_done(st.done);
}

/* ---- the loop ------------------------------------------------------------------- */

static void free_clients(void)
{
    for (int i = 0; st.clients && i < st.conns; i++) {
        wl_reader_free(&st.clients[i].reader);
        free(st.clients[i].out);
        free(st.clients[i].in);
        free(st.clients[i].want);
    }
    free(st.clients);
    st.clients = NULL;
}

static void free_state(void)
{
    free_clients();
    for (int p = 0; p < TGO_MAX_PROCS; p++) {
        tgo_hist_free(st.latency[p]);
        tgo_hist_free(st.send_lag[p]);
        st.latency[p] = st.send_lag[p] = NULL;
    }
    tgo_wg_free(st.gate);
    tgo_wg_free(st.done);
    st.gate = st.done = NULL;
}

/* Buffers and histograms; the client ends come from the open service. */
static int alloc_state(bool open_loop)
{
    size_t frame = WL_FRAME_HEADER + st.size;
    st.clients = aligned_alloc(_Alignof(rpc_client), (size_t)st.conns * sizeof *st.clients);
    if (st.clients)
        memset(st.clients, 0, (size_t)st.conns * sizeof *st.clients);
    st.gate = tgo_wg_new();
    st.done = tgo_wg_new();
    if (!st.clients || !st.gate || !st.done)
        return -1;
    for (int i = 0; i < st.conns; i++) {
        rpc_client *c = &st.clients[i];
        c->id = i;
        c->requests = open_loop ? requests_of((uint64_t)i) : st.requests; /* untimed */
        c->out = malloc(frame);
        c->in = malloc(frame);
        c->want = open_loop ? malloc(frame) : NULL;
        if (!c->out || !c->in || (open_loop && !c->want) ||
            wl_reader_init(&c->reader, atomic_load(&st.echo.client_fds[i])) != 0)
            return -1;
        wl_frame_header(c->out, (uint32_t)st.size);
        if (open_loop)
            wl_frame_header(c->want, (uint32_t)st.size);
    }
    for (int p = 0; p < tgo_procs(); p++) {
        if (!(st.latency[p] = tgo_hist_new()))
            return -1;
        if (open_loop && !(st.send_lag[p] = tgo_hist_new()))
            return -1;
    }
    return 0;
}

/* The per-P histograms as one; NULL when out of memory. */
static tgo_hist *merged(tgo_hist *const *per_p)
{
    tgo_hist *all = tgo_hist_new();
    for (int p = 0; all && p < tgo_procs(); p++)
        tgo_hist_merge(all, per_p[p]);
    return all;
}

/* One count per request in each histogram, or a reply or send was lost. */
static bool counted_once(const tgo_hist *h, uint64_t ops, const char *what, wl_loop_out *out)
{
    if (!h) {
        wl_fail(out, "rpc: out of memory merging the %s histograms", what);
        return false;
    }
    if (tgo_hist_count(h) != ops) {
        wl_fail(out, "rpc: %llu %s counted, %llu requests made: one was lost or counted twice",
                (unsigned long long)tgo_hist_count(h), what, (unsigned long long)ops);
        return false;
    }
    return true;
}

/* Every connection touches its buffers: the client's frames out and in,
 * the server's frame and two readers, and a message in the kernel's socket
 * buffers, whose memory is as real. 5000 connections of 1 MiB messages
 * peaked at 15 GB; ten thousand would bring the OOM killer, not an error.
 * 0, or -1 with out->error. */
static int check_buffer_memory(wl_loop_out *out)
{
    uint64_t frame = WL_FRAME_HEADER + st.size;
    uint64_t need_kib = (uint64_t)st.conns * (4 * frame + 2 * WL_READER_BYTES) / 1024;
    int64_t avail_kib = tgo_mem_available_kib();
    if (avail_kib >= 0 && need_kib > (uint64_t)avail_kib) {
        wl_fail(out, "rpc: %d connections of %zu-byte messages need about %llu MiB for their "
                "buffers, only %lld MiB is available; lower conns or size", st.conns, st.size,
                (unsigned long long)(need_kib / 1024), (long long)(avail_kib / 1024));
        return -1;
    }
    return 0;
}

/* Spawns each connection's client side (open loop: a sender and a
 * receiver), all held at st.gate; a task that cannot be spawned fails the
 * echo, and st.done stops waiting for it. */
static void start_clients(bool open_loop)
{
    int tasks_per_conn = open_loop ? 2 : 1, started = 0;
    tgo_wg_add(st.done, (int64_t)st.conns * tasks_per_conn);
    for (int i = 0; i < st.conns; i++) {
        if (tgo_spawn(open_loop ? open_sender : closed_client, &st.clients[i]) != 0)
            break;
        started++;
        if (open_loop) {
            if (tgo_spawn(open_receiver, &st.clients[i]) != 0)
                break;
            started++;
        }
    }
    int missing = st.conns * tasks_per_conn - started;
    if (missing) {
        wl_echo_fail(&st.echo, WL_ECHO_CLIENT_TASKS, -1,
                     (uint64_t)st.conns * (uint64_t)tasks_per_conn, started);
        tgo_wg_add(st.done, -(int64_t)missing);
    }
}

/* What the clients counted, over all connections. */
typedef struct rpc_tally {
    uint64_t requests, sampled, served_here, active_ns;
} rpc_tally;

static rpc_tally tally_clients(void)
{
    rpc_tally tally = {0, 0, 0, 0};
    for (int i = 0; i < st.conns; i++) {
        tally.requests += st.clients[i].requests;
        tally.sampled += st.clients[i].sampled;
        tally.served_here += st.clients[i].served_here;
        tally.active_ns += st.clients[i].active_ns;
    }
    return tally;
}

/* Throughput and latency; the open loop's send lag (lag), or the closed
 * loop's same_p_share and active_conns (lag NULL). */
static void add_metrics(wl_loop_out *out, const rpc_tally *tally, const tgo_hist *latency,
                        const tgo_hist *lag)
{
    uint64_t elapsed = out->elapsed_ns;
    wl_metric_add(out, "throughput_per_s",
                  elapsed ? (double)tally->requests * 1e9 / (double)elapsed : 0, false);
    wl_metric_add(out, "latency_ns.p50", (double)tgo_hist_percentile(latency, 50), true);
    wl_metric_add(out, "latency_ns.p90", (double)tgo_hist_percentile(latency, 90), true);
    wl_metric_add(out, "latency_ns.p99", (double)tgo_hist_percentile(latency, 99), true);
    wl_metric_add(out, "latency_ns.p999", (double)tgo_hist_percentile(latency, 99.9), true);
    wl_metric_add(out, "latency_ns.max", (double)tgo_hist_max(latency), true);
    if (lag) {
        wl_metric_add(out, "send_lag_ns.p50", (double)tgo_hist_percentile(lag, 50), true);
        wl_metric_add(out, "send_lag_ns.p99", (double)tgo_hist_percentile(lag, 99), true);
        wl_metric_add(out, "send_lag_ns.max", (double)tgo_hist_max(lag), true);
    } else {
        wl_metric_add(out, "same_p_share",
                      tally->sampled ? (double)tally->served_here / (double)tally->sampled : 0,
                      false);
        wl_metric_add(out, "active_conns",
                      elapsed ? (double)tally->active_ns / (double)elapsed : 0, false);
    }
}

static int rpc_loop(const wl_args *args, wl_loop_out *out)
{
    bool open_loop = strcmp(args->str[P_MODE], "open") == 0;
    st.conns = (int)args->num[P_CONNS];
    st.size = (size_t)args->num[P_SIZE];
    st.requests = (uint64_t)args->num[P_REQUESTS];
    st.rate = args->num[P_RATE];
    st.duration_ns = (uint64_t)args->num[P_DURATION_MS] * 1000000;
    atomic_store(&st.last_reply, 0);

    if (check_buffer_memory(out) != 0)
        return -1;
    int fds_before = wl_open_fds();
    if (wl_echo_open(&st.echo, "rpc", st.conns, st.size, "connections", "conns", out) != 0)
        return -1;
    if (alloc_state(open_loop) != 0) {
        free_state();
        wl_echo_close(&st.echo, out);
        wl_fail(out, "rpc: out of memory for %d connections of %zu-byte messages; lower conns "
                "or size", st.conns, st.size);
        return -1;
    }

    tgo_wg_add(st.gate, 1);
    start_clients(open_loop);
    st.t0 = tgo_now_ns();
    tgo_wg_done(st.gate);
    tgo_wg_wait(st.done);
    uint64_t end = open_loop ? atomic_load(&st.last_reply) : tgo_now_ns();

    int failed = wl_echo_close(&st.echo, out);
    rpc_tally tally = tally_clients();
    tgo_hist *latency = failed ? NULL : merged(st.latency);
    tgo_hist *lag = failed || !open_loop ? NULL : merged(st.send_lag);
    free_state();
    bool checked = !failed && counted_once(latency, tally.requests, "replies", out) &&
                   (!open_loop || counted_once(lag, tally.requests, "sends", out));
    if (checked) {
        out->elapsed_ns = end > st.t0 ? end - st.t0 : 0;
        out->ops = tally.requests;
        add_metrics(out, &tally, latency, lag);
        wl_metric_add(out, "fds_before", fds_before, true);
        wl_metric_add(out, "fds_after", wl_open_fds(), true);
    }
    tgo_hist_free(latency);
    tgo_hist_free(lag);
    return checked ? 0 : -1;
}

const workload wl_rpc = {
    .name = "rpc",
    .unit = "request",
    .help = "loopback TCP echo, a server task per connection and a client task per "
            "connection (open loop: a sender and a receiver); closed loop, or open loop at a "
            "fixed rate with latency from each request's scheduled send time",
    .params = params,
    .nparams = sizeof params / sizeof params[0],
    .loop = rpc_loop,
};
