/*
 * netread.c - tgo_read's end cases, for tests/test_netread.py.
 *
 *   netread PROCS ROUNDS SEED
 *
 * A short read of a TCP socket lets the next read wait for an edge without
 * calling read() first (netpoll.c). Each round here runs, on fresh
 * connections and many at once:
 *
 *   fin     a writer sends a few bytes and closes at once while the reader
 *           waits: the reader gets the bytes, then 0 (end of file), even
 *           when the data and the FIN came in one event;
 *   dgram   several datagrams queued at once: each read returns one, and
 *           the reads after the first find the rest without a new edge;
 *   stream  a byte pattern in random chunks with random pauses, read with
 *           random buffer sizes, checked byte by byte, to the end of file;
 *
 * over TCP on 127.0.0.1, where the rule applies, and over Unix stream
 * sockets, where it does not (datagrams over a Unix datagram pair). A lost wakeup hangs, which the test's timeout
 * turns into a failure naming the seed; a wrong byte or count exits 1.
 * Prints "ok BYTES" with the bytes checked.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tgo.h"

enum { PAIRS = 16, BUF = 4096, STREAM_BYTES = 20000 };

static struct sockaddr_in listen_addr;
static int listener = -1;
static int rounds;
static uint64_t seed;
static _Atomic uint64_t bytes_checked;

static uint64_t next_random(uint64_t *state)
{
    uint64_t x = (*state += 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static unsigned char pattern(uint64_t key, size_t i)
{
    return (unsigned char)(key * 131 + i * 7 + (i >> 8));
}

static void fail(const char *what, long got, long want)
{
    fprintf(stderr, "netread: %s: got %ld, want %ld (seed %llu)\n", what, got, want,
            (unsigned long long)seed);
    exit(1);
}

/* A connected pair: TCP over loopback (tcp) or a Unix socket pair. */
static void connected_pair(int type, bool tcp, int fds[2])
{
    if (!tcp) {
        if (socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
            fail("socketpair", errno, 0);
        return;
    }
    int c = tgo_socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0)
        fail("socket", c, 0);
    int err = tgo_connect(c, (struct sockaddr *)&listen_addr, sizeof listen_addr);
    if (err)
        fail("connect", err, 0);
    int a = tgo_accept(listener, NULL, NULL);
    if (a < 0)
        fail("accept", a, 0);
    fds[0] = a;
    fds[1] = c;
}

static void pause_randomly(uint64_t *rng)
{
    switch (next_random(rng) % 4) {
    case 0: tgo_yield(); break;
    case 1: tgo_sleep_ns(next_random(rng) % 50000); break;
    default: break;
    }
}

typedef struct pair_job {
    int fd;
    uint64_t key;
    size_t len;     /* fin: bytes sent; dgram: datagrams sent */
    tgo_wg *wg;
} pair_job;

/* ---- fin ------------------------------------------------------------------ */

static void send_then_close(void *arg)
{
    pair_job *j = arg;
    uint64_t rng = j->key;
    pause_randomly(&rng);
    unsigned char out[64];
    for (size_t i = 0; i < j->len; i++)
        out[i] = pattern(j->key, i);
    if (tgo_write(j->fd, out, j->len) != (ssize_t)j->len)
        fail("fin: write", (long)j->len, (long)j->len);
    tgo_close(j->fd);
    tgo_wg_done(j->wg);
}

static void read_to_eof(void *arg)
{
    pair_job *j = arg;
    unsigned char in[BUF];
    size_t got = 0;
    for (;;) {
        ssize_t n = tgo_read(j->fd, in + got, sizeof in - got);
        if (n < 0)
            fail("fin: read", n, 0);
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got != j->len)
        fail("fin: bytes before end of file", (long)got, (long)j->len);
    for (size_t i = 0; i < got; i++)
        if (in[i] != pattern(j->key, i))
            fail("fin: byte", (long)i, -1);
    atomic_fetch_add(&bytes_checked, got);
    tgo_close(j->fd);
    tgo_wg_done(j->wg);
}

/* ---- dgram ---------------------------------------------------------------- */

static void send_datagrams(void *arg)
{
    pair_job *j = arg;
    uint64_t rng = j->key;
    pause_randomly(&rng);
    for (size_t d = 0; d < j->len; d++) {
        unsigned char out[32];
        size_t size = 1 + d;
        for (size_t i = 0; i < size; i++)
            out[i] = pattern(j->key + d, i);
        if (tgo_write(j->fd, out, size) != (ssize_t)size)
            fail("dgram: write", (long)d, -1);
    }
    tgo_wg_done(j->wg);
}

static void read_datagrams(void *arg)
{
    pair_job *j = arg;
    for (size_t d = 0; d < j->len; d++) {
        unsigned char in[BUF];
        ssize_t n = tgo_read(j->fd, in, sizeof in);
        if (n != (ssize_t)(1 + d))
            fail("dgram: datagram size", (long)n, (long)(1 + d));
        for (ssize_t i = 0; i < n; i++)
            if (in[i] != pattern(j->key + d, (size_t)i))
                fail("dgram: byte", (long)i, -1);
        atomic_fetch_add(&bytes_checked, (uint64_t)n);
    }
    tgo_wg_done(j->wg);
}

