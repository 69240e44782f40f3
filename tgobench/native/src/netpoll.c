/*
 * netpoll.c - the netpoller: non-blocking sockets whose tasks park on
 * EAGAIN and are made runnable by epoll readiness. As in Go
 * (netpoll_epoll.go and netpoll.go):
 *
 *   - each fd is registered once, edge-triggered for reading and writing;
 *   - each direction has a slot that is empty, READY (a latched edge that
 *     nobody waited for yet) or the task waiting for it; the slot moves
 *     between these states by CAS only, so an edge that arrives before the
 *     task parks is never lost;
 *   - the epoll user data carries the fd and a sequence number bumped on
 *     close, so an event for a closed and reused fd is dropped;
 *   - one P at a time polls (tgo__netpoll_claim); an idle P blocks in
 *     epoll_wait with the next timer as its timeout, and an eventfd breaks
 *     it out when work or an earlier timer arrives.
 *
 * Unlike Go, a read of a TCP socket that came back short (fewer bytes than
 * asked) marks the socket drained, and the next read waits for an edge
 * before it calls read(): the call would find no data and cost a system
 * call for its EAGAIN. Any data that arrives after the short read brings an
 * edge that fires the slot, so the wait cannot miss it; a READY latched
 * before the short read only makes that read a try, as without the mark.
 * A hang-up is the exception: a FIN that came with the data is not
 * returned by the short read, and brings no further edge, so once the
 * poller has reported EPOLLRDHUP, HUP or ERR for the socket it is never
 * marked again. Only TCP: a short datagram read says nothing about what
 * else is queued, a Unix stream read stops short at passed fds or
 * credentials with more behind them, and a file cannot be polled. (TCP's
 * urgent data, which stops a read at its mark, is not supported.)
 *
 * The policies decide where readied tasks go (tgo__policy_inject); this
 * file only finds them. Tasks readied here carry io_wakeup, which the tgo
 * policy turns into its NETIO ordering, and a reader of a TCP socket is
 * shown to tgo__policy_data_arrived with its fd, for tgo to ask where the
 * data came in.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

#define SLOT_EMPTY ((uintptr_t)0)
#define SLOT_READY ((uintptr_t)1)

enum { MAX_EVENTS = 128, CHUNK = 4096, MAX_CHUNKS = 1024 };

typedef struct pollfd_desc {
    _Atomic uintptr_t rg;       /* SLOT_EMPTY, SLOT_READY or the waiting task */
    _Atomic uintptr_t wg;
    _Atomic uint32_t seq;
    _Atomic bool registered;
    _Atomic bool tcp;           /* a TCP socket, learnt at registration */
    _Atomic bool drained;       /* the last read came back short: wait first */
    _Atomic bool hung_up;       /* EPOLLRDHUP, HUP or ERR reported: no more marks */
    _Atomic uint32_t memo;      /* the policy's (tgo__policy_data_arrived) */
} pollfd_desc;

static struct {
    int epfd, evfd;
    _Atomic int claimed;          /* one poller at a time */
    _Atomic int break_pending;    /* an eventfd write not yet consumed */
    _Atomic int waiters;          /* tasks parked on an fd */
    _Atomic uint64_t last_poll_ns; /* when a poll last returned */
    tgo__spinlock grow_lock;
    _Atomic(pollfd_desc *) chunks[MAX_CHUNKS]; /* fd / CHUNK */
} np = {.epfd = -1, .evfd = -1};

