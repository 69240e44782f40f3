/*
 * sync.c - wait groups, channels and mutexes that park tasks, not workers.
 *
 * Every primitive follows one pattern: take its spinlock, and either
 * complete at once or queue the running task and park it with the lock
 * released (tgo__park's unlock) once the task's context is saved.
 * A waker removes the waiter under the lock, hands over the value and the
 * result, unlocks, and only then calls tgo__ready(): where the woken task
 * runs is the policy's decision (Go: the waker's runnext; tgo: its origin).
 *
 * Waiters are linked through task->next, which is free while a task is
 * parked. Channels copy elements directly between the sender's and the
 * receiver's buffers when one waits (Go's sudog elem), so an unbuffered
 * hand-off never touches the ring.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

typedef struct waitq {
    tgo__task *head, *tail;
} waitq;

static void waitq_push(waitq *q, tgo__task *t)
{
    t->next = NULL;
    if (q->tail)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
}

static tgo__task *waitq_pop(waitq *q)
{
    tgo__task *t = q->head;
    if (t) {
        q->head = t->next;
        if (!q->head)
            q->tail = NULL;
    }
    return t;
}

static void unlock_spin(void *lock)
{
    tgo__spin_unlock(lock);
}

static tgo__task *self_task(const char *what)
{
    tgo__task *t = tgo__this_task();
    tgo__assert(t, "%s called outside a task", what);
    return t;
}

/* ---- wait group ------------------------------------------------------------
 *
 * As Go's sync.WaitGroup: one atomic word holds the counter (high half) and
 * the number of registered waiters (low half). Wait registers by CAS; the
 * Add that brings the counter to zero releases exactly the waiters it saw,
 * and its last touch of the group is the store that clears the word. A
 * waiter that saw the counter at zero returns at once if no one waits, and
 * otherwise once that store has cleared the word: a release is under way.
 * So when any Wait returns, no Add will touch the group again and that
 * waiter may free it (the fork-join pattern of fib).
 * Rejected: a counter plus a locked waiter list checked separately; the last
 * Done could still be taking the lock when the waiter saw zero and freed it.
 * Rejected: returning at once on a zero counter with waiters registered;
 * the releaser was still unlocking the group that a second waiter had freed.
 */

struct tgo_wg {
    _Atomic uint64_t state;   /* counter << 32 | waiters */
    tgo__spinlock lock;
    waitq waiters;
    _Atomic uint32_t listed;  /* registered waiters already on the list */
};

tgo_wg *tgo_wg_new(void)
{
    return calloc(1, sizeof(tgo_wg));
}

void tgo_wg_free(tgo_wg *wg)
{
    if (wg)
        tgo__assert(!wg->waiters.head, "wait group freed with tasks waiting on it");
    free(wg);
}

/* The counter is the word's high 32 bits, as in Go: a delta or a count
 * that does not fit would wrap silently into another count. */
static __attribute__((noinline, cold)) noreturn void wg_counter_fatal(int32_t counter, int64_t delta)
{
    if (delta > 0)
        tgo__fatal("wait group counter overflowed: an Add of %lld took it past %d",
                   (long long)delta, INT32_MAX);
    tgo__fatal("wait group counter went negative (%d): more Done than Add", counter);
}

void tgo_wg_add(tgo_wg *wg, int64_t delta)
{
    tgo__assert(delta >= -INT32_MAX && delta <= INT32_MAX,
                "wait group Add of %lld: a delta must lie within +-%d", (long long)delta, INT32_MAX);
    uint64_t step = (uint64_t)delta << 32;
    uint64_t s = atomic_fetch_add(&wg->state, step) + step;
    int32_t counter = (int32_t)(s >> 32);
    uint32_t waiters = (uint32_t)s;
    if (TGO__UNLIKELY(counter < 0))
        wg_counter_fatal(counter, delta);
    if (counter > 0 || waiters == 0)
        return;
    /* a waiter that registered but is not on the list yet is between its CAS
     * and the lock: wait for it without holding the lock it needs */
    tgo__spin_until_u32(&wg->listed, waiters);
    tgo__spin_lock(&wg->lock);
    tgo__task *list = wg->waiters.head;
    wg->waiters.head = wg->waiters.tail = NULL;
    atomic_store_explicit(&wg->listed, 0, memory_order_relaxed);
    tgo__spin_unlock(&wg->lock);
    atomic_store(&wg->state, 0); /* the last touch of wg */
    while (list) {
        tgo__task *next = list->next;
        tgo__ready(list);
        list = next;
    }
}

void tgo_wg_done(tgo_wg *wg)
{
    tgo_wg_add(wg, -1);
}

void tgo_wg_wait(tgo_wg *wg)
{
    uint64_t s = atomic_load(&wg->state);
    do {
        if (s >> 32 == 0) {
            if ((uint32_t)s != 0) /* released, not yet cleared: wait for it */
                tgo__spin_while_u64(&wg->state, s);
            return;
        }
    } while (!atomic_compare_exchange_weak(&wg->state, &s, s + 1));
    tgo__task *self = self_task("tgo_wg_wait");
    tgo__spin_lock(&wg->lock);
    waitq_push(&wg->waiters, self);
    /* release: the releaser that sees the count sees us on the list */
    atomic_fetch_add_explicit(&wg->listed, 1, memory_order_release);
    tgo__park(unlock_spin, &wg->lock);
}

/* ---- channels -------------------------------------------------------------- */