/* ---- stream --------------------------------------------------------------- */

static void send_stream(void *arg)
{
    pair_job *j = arg;
    uint64_t rng = j->key;
    unsigned char out[BUF];
    for (size_t sent = 0; sent < j->len;) {
        size_t chunk = 1 + next_random(&rng) % (next_random(&rng) % 2 ? 64 : BUF);
        if (chunk > j->len - sent)
            chunk = j->len - sent;
        for (size_t i = 0; i < chunk; i++)
            out[i] = pattern(j->key, sent + i);
        if (tgo_write(j->fd, out, chunk) != (ssize_t)chunk)
            fail("stream: write", (long)sent, -1);
        sent += chunk;
        pause_randomly(&rng);
    }
    tgo_close(j->fd);
    tgo_wg_done(j->wg);
}

static void read_stream(void *arg)
{
    pair_job *j = arg;
    uint64_t rng = j->key ^ 0x5555;
    unsigned char in[BUF];
    size_t got = 0;
    for (;;) {
        size_t want = 1 + next_random(&rng) % (next_random(&rng) % 2 ? 16 : BUF);
        ssize_t n = tgo_read(j->fd, in, want);
        if (n < 0)
            fail("stream: read", n, 0);
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (in[i] != pattern(j->key, got + (size_t)i))
                fail("stream: byte at offset", (long)(got + (size_t)i), -1);
        got += (size_t)n;
        if (next_random(&rng) % 8 == 0)
            pause_randomly(&rng);
    }
    if (got != j->len)
        fail("stream: bytes before end of file", (long)got, (long)j->len);
    atomic_fetch_add(&bytes_checked, got);
    tgo_close(j->fd);
    tgo_wg_done(j->wg);
}

/* ---- rounds --------------------------------------------------------------- */

typedef struct round_case {
    int type;
    bool tcp;
    tgo_fn reader, writer;
    size_t (*length)(uint64_t *rng);
} round_case;

static size_t fin_length(uint64_t *rng) { return 1 + next_random(rng) % 64; }
static size_t dgram_count(uint64_t *rng) { return 2 + next_random(rng) % 5; }
static size_t stream_length(uint64_t *rng) { return STREAM_BYTES + next_random(rng) % STREAM_BYTES; }

static const round_case cases[] = {
    {SOCK_STREAM, true, read_to_eof, send_then_close, fin_length},
    {SOCK_STREAM, false, read_to_eof, send_then_close, fin_length},
    {SOCK_DGRAM, false, read_datagrams, send_datagrams, dgram_count},
    {SOCK_STREAM, true, read_stream, send_stream, stream_length},
    {SOCK_STREAM, false, read_stream, send_stream, stream_length},
};

/* PAIRS connections of one case at once: the reader spawned first, so
 * that it usually waits before anything is sent. */
static void run_case(const round_case *c, uint64_t *rng)
{
    pair_job jobs[2 * PAIRS];
    tgo_wg *wg = tgo_wg_new();
    tgo_wg_add(wg, 2 * PAIRS);
    for (int p = 0; p < PAIRS; p++) {
        int fds[2];
        connected_pair(c->type, c->tcp, fds);
        uint64_t key = next_random(rng);
        size_t len = c->length(rng);
        jobs[2 * p] = (pair_job){fds[0], key, len, wg};
        jobs[2 * p + 1] = (pair_job){fds[1], key, len, wg};
        if (tgo_spawn(c->reader, &jobs[2 * p]) || tgo_spawn(c->writer, &jobs[2 * p + 1]))
            fail("spawn", -ENOMEM, 0);
    }
    tgo_wg_wait(wg);
    tgo_wg_free(wg);
    if (c->type == SOCK_DGRAM)
        for (int p = 0; p < 2 * PAIRS; p++)
            tgo_close(jobs[p].fd);
}

static void open_listener(void)
{
    listener = tgo_socket(AF_INET, SOCK_STREAM, 0);
    listen_addr = (struct sockaddr_in){.sin_family = AF_INET,
                                       .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof listen_addr;
    if (listener < 0 || bind(listener, (struct sockaddr *)&listen_addr, len) != 0 ||
        listen(listener, 4 * PAIRS) != 0 ||
        getsockname(listener, (struct sockaddr *)&listen_addr, &len) != 0)
        fail("listen", errno, 0);
}

static void main_task(void *arg)
{
    (void)arg;
    open_listener();
    uint64_t rng = seed;
    for (int r = 0; r < rounds; r++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            run_case(&cases[c], &rng);
    tgo_close(listener);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: netread PROCS ROUNDS SEED\n");
        return 2;
    }
    tgo_config cfg = {.procs = atoi(argv[1])};
    rounds = atoi(argv[2]);
    seed = strtoull(argv[3], NULL, 10);
    int err = tgo_run(&cfg, main_task, NULL, NULL);
    if (err) {
        fprintf(stderr, "netread: tgo_run: %d\n", err);
        return 1;
    }
    printf("ok %llu\n", (unsigned long long)atomic_load(&bytes_checked));
    return 0;
}