int tgo__netpoll_init(void)
{
    np.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (np.epfd < 0)
        return -errno;
    np.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (np.evfd < 0) {
        int err = -errno;
        close(np.epfd);
        np.epfd = -1;
        return err;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    if (epoll_ctl(np.epfd, EPOLL_CTL_ADD, np.evfd, &ev) != 0)
        return -errno;
    atomic_store(&np.claimed, 0);
    atomic_store(&np.break_pending, 0);
    atomic_store(&np.waiters, 0);
    atomic_store(&np.last_poll_ns, tgo_now_ns());
    return 0;
}

void tgo__netpoll_destroy(void)
{
    if (np.epfd >= 0)
        close(np.epfd);
    if (np.evfd >= 0)
        close(np.evfd);
    np.epfd = np.evfd = -1;
    for (int i = 0; i < MAX_CHUNKS; i++) {
        free(atomic_load(&np.chunks[i]));
        atomic_store(&np.chunks[i], NULL);
    }
}

bool tgo__netpoll_claim(void)
{
    int zero = 0;
    return atomic_compare_exchange_strong(&np.claimed, &zero, 1);
}

void tgo__netpoll_release(void)
{
    atomic_store(&np.claimed, 0);
}

bool tgo__netpoll_active(void)
{
    return atomic_load_explicit(&np.waiters, memory_order_relaxed) > 0;
}

uint64_t tgo__netpoll_last_ns(void)
{
    return atomic_load_explicit(&np.last_poll_ns, memory_order_relaxed);
}

void tgo__netpoll_break(void)
{
    int zero = 0;
    if (np.evfd < 0 || !atomic_compare_exchange_strong(&np.break_pending, &zero, 1))
        return;
    uint64_t one = 1;
    ssize_t w = write(np.evfd, &one, sizeof one);
    (void)w;
}

/* The descriptor of fd. Descriptors live in chunks that never move once
 * allocated, so a task parked on one is found by the poller. */
static pollfd_desc *desc_of(int fd)
{
    tgo__assert(fd >= 0 && fd < CHUNK * MAX_CHUNKS, "fd %d beyond the netpoller's table", fd);
    _Atomic(pollfd_desc *) *slot = &np.chunks[fd / CHUNK];
    pollfd_desc *chunk = atomic_load_explicit(slot, memory_order_acquire);
    if (!chunk) {
        tgo__spin_lock(&np.grow_lock);
        chunk = atomic_load(slot);
        if (!chunk) {
            chunk = calloc(CHUNK, sizeof *chunk);
            if (!chunk)
                tgo__fatal("out of memory for the netpoller's table (fd %d)", fd);
            /* release: the zeroed chunk is visible before its pointer */
            atomic_store_explicit(slot, chunk, memory_order_release);
        }
        tgo__spin_unlock(&np.grow_lock);
    }
    return &chunk[fd % CHUNK];
}

/* The descriptor of fd if its chunk exists, else NULL; allocates nothing. */
static pollfd_desc *known_desc(int fd)
{
    if (fd < 0 || fd >= CHUNK * MAX_CHUNKS)
        return NULL;
    pollfd_desc *chunk = atomic_load_explicit(&np.chunks[fd / CHUNK], memory_order_acquire);
    return chunk ? &chunk[fd % CHUNK] : NULL;
}

/* TCP only: a Unix stream read also stops short at a message with
 * ancillary data (passed fds, credentials), with more queued behind it. */
static bool is_tcp_socket(int fd)
{
    int type = 0, domain = 0;
    socklen_t len = sizeof type, dlen = sizeof domain;
    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM &&
           getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) == 0 &&
           (domain == AF_INET || domain == AF_INET6);
}

static bool ensure_registered(int fd, pollfd_desc *d)
{
    if (atomic_load_explicit(&d->registered, memory_order_acquire))
        return true;
    atomic_store_explicit(&d->tcp, is_tcp_socket(fd), memory_order_relaxed);
    uint32_t seq = atomic_load(&d->seq);
    struct epoll_event ev = {
        .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
        .data.u64 = (uint64_t)(uint32_t)fd | (uint64_t)seq << 32,
    };
    if (epoll_ctl(np.epfd, EPOLL_CTL_ADD, fd, &ev) != 0 && errno != EEXIST)
        return false;
    atomic_store_explicit(&d->registered, true, memory_order_release);
    return true;
}

/* Make the task in a slot runnable, or latch READY when none waits. A
 * READY already latched is written again, so that the task consuming it
 * sees what this event published before the fire (hung_up). */
