/*
 * wl_net.c - the loopback echo service of the network workloads; the model
 * is in wl_net.h.
 *
 * Opening n connections: the loop task connects them one by one while the
 * acceptor task accepts them, spawns a server task for each and reports
 * every accepted index on a channel. The loop lets at most ACCEPT_WINDOW
 * connections wait for their accept: the listen backlog then never
 * overflows (an overflowing backlog drops SYNs, and the connect that lost
 * one stalls for the kernel's 1 s retransmission), and waiting on the
 * channel parks the loop task, so that the acceptor runs even on one P.
 * The channel holds ACCEPT_WINDOW + 1 tokens (the window and a final
 * error), so the acceptor never blocks on it.
 *
 * A failed open (out of descriptors, ports or memory) stops the acceptor by
 * shutting the listener down (accept then fails with EINVAL), ends the
 * servers it started, closes everything, and says which limit was hit and
 * what to do about it.
 */
#include "wl_net.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { ACCEPT_WINDOW = 64, DIRENT_BYTES = 32768 };

/* ---- framing and payload -------------------------------------------------- */

int wl_reader_init(wl_reader *r, int fd)
{
    *r = (wl_reader){.fd = fd, .cap = WL_READER_BYTES};
    r->buf = malloc(WL_READER_BYTES);
    return r->buf ? 0 : -ENOMEM;
}

void wl_reader_free(wl_reader *r)
{
    free(r->buf);
    r->buf = NULL;
}

ssize_t wl_read_full(wl_reader *r, void *dst, size_t n)
{
    unsigned char *to = dst;
    size_t got = 0;
    while (got < n) {
        if (r->start < r->end) {
            size_t k = r->end - r->start < n - got ? r->end - r->start : n - got;
            memcpy(to + got, r->buf + r->start, k);
            r->start += k;
            got += k;
            continue;
        }
        /* As bufio: a read as large as the buffer bypasses it. */
        bool direct = n - got >= r->cap;
        ssize_t k = direct ? tgo_read(r->fd, to + got, n - got) : tgo_read(r->fd, r->buf, r->cap);
        if (k < 0)
            return k;
        if (k == 0)
            return (ssize_t)got;
        if (direct) {
            got += (size_t)k;
        } else {
            r->start = 0;
            r->end = (size_t)k;
        }
    }
    return (ssize_t)got;
}

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void wl_payload_fill(unsigned char *p, size_t n, uint64_t conn, uint64_t seq)
{
    uint64_t x = mix64(conn << 32 ^ seq);
    for (size_t i = 0; i < n; i++) {
        if (i % 8 == 0)
            x = mix64(x);
        p[i] = (unsigned char)(x >> (8 * (i % 8)));
    }
}

void wl_frame_header(unsigned char *p, uint32_t n)
{
    p[0] = (unsigned char)n;
    p[1] = (unsigned char)(n >> 8);
    p[2] = (unsigned char)(n >> 16);
    p[3] = (unsigned char)(n >> 24);
}

static uint32_t frame_length(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int wl_open_fds(void)
{
    /* getdents64 into the heap: no stdio and little stack, so that it runs
     * on a 2 KiB task stack. */
    int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return -1;
    char *buf = malloc(DIRENT_BYTES);
    int count = buf ? 0 : -1;
    long n;
    while (buf && (n = syscall(SYS_getdents64, dir, buf, DIRENT_BYTES)) > 0) {
        for (long off = 0; off < n;) {
            unsigned short reclen;
            memcpy(&reclen, buf + off + 16, sizeof reclen); /* d_reclen after d_ino, d_off */
            const char *name = buf + off + 19;              /* after d_type */
            if (name[0] != '.')
                count++;
            off += reclen;
        }
    }
    if (buf && n < 0)
        count = -1;
    free(buf);
    close(dir);
    return count < 0 ? -1 : count - 1; /* not the directory's own descriptor */
}

/* ---- errors ------------------------------------------------------------------ */

static unsigned long long soft_file_limit(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY)
        return 0;
    return (unsigned long long)lim.rlim_cur;
}

/* The error e as a person can act on it: the limit it hit and the fix. */
static void describe(int e, const char *param, char *out, size_t outlen)
{
    const char *name = strerrorname_np(e);
    int n = snprintf(out, outlen, "%s (%s)", strerror(e), name ? name : "?");
    if (n < 0 || (size_t)n >= outlen)
        return;
    switch (e) {
    case EMFILE:
        snprintf(out + n, outlen - (size_t)n,
                 ": out of file descriptors (limit %llu); use fewer %s or raise the hard "
                 "RLIMIT_NOFILE (ulimit -Hn)", soft_file_limit(), param);
        break;
    case ENFILE:
        snprintf(out + n, outlen - (size_t)n,
                 ": the system's open-file table is full; use fewer %s or raise fs.file-max",
                 param);
        break;
    case EADDRNOTAVAIL:
        snprintf(out + n, outlen - (size_t)n,
                 ": out of local ports; use fewer %s or widen net.ipv4.ip_local_port_range",
                 param);
        break;
    case ENOMEM:
    case ENOBUFS:
        snprintf(out + n, outlen - (size_t)n, ": out of memory; use fewer %s", param);
        break;
    default:
        break;
    }
}

