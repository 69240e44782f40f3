/*
 * wl_net.h - the loopback echo service that the network workloads (rpc,
 * mixed) share (private to workloads/).
 *
 * A service is a listening socket on 127.0.0.1 (port 0), an acceptor task
 * and, per connection, one server task that echoes framed messages: a
 * 4-byte little-endian length, then that many payload bytes. The loop task
 * that opens the service holds the client ends; TCP_NODELAY on both.
 *
 * Lifetime of a descriptor: every socket is closed by the loop task in
 * wl_echo_close(), after every task that could touch it has finished, so a
 * descriptor is never closed under a parked task (tgo_close forbids it) nor
 * reused while wl_echo_fail() may still shut it down. Tasks that must stop
 * early are woken by shutdown(2), never by close.
 *
 * Errors: the first failure of any task (wl_echo_fail) is kept and shuts
 * every connection down, so that no task waits for a reply that will not
 * come; failures after that, caused by the shutdown, are not reported. A
 * task only records what failed: the message is written by the loop task
 * in wl_echo_close(), so that no printf runs deep in a task's stack (2 KiB
 * in the small class, and a canary does not catch a frame that jumps
 * past it).
 */
#ifndef TGOBENCH_WL_NET_H
#define TGOBENCH_WL_NET_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tgo.h"
#include "workload.h"

enum { WL_FRAME_HEADER = 4, WL_READER_BYTES = 4096 };

/* A buffered reader over one socket, as Go's bufio.Reader: small reads are
 * served from a WL_READER_BYTES buffer, reads at least that large go
 * straight to the caller's memory. One task reads through it at a time. */
typedef struct wl_reader {
    int fd;
    unsigned char *buf;
    size_t cap, start, end;
} wl_reader;

int wl_reader_init(wl_reader *r, int fd);   /* 0 or -ENOMEM */
void wl_reader_free(wl_reader *r);
/* Read exactly n bytes: returns n, fewer when the peer closed first (0 when
 * it closed before the first byte), or -errno. */
ssize_t wl_read_full(wl_reader *r, void *dst, size_t n);

/* The payload bytes of request seq on connection conn (the Go driver's
 * fillPayload), and a frame header for n payload bytes. */
void wl_payload_fill(unsigned char *p, size_t n, uint64_t conn, uint64_t seq);
void wl_frame_header(unsigned char *p, uint32_t n);

/* Descriptors open in this process (/proc/self/fd), or -1. */
int wl_open_fds(void);

typedef struct wl_echo wl_echo;

/* What failed in a task; `detail` of wl_echo_fail says more. */
typedef enum wl_echo_fault {
    WL_ECHO_SERVER_MEMORY,  /* a server task's buffers */
    WL_ECHO_SERVER_READ,    /* detail: -errno, or 0 when the peer closed mid-frame */
    WL_ECHO_SERVER_FRAME,   /* detail: the frame's length, over max_payload */
    WL_ECHO_SERVER_WRITE,   /* detail: -errno */
    WL_ECHO_CLIENT_WRITE,   /* detail: -errno */
    WL_ECHO_CLIENT_READ,    /* detail: -errno, or 0 when the peer closed */
    WL_ECHO_CLIENT_REPLY,   /* the reply differs from the request */
    WL_ECHO_CLIENT_TASKS,   /* out of memory; detail: tasks started, seq: tasks wanted */
} wl_echo_fault;

/* What a server task is started with, and the P it last replied from: a
 * cache line each, since servers on different Ps write theirs per request. */
typedef struct wl_echo_end {
    wl_echo *echo;
    int index;
    _Atomic int served_on;          /* -1 before the first reply */
} __attribute__((aligned(64))) wl_echo_end;

struct wl_echo {
    const char *name;               /* the workload's, for messages */
    const char *param;              /* the parameter that sets conns, for messages */
    int conns;
    size_t max_payload;             /* a longer frame is an error of the server */
    int listen_fd;
    struct sockaddr_in addr;
    _Atomic int *client_fds;        /* [conns]; set by the opener; -1 where not open */
    _Atomic int *server_fds;        /* [conns]; set by the acceptor */
    wl_echo_end *ends;              /* [conns] */
    tgo_wg *servers;                /* one count per server task */
    tgo_wg *acceptor_done;
    tgo_chan *accepted;             /* int: a connection's index, or -errno */
    _Atomic bool stopping;          /* set before connections are shut down */
    _Atomic bool failed;            /* claimed by the first failure */
    struct {                        /* written by that failure's task only */
        wl_echo_fault fault;
        int conn;
        uint64_t seq;
        int64_t detail;
    } first;
    char why[WL_ERROR_LEN];         /* the loop task's scratch for messages */
};

/* Open `conns` connections for workload `name`. `noun` names what each serves and `param` the
 * parameter that sets their number ("connections"/"conns",
 * "tasks"/"tasks"), for the messages. Returns 0, or -1 with out->error set
 * and every descriptor it opened closed. */
int wl_echo_open(wl_echo *e, const char *name, int conns, size_t max_payload, const char *noun,
                 const char *param, wl_loop_out *out);

/* Keep the first failure and shut every connection down. From any task;
 * conn is the connection's (or server's) index, seq the request's. */
void wl_echo_fail(wl_echo *e, wl_echo_fault fault, int conn, uint64_t seq, int64_t detail);

/* True once the service is being torn down: an I/O error then is expected. */
bool wl_echo_stopping(wl_echo *e);

/* Call when every task using the client ends has finished: ends the server
 * tasks, closes every descriptor and frees the service. Returns 0, or -1
 * with the first failure in out->error. */
int wl_echo_close(wl_echo *e, wl_loop_out *out);

/* A client's request/reply exchange on connection `conn`: writes the frame
 * in `out` (header and payload) and reads the reply into `in`, both
 * WL_FRAME_HEADER + size bytes, and checks it byte for byte. Returns 0, or
 * -1 after wl_echo_fail (unless the service is stopping). */
int wl_echo_round_trip(wl_echo *e, wl_reader *r, int conn, uint64_t seq,
                       const unsigned char *out, unsigned char *in, size_t size);

/* After a round trip: whether the client runs on the P that served it,
 * that is, both ends of the connection share a P's CPU and caches. Sample
 * it (it reads a line the server's P wrote). */
bool wl_echo_served_here(wl_echo *e, int conn);

#endif