static tgo__task *slot_fire(_Atomic uintptr_t *slot)
{
    for (;;) {
        uintptr_t old = atomic_load(slot);
        uintptr_t new = old <= SLOT_READY ? SLOT_READY : SLOT_EMPTY;
        if (atomic_compare_exchange_weak(slot, &old, new))
            return old <= SLOT_READY ? NULL : (tgo__task *)old;
    }
}

struct slot_park {
    _Atomic uintptr_t *slot;
    tgo__task *task;
};

/* After the task's context is saved: publish it in the slot, or, if
 * an edge was latched meanwhile, make it runnable again at once. */
static void publish_waiter(void *arg)
{
    struct slot_park *sp = arg;
    uintptr_t expected = SLOT_EMPTY;
    if (atomic_compare_exchange_strong(sp->slot, &expected, (uintptr_t)sp->task))
        return;
    tgo__assert(expected == SLOT_READY, "two tasks wait on the same fd direction");
    atomic_store(sp->slot, SLOT_EMPTY);
    atomic_fetch_sub(&np.waiters, 1);
    tgo__ready(sp->task);
}

/* Park until fd is readable (write=false) or writable. */
static int wait_fd(int fd, bool write)
{
    pollfd_desc *d = desc_of(fd);
    if (!ensure_registered(fd, d))
        return -errno;
    _Atomic uintptr_t *slot = write ? &d->wg : &d->rg;
    uintptr_t ready = SLOT_READY;
    if (atomic_compare_exchange_strong(slot, &ready, SLOT_EMPTY))
        return 0; /* consume a latched edge */
    struct slot_park sp = {slot, tgo__this_task()};
    atomic_fetch_add(&np.waiters, 1);
    tgo__park(publish_waiter, &sp);
    return 0;
}

static void push(tgo__task **list, tgo__task *t)
{
    if (!t)
        return;
    atomic_fetch_sub(&np.waiters, 1);
    t->io_wakeup = 1;
    t->next = *list;
    *list = t;
}

/* epoll_pwait2 takes a timespec: a timer 50 us away is not rounded up to
 * the millisecond that epoll_wait would sleep (Linux 5.11+; else ms). */
static int wait_events(struct epoll_event *evs, uint64_t timeout_ns)
{
    if (timeout_ns == UINT64_MAX)
        return epoll_wait(np.epfd, evs, MAX_EVENTS, -1);
    struct timespec ts = {.tv_sec = (time_t)(timeout_ns / 1000000000u),
                          .tv_nsec = (long)(timeout_ns % 1000000000u)};
    int n = epoll_pwait2(np.epfd, evs, MAX_EVENTS, &ts, NULL);
    if (n >= 0 || errno != ENOSYS)
        return n;
    uint64_t ms = (timeout_ns + 999999) / 1000000;
    return epoll_wait(np.epfd, evs, MAX_EVENTS, ms > INT32_MAX ? INT32_MAX : (int)ms);
}

tgo__task *tgo__netpoll(uint64_t timeout_ns)
{
    struct epoll_event evs[MAX_EVENTS];
    int n = wait_events(evs, timeout_ns);
    atomic_store_explicit(&np.last_poll_ns, tgo_now_ns(), memory_order_relaxed);
    tgo__task *list = NULL;
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u64 == UINT64_MAX) {
            uint64_t v;
            ssize_t r = read(np.evfd, &v, sizeof v);
            (void)r;
            atomic_store(&np.break_pending, 0);
            continue;
        }
        int fd = (int)(uint32_t)evs[i].data.u64;
        uint32_t seq = (uint32_t)(evs[i].data.u64 >> 32);
        pollfd_desc *d = desc_of(fd);
        if (atomic_load(&d->seq) != seq)
            continue; /* the fd was closed and reused since */
        uint32_t e = evs[i].events;
        if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) /* before the fire that publishes it */
            atomic_store_explicit(&d->hung_up, true, memory_order_relaxed);
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            tgo__task *reader = slot_fire(&d->rg);
            if (reader && (e & EPOLLIN) && atomic_load_explicit(&d->tcp, memory_order_relaxed))
                tgo__policy_data_arrived(reader, fd, &d->memo);
            push(&list, reader);
        }
        if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            push(&list, slot_fire(&d->wg));
    }
    return list;
}