void wl_echo_fail(wl_echo *e, wl_echo_fault fault, int conn, uint64_t seq, int64_t detail)
{
    if (atomic_exchange(&e->failed, true))
        return; /* the first failure is the cause; the rest follow from it */
    e->first.fault = fault;
    e->first.conn = conn;
    e->first.seq = seq;
    e->first.detail = detail;

    atomic_store(&e->stopping, true);
    /* Wake every task parked on a connection; none of these descriptors is
     * closed before the tasks have finished (wl_echo_close). */
    for (int i = 0; i < e->conns; i++) {
        int c = atomic_load(&e->client_fds[i]), s = atomic_load(&e->server_fds[i]);
        if (c >= 0)
            shutdown(c, SHUT_RDWR);
        if (s >= 0)
            shutdown(s, SHUT_RDWR);
    }
    shutdown(e->listen_fd, SHUT_RDWR);
}

/* "Broken pipe", or what a zero detail means for a read. */
static const char *io_error(int64_t detail)
{
    return detail < 0 ? strerror((int)-detail) : "the peer closed the connection";
}

/* The first failure's message into out; on the loop task. */
static void report_first(wl_echo *e, wl_loop_out *out)
{
    int conn = e->first.conn;
    unsigned long long seq = (unsigned long long)e->first.seq;
    int64_t detail = e->first.detail;
    switch (e->first.fault) {
    case WL_ECHO_SERVER_MEMORY:
        wl_fail(out, "%s: out of memory for the buffers of server %d", e->name, conn);
        break;
    case WL_ECHO_SERVER_READ:
        wl_fail(out, "%s: server %d: reading a frame: %s", e->name, conn, io_error(detail));
        break;
    case WL_ECHO_SERVER_FRAME:
        wl_fail(out, "%s: server %d received a frame of %lld bytes, more than %zu", e->name,
                conn, (long long)detail, e->max_payload);
        break;
    case WL_ECHO_SERVER_WRITE:
        wl_fail(out, "%s: server %d: echoing a frame: %s", e->name, conn, io_error(detail));
        break;
    case WL_ECHO_CLIENT_WRITE:
        wl_fail(out, "%s: connection %d, request %llu: writing: %s", e->name, conn, seq,
                io_error(detail));
        break;
    case WL_ECHO_CLIENT_READ:
        wl_fail(out, "%s: connection %d, request %llu: reading the reply: %s", e->name, conn,
                seq, io_error(detail));
        break;
    case WL_ECHO_CLIENT_REPLY:
        wl_fail(out, "%s: connection %d, request %llu: the reply differs from the request",
                e->name, conn, seq);
        break;
    case WL_ECHO_CLIENT_TASKS:
        wl_fail(out, "%s: out of memory after starting %lld of %llu client tasks; use fewer "
                "%s", e->name, (long long)detail, seq, e->param);
        break;
    }
}

bool wl_echo_stopping(wl_echo *e)
{
    return atomic_load(&e->stopping);
}

/* ---- the service --------------------------------------------------------------- */

static void set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Echo frames on one connection until the client closes it. */
static void server_task(void *arg)
{
    wl_echo_end *end = arg;
    wl_echo *e = end->echo;
    int fd = atomic_load(&e->server_fds[end->index]);
    unsigned char *buf = malloc(WL_FRAME_HEADER + e->max_payload);
    wl_reader r = {0};
    if (!buf || wl_reader_init(&r, fd) != 0) {
        wl_echo_fail(e, WL_ECHO_SERVER_MEMORY, end->index, 0, 0);
        goto out;
    }
    for (;;) {
        ssize_t got = wl_read_full(&r, buf, WL_FRAME_HEADER);
        if (got == 0)
            break; /* closed between frames: done */
        bool whole = got == WL_FRAME_HEADER;
        uint32_t n = whole ? frame_length(buf) : 0;
        if (n > e->max_payload) {
            wl_echo_fail(e, WL_ECHO_SERVER_FRAME, end->index, 0, n);
            break;
        }
        if (whole) {
            got = wl_read_full(&r, buf + WL_FRAME_HEADER, n);
            whole = got == (ssize_t)n;
        }
        if (!whole) {
            if (!wl_echo_stopping(e))
                wl_echo_fail(e, WL_ECHO_SERVER_READ, end->index, 0, got < 0 ? got : 0);
            break;
        }
        atomic_store_explicit(&end->served_on, tgo_current_p(), memory_order_relaxed);
        ssize_t put = tgo_write(fd, buf, WL_FRAME_HEADER + n);
        if (put != (ssize_t)(WL_FRAME_HEADER + n)) {
            if (!wl_echo_stopping(e))
                wl_echo_fail(e, WL_ECHO_SERVER_WRITE, end->index, 0, put < 0 ? put : -EPIPE);
            break;
        }
    }
out:
    wl_reader_free(&r);
    free(buf);
    tgo_wg_done(e->servers);
}

