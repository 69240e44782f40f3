/*
 * bare_echo.c - the rpc workload's loopback echo without a runtime: plain
 * threads, each with its own level-triggered epoll loop, 64-byte frames
 * echoed byte for byte, every reply checked. It shows what the kernel
 * costs, and what it costs when a connection's two ends sit on different
 * CPUs, so that a runtime's figure has a floor to be read against.
 *
 *   together N   N threads, each holding both ends of its share of the
 *                connections (a request never leaves its thread's CPU)
 *   split        two threads, one holding every client end and the other
 *                every server end (each request crosses CPUs twice)
 *
 * Usage: bare_echo MODE CONNS REQUESTS [THREADS]; prints one line,
 * "req/s N", or a message and exits 1. rpc.py --bare builds and runs it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { SIZE = 64, MAX_EVENTS = 256, MAX_THREADS = 64 };

typedef struct conn {
    int client, server;
    uint64_t left;              /* requests still to send */
    unsigned char sent[SIZE];
} conn;

typedef struct loop {
    conn *conns;                /* every connection */
    int first, count;           /* the ones whose ends this loop holds */
    bool clients, servers;      /* which ends */
} loop;

static uint64_t requests;

static void die(const char *what)
{
    fprintf(stderr, "bare_echo: %s: %s\n", what, strerror(errno));
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fill(conn *c)
{
    for (int i = 0; i < SIZE; i++)
        c->sent[i] = (unsigned char)(c->left * 31 + (uint64_t)i);
}

static void send_request(conn *c)
{
    fill(c);
    if (write(c->client, c->sent, SIZE) != SIZE)
        die("client write");
}

typedef enum { GOING, CLIENT_DONE, PEER_CLOSED } outcome;

/* One readable end: a server echoes, a client checks and sends the next
 * request. */
static outcome serve(conn *c, bool server)
{
    unsigned char buf[SIZE];
    ssize_t got = read(server ? c->server : c->client, buf, SIZE);
    if (got < 0 && errno == EAGAIN)
        return GOING;
    if (got == 0 && server)
        return PEER_CLOSED;
    if (got != SIZE) /* 64 bytes in one segment arrive whole on loopback */
        die(got < 0 ? "read" : "short read");
    if (server) {
        if (write(c->server, buf, SIZE) != SIZE)
            die("server write");
        return GOING;
    }
    if (memcmp(buf, c->sent, SIZE) != 0) {
        errno = EPROTO;
        die("reply differs from request");
    }
    if (--c->left == 0)
        return CLIENT_DONE;
    send_request(c);
    return GOING;
}

static void watch(int ep, int fd, uint64_t tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
        die("epoll_ctl");
}

static void *run_loop(void *arg)
{
    loop *l = arg;
    int ep = epoll_create1(0);
    if (ep < 0)
        die("epoll_create1");
    for (int i = l->first; i < l->first + l->count; i++) {
        if (l->clients)
            watch(ep, l->conns[i].client, (uint64_t)i * 2);
        if (l->servers)
            watch(ep, l->conns[i].server, (uint64_t)i * 2 + 1);
    }
    int finished = 0, expect = l->clients ? l->count : 0;
    if (l->clients)
        for (int i = l->first; i < l->first + l->count; i++)
            send_request(&l->conns[i]);
    struct epoll_event evs[MAX_EVENTS];
    /* a loop of servers only ends once the clients are all done, which
     * main tells it by shutting their ends: a read of 0 bytes */
    for (bool closed = false; !closed && (!l->clients || finished < expect);) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int k = 0; k < n && !closed; k++) {
            outcome o = serve(&l->conns[evs[k].data.u64 / 2], evs[k].data.u64 & 1);
            finished += o == CLIENT_DONE;
            closed = o == PEER_CLOSED;
        }
    }
    close(ep);
    return NULL;
}

static void connect_pairs(conn *conns, int n)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &len) != 0 || listen(lfd, SOMAXCONN) != 0)
        die("listen on 127.0.0.1");
    for (int i = 0; i < n; i++) {
        conn *c = &conns[i];
        c->client = socket(AF_INET, SOCK_STREAM, 0);
        if (c->client < 0 || connect(c->client, (struct sockaddr *)&addr, sizeof addr) != 0)
            die("connect");
        if ((c->server = accept(lfd, NULL, NULL)) < 0)
            die("accept");
        for (int *fd = &c->client; fd <= &c->server; fd++)
            if (setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
                fcntl(*fd, F_SETFL, O_NONBLOCK) != 0)
                die("socket options");
        c->left = requests;
    }
    close(lfd);
}

static long parse(const char *s, const char *what, long max)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > max) {
        fprintf(stderr, "bare_echo: %s must be an integer in 1..%ld, got '%s'\n", what, max, s);
        exit(1);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[1], "together") != 0 && strcmp(argv[1], "split") != 0)) {
        fprintf(stderr, "usage: bare_echo together|split CONNS REQUESTS [THREADS]\n");
        return 1;
    }
    bool split = strcmp(argv[1], "split") == 0;
    int n = (int)parse(argv[2], "CONNS", 100000);
    requests = (uint64_t)parse(argv[3], "REQUESTS", 1000000000);
    int threads = split ? 2 : argc > 4 ? (int)parse(argv[4], "THREADS", MAX_THREADS) : 1;
    conn *conns = calloc((size_t)n, sizeof *conns);
    if (!conns)
        die("calloc");
    connect_pairs(conns, n);

    loop loops[MAX_THREADS];
    for (int t = 0; t < threads; t++) {
        int first = (int)((long)t * n / threads), next = (int)((long)(t + 1) * n / threads);
        loops[t] = split ? (loop){conns, 0, n, t == 0, t == 1}
                         : (loop){conns, first, next - first, true, true};
    }
    pthread_t ids[MAX_THREADS];
    double t0 = now_s();
    for (int t = 0; t < threads; t++)
        if (pthread_create(&ids[t], NULL, run_loop, &loops[t]) != 0)
            die("pthread_create");
    int timed = split ? 1 : threads; /* split: the loop of every client end */
    for (int t = 0; t < timed; t++)
        pthread_join(ids[t], NULL);
    double elapsed = now_s() - t0;
    if (split) {
        for (int i = 0; i < n; i++)
            shutdown(conns[i].client, SHUT_WR);
        pthread_join(ids[1], NULL);
    }
    for (int i = 0; i < n; i++)
        if (conns[i].left != 0) {
            fprintf(stderr, "bare_echo: connection %d has %llu requests left\n", i,
                    (unsigned long long)conns[i].left);
            return 1;
        }
    printf("req/s %.0f\n", (double)n * (double)requests / elapsed);
    return 0;
}