/* ---- the I/O API ----------------------------------------------------------- */

int tgo_socket(int domain, int type, int protocol)
{
    int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    return fd < 0 ? -errno : fd;
}

/* After a failed call with error e: 1 to try again (interrupted, or woken
 * by readiness), or -errno to return. e is read by the caller right after
 * the call, through tgo_errno(): a task that waited may have resumed on
 * another worker, whose errno is elsewhere. */
static int await_ready(int fd, bool write, int e)
{
    if (e == EINTR)
        return 1;
    if (e != EAGAIN && e != EWOULDBLOCK)
        return -e;
    int err = wait_fd(fd, write);
    return err ? err : 1;
}

/* After a read of n bytes of len: mark a registered TCP socket drained
 * when the read came back short. */
static void note_read(pollfd_desc *d, ssize_t n, size_t len)
{
    bool drained = d && n > 0 && (size_t)n < len &&
                   atomic_load_explicit(&d->registered, memory_order_acquire) &&
                   atomic_load_explicit(&d->tcp, memory_order_relaxed) &&
                   !atomic_load_explicit(&d->hung_up, memory_order_relaxed);
    if (drained)
        atomic_store_explicit(&d->drained, true, memory_order_relaxed);
}

ssize_t tgo_read(int fd, void *buf, size_t len)
{
    pollfd_desc *d = known_desc(fd);
    if (d && atomic_load_explicit(&d->drained, memory_order_relaxed)) {
        atomic_store_explicit(&d->drained, false, memory_order_relaxed);
        int err = wait_fd(fd, false);
        if (err)
            return err;
    }
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0) {
            note_read(d ? d : known_desc(fd), n, len);
            return n;
        }
        int r = await_ready(fd, false, tgo_errno());
        if (r < 0)
            return r;
    }
}

ssize_t tgo_write(int fd, const void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, (const char *)buf + done, len - done);
        if (n >= 0) {
            done += (size_t)n;
            continue;
        }
        int r = await_ready(fd, true, tgo_errno());
        if (r < 0)
            return done ? (ssize_t)done : r;
    }
    return (ssize_t)done;
}

int tgo_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    for (;;) {
        int c = accept4(fd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0)
            return c;
        int e = tgo_errno();
        int r = await_ready(fd, false, e == ECONNABORTED ? EINTR : e);
        if (r < 0)
            return r;
    }
}

int tgo_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    if (connect(fd, addr, addrlen) == 0)
        return 0;
    int e = errno;
    if (e != EINPROGRESS && e != EINTR)
        return -e;
    for (;;) {
        int err = wait_fd(fd, true);
        if (err)
            return err;
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
            return -tgo_errno(); /* after the wait: maybe another worker */
        if (soerr)
            return -soerr;
        /* No error yet is not connected yet: a wakeup meant for the fd's
         * previous socket, whose event the poller read just before the
         * close, can come first. As Go's connect, ask the peer's name. */
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof peer;
        if (getpeername(fd, (struct sockaddr *)&peer, &peer_len) == 0)
            return 0;
        if (tgo_errno() != ENOTCONN)
            return -tgo_errno();
    }
}

int tgo_close(int fd)
{
    if (fd < 0)
        return -EBADF;
    pollfd_desc *d = desc_of(fd);
    if (atomic_load(&d->registered)) {
        epoll_ctl(np.epfd, EPOLL_CTL_DEL, fd, NULL);
        atomic_store(&d->registered, false);
    }
    tgo__assert(atomic_load(&d->rg) <= SLOT_READY && atomic_load(&d->wg) <= SLOT_READY,
                "fd %d closed while a task waits on it", fd);
    atomic_store(&d->rg, SLOT_EMPTY);
    atomic_store(&d->wg, SLOT_EMPTY);
    atomic_store(&d->drained, false);
    atomic_store(&d->hung_up, false);
    atomic_store(&d->memo, 0);
    atomic_fetch_add(&d->seq, 1); /* drop events still queued for the old fd */
    return close(fd) == 0 ? 0 : -errno;
}