/* Accept the connections, start a server for each, and report each index
 * (or -errno, once, and stop) on e->accepted. */
static void acceptor_task(void *arg)
{
    wl_echo *e = arg;
    for (int i = 0; i < e->conns; i++) {
        int fd = tgo_accept(e->listen_fd, NULL, NULL);
        int token = fd < 0 ? fd : i;
        if (fd >= 0) {
            set_nodelay(fd);
            atomic_store(&e->server_fds[i], fd);
            tgo_wg_add(e->servers, 1);
            if (tgo_spawn(server_task, &e->ends[i]) != 0) {
                tgo_wg_done(e->servers);
                token = -ENOMEM;
            }
        }
        tgo_chan_send(e->accepted, &token); /* never blocks: see the top */
        if (token < 0)
            break;
    }
    tgo_wg_done(e->acceptor_done);
}

/* End the servers, close every descriptor, free the service. Only when no
 * other task uses a client end and the acceptor has finished. */
static void teardown(wl_echo *e)
{
    atomic_store(&e->stopping, true);
    for (int i = 0; e->client_fds && i < e->conns; i++) {
        int c = atomic_load(&e->client_fds[i]);
        if (c >= 0)
            shutdown(c, SHUT_RDWR); /* the server reads end of file and returns */
    }
    if (e->servers)
        tgo_wg_wait(e->servers);
    for (int i = 0; e->client_fds && i < e->conns; i++) {
        int c = atomic_load(&e->client_fds[i]), s = atomic_load(&e->server_fds[i]);
        if (c >= 0)
            tgo_close(c);
        if (s >= 0)
            tgo_close(s);
    }
    if (e->listen_fd >= 0)
        tgo_close(e->listen_fd);
    free(e->client_fds);
    free(e->server_fds);
    free(e->ends);
    tgo_wg_free(e->servers);
    tgo_wg_free(e->acceptor_done);
    tgo_chan_free(e->accepted);
    e->client_fds = NULL;
    e->server_fds = NULL;
    e->ends = NULL;
    e->servers = e->acceptor_done = NULL;
    e->accepted = NULL;
    e->listen_fd = -1;
}

/* The acceptor's next token: 0 and one more connection accepted, or the
 * -errno it stopped with (counted too: it names the failed connection). */
static int take_accepted(wl_echo *e, int *accepted)
{
    int token;
    tgo_chan_recv(e->accepted, &token);
    ++*accepted;
    return token < 0 ? token : 0;
}