struct tgo_chan {
    tgo__spinlock lock;
    size_t elem_size, cap;
    size_t head, count;   /* ring of cap elements */
    bool closed;
    waitq sendq, recvq;
    char *buf;
};

tgo_chan *tgo_chan_new(size_t elem_size, size_t cap)
{
    tgo_chan *ch = calloc(1, sizeof *ch);
    if (!ch)
        return NULL;
    ch->elem_size = elem_size;
    ch->cap = cap;
    if (cap && !(ch->buf = calloc(cap, elem_size ? elem_size : 1))) {
        free(ch);
        return NULL;
    }
    return ch;
}

void tgo_chan_free(tgo_chan *ch)
{
    if (!ch)
        return;
    tgo__assert(!ch->sendq.head && !ch->recvq.head, "channel freed with tasks waiting on it");
    free(ch->buf);
    free(ch);
}

/* Most elements are one word: copy those inline, not through libc. */
static void copy_elem(const tgo_chan *ch, void *dst, const void *src)
{
    if (ch->elem_size == sizeof(uint64_t))
        memcpy(dst, src, sizeof(uint64_t));
    else
        memcpy(dst, src, ch->elem_size);
}

static char *slot(tgo_chan *ch, size_t i)
{
    return ch->buf + ((ch->head + i) % ch->cap) * ch->elem_size;
}

static int park_on(tgo_chan *ch, waitq *q, tgo__task *self, void *elem)
{
    self->wait_elem = elem;
    self->wait_result = 0;
    waitq_push(q, self);
    tgo__park(unlock_spin, &ch->lock);
    return self->wait_result; /* written by the waker before tgo__ready */
}

int tgo_chan_send(tgo_chan *ch, const void *elem)
{
    tgo__task *self = self_task("tgo_chan_send");
    tgo__spin_lock(&ch->lock);
    if (ch->closed) {
        tgo__spin_unlock(&ch->lock);
        return -EPIPE;
    }
    tgo__task *receiver = waitq_pop(&ch->recvq);
    if (receiver) {
        copy_elem(ch, receiver->wait_elem, elem);
        receiver->wait_result = 0;
        tgo__spin_unlock(&ch->lock);
        tgo__ready(receiver);
        return 0;
    }
    if (ch->count < ch->cap) {
        copy_elem(ch, slot(ch, ch->count++), elem);
        tgo__spin_unlock(&ch->lock);
        return 0;
    }
    return park_on(ch, &ch->sendq, self, (void *)elem);
}

int tgo_chan_recv(tgo_chan *ch, void *elem)
{
    tgo__task *self = self_task("tgo_chan_recv");
    tgo__spin_lock(&ch->lock);
    tgo__task *sender;
    if (ch->count > 0) {
        copy_elem(ch, elem, slot(ch, 0));
        ch->head = (ch->head + 1) % ch->cap;
        ch->count--;
        /* a waiting sender's element takes the freed place at the tail */
        if ((sender = waitq_pop(&ch->sendq)) != NULL)
            copy_elem(ch, slot(ch, ch->count++), sender->wait_elem);
    } else if ((sender = waitq_pop(&ch->sendq)) != NULL) {
        copy_elem(ch, elem, sender->wait_elem);
    } else if (ch->closed) {
        tgo__spin_unlock(&ch->lock);
        return -EPIPE;
    } else {
        return park_on(ch, &ch->recvq, self, elem);
    }
    tgo__spin_unlock(&ch->lock);
    if (sender) {
        sender->wait_result = 0;
        tgo__ready(sender);
    }
    return 0;
}

void tgo_chan_close(tgo_chan *ch)
{
    tgo__spin_lock(&ch->lock);
    tgo__assert(!ch->closed, "channel closed twice");
    ch->closed = true;
    tgo__task *waiters[2] = {ch->recvq.head, ch->sendq.head};
    ch->recvq.head = ch->recvq.tail = ch->sendq.head = ch->sendq.tail = NULL;
    tgo__spin_unlock(&ch->lock);
    for (int i = 0; i < 2; i++) {
        for (tgo__task *t = waiters[i], *next; t; t = next) {
            next = t->next;
            t->wait_result = -EPIPE;
            tgo__ready(t);
        }
    }
}

/* ---- mutex ----------------------------------------------------------------- */

struct tgo_mutex {
    tgo__spinlock lock;
    bool locked;
    waitq waiters;
};

tgo_mutex *tgo_mutex_new(void)
{
    return calloc(1, sizeof(tgo_mutex));
}

void tgo_mutex_free(tgo_mutex *mu)
{
    if (mu)
        tgo__assert(!mu->locked, "mutex freed while locked");
    free(mu);
}

void tgo_mutex_lock(tgo_mutex *mu)
{
    tgo__task *self = self_task("tgo_mutex_lock");
    tgo__spin_lock(&mu->lock);
    if (!mu->locked) {
        mu->locked = true;
        tgo__spin_unlock(&mu->lock);
        return;
    }
    waitq_push(&mu->waiters, self);
    tgo__park(unlock_spin, &mu->lock); /* ownership is handed over on wakeup */
}

void tgo_mutex_unlock(tgo_mutex *mu)
{
    tgo__spin_lock(&mu->lock);
    tgo__assert(mu->locked, "unlock of an unlocked mutex");
    tgo__task *next = waitq_pop(&mu->waiters);
    if (!next)
        mu->locked = false;
    tgo__spin_unlock(&mu->lock);
    if (next)
        tgo__ready(next);
}