static int listen_loopback(wl_echo *e)
{
    int fd = tgo_socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return fd;
    e->listen_fd = fd;
    e->addr = (struct sockaddr_in){.sin_family = AF_INET,
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof e->addr;
    if (bind(fd, (struct sockaddr *)&e->addr, sizeof e->addr) != 0 ||
        listen(fd, SOMAXCONN) != 0 ||
        getsockname(fd, (struct sockaddr *)&e->addr, &len) != 0)
        return -errno;
    return 0;
}

int wl_echo_open(wl_echo *e, const char *name, int conns, size_t max_payload,
                 const char *noun, const char *param, wl_loop_out *out)
{
    *e = (wl_echo){.name = name, .param = param, .conns = conns, .max_payload = max_payload,
                   .listen_fd = -1};
    unsigned long long need = 2ull * (unsigned long long)conns + 16, limit = soft_file_limit();
    if (limit && need > limit) {
        wl_fail(out, "%s: %d %s need %llu descriptors (client and server ends), the limit is "
                "%llu; use %s <= %llu or raise the hard RLIMIT_NOFILE (ulimit -Hn)",
                name, conns, noun, need, limit, param, limit > 16 ? (limit - 16) / 2 : 0);
        return -1;
    }
    e->client_fds = malloc((size_t)conns * sizeof *e->client_fds);
    e->server_fds = malloc((size_t)conns * sizeof *e->server_fds);
    e->ends = aligned_alloc(_Alignof(wl_echo_end), (size_t)conns * sizeof *e->ends);
    e->servers = tgo_wg_new();
    e->acceptor_done = tgo_wg_new();
    e->accepted = tgo_chan_new(sizeof(int), ACCEPT_WINDOW + 1);
    if (!e->client_fds || !e->server_fds || !e->ends || !e->servers || !e->acceptor_done ||
        !e->accepted) {
        /* teardown walks client_fds only once every array is there */
        free(e->client_fds);
        e->client_fds = NULL;
        teardown(e);
        wl_fail(out, "%s: out of memory for %d %s; use fewer %s", name, conns, noun, param);
        return -1;
    }
    for (int i = 0; i < conns; i++) {
        atomic_init(&e->client_fds[i], -1);
        atomic_init(&e->server_fds[i], -1);
        e->ends[i] = (wl_echo_end){e, i, -1};
    }

    char *why = e->why; /* not on the stack: the loop task's may be 2 KiB */
    int err = listen_loopback(e);
    if (err < 0) {
        describe(-err, param, why, sizeof e->why);
        teardown(e);
        wl_fail(out, "%s: listening on 127.0.0.1: %s", name, why);
        return -1;
    }
    tgo_wg_add(e->acceptor_done, 1);
    if (tgo_spawn(acceptor_task, e) != 0) {
        tgo_wg_done(e->acceptor_done);
        teardown(e);
        wl_fail(out, "%s: out of memory starting the acceptor task", name);
        return -1;
    }

    /* Connect every client end, keeping at most ACCEPT_WINDOW of them
     * waiting for their accept. failed_at: the 1-based connection that
     * failed, at `step`. */
    const char *step = NULL;
    int failed_at = 0, accepted = 0;
    for (int i = 0; i < conns && !err; i++) {
        int fd = tgo_socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            err = fd, step = "creating its socket", failed_at = i + 1;
            break;
        }
        set_nodelay(fd);
        if ((err = tgo_connect(fd, (struct sockaddr *)&e->addr, sizeof e->addr)) < 0) {
            tgo_close(fd);
            step = "connecting", failed_at = i + 1;
            break;
        }
        atomic_store(&e->client_fds[i], fd);
        while (!err && accepted < i + 1 - ACCEPT_WINDOW)
            err = take_accepted(e, &accepted);
        if (err)
            step = "accepting it", failed_at = accepted;
    }
    while (!err && accepted < conns) {
        if ((err = take_accepted(e, &accepted)) < 0)
            step = "accepting it", failed_at = accepted;
    }
    if (err) {
        atomic_store(&e->stopping, true);
        shutdown(e->listen_fd, SHUT_RDWR); /* a parked accept fails with EINVAL */
        tgo_wg_wait(e->acceptor_done);
        if (atomic_load(&e->failed)) {
            report_first(e, out); /* a task failed first, and made this fail */
        } else {
            describe(-err, param, why, sizeof e->why);
            wl_fail(out, "%s: opening connection %d of %d (%s): %s", name, failed_at, conns,
                    step, why);
        }
        teardown(e);
        return -1;
    }
    tgo_wg_wait(e->acceptor_done);
    if (atomic_load(&e->failed)) {
        teardown(e);
        report_first(e, out);
        return -1;
    }
    return 0;
}

int wl_echo_close(wl_echo *e, wl_loop_out *out)
{
    teardown(e);
    if (!atomic_load(&e->failed))
        return 0;
    report_first(e, out);
    return -1;
}

int wl_echo_round_trip(wl_echo *e, wl_reader *r, int conn, uint64_t seq,
                       const unsigned char *out, unsigned char *in, size_t size)
{
    size_t frame = WL_FRAME_HEADER + size;
    ssize_t got = tgo_write(r->fd, out, frame);
    if (got != (ssize_t)frame) {
        if (!wl_echo_stopping(e))
            wl_echo_fail(e, WL_ECHO_CLIENT_WRITE, conn, seq, got < 0 ? got : -EPIPE);
        return -1;
    }
    got = wl_read_full(r, in, frame);
    if (got != (ssize_t)frame) {
        if (!wl_echo_stopping(e))
            wl_echo_fail(e, WL_ECHO_CLIENT_READ, conn, seq, got < 0 ? got : 0);
        return -1;
    }
    if (memcmp(in, out, frame) != 0) {
        wl_echo_fail(e, WL_ECHO_CLIENT_REPLY, conn, seq, 0);
        return -1;
    }
    return 0;
}

bool wl_echo_served_here(wl_echo *e, int conn)
{
    return atomic_load_explicit(&e->ends[conn].served_on, memory_order_relaxed) ==
           tgo_current_p();
}
