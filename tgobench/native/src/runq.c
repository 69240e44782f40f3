/*
 * runq.c - the two task queues both policies build on. They are data
 * structures, not policy: where a task goes is decided in sched_gmp.c and
 * sched_tgo.c.
 *
 * tgo__runq: Go's per-P run queue. A ring of TGO__RUNQ_SIZE slots with
 * monotonic u32 head and tail. Only the owner writes slots and the tail
 * (single producer); the owner and thieves consume from the head by CAS
 * (many consumers). The owner stores a slot (relaxed) and publishes it with
 * a release store of the tail; consumers load the tail with acquire and
 * commit with a CAS on the head. A slot is overwritten only after the head
 * has moved past it, so a consumer that read a stale slot loses its CAS.
 *
 * tgo__runnext: Go's one-task slot beside the ring. The owner exchanges a
 * task in (the one displaced goes to the ring's tail) and takes it with a
 * CAS; a thief reads it, pauses so that the owner, about to run it, may,
 * and takes it with a CAS only if it is still the same task (and, where
 * the owner counts its puts, the count has not moved).
 *
 * tgo__taskq: an unbounded FIFO linked through task->next under a spinlock,
 * with an atomic size so that emptiness is checked without the lock. Go's
 * global queue; tgo's shared pool and its per-P queues that other Ps push to.
 *
 * A put must be visible before its waker reads whether a P is idle, which
 * takes a full fence between the two (sched.c: why no wakeup is lost). A
 * taskq's put has it in its size, stored seq_cst (an exchange on x86, as
 * Go's unlock is one); a ring's put gets it from its caller, which often
 * has one already (an exchange into runnext just before).
 */
#include "runq.h"

bool tgo__runq_put(tgo__runq *q, tgo__task *t)
{
    /* acquire: slots that consumers released are free to overwrite */
    uint32_t head = atomic_load_explicit(&q->head, memory_order_acquire);
    uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (tail - head >= TGO__RUNQ_SIZE)
        return false;
    atomic_store_explicit(&q->slots[tail % TGO__RUNQ_SIZE], t, memory_order_relaxed);
    /* release: the slot is written before consumers see the tail */
    atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
    return true;
}

tgo__task *tgo__runq_get(tgo__runq *q)
{
    for (;;) {
        uint32_t head = atomic_load_explicit(&q->head, memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
        if (tail == head)
            return NULL;
        tgo__task *t = atomic_load_explicit(&q->slots[head % TGO__RUNQ_SIZE], memory_order_relaxed);
        /* release: the slot is read before the owner may reuse it */
        if (atomic_compare_exchange_weak_explicit(&q->head, &head, head + 1, memory_order_release,
                                                  memory_order_relaxed))
            return t;
    }
}

uint32_t tgo__runq_len(const tgo__runq *q)
{
    uint32_t head = atomic_load_explicit(&q->head, memory_order_acquire);
    uint32_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
    uint32_t n = tail - head;
    return n > TGO__RUNQ_SIZE ? 0 : n; /* read at different times: treat as empty */
}

uint32_t tgo__runq_grab(tgo__runq *q, tgo__task **batch, uint32_t max)
{
    for (;;) {
        uint32_t head = atomic_load_explicit(&q->head, memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
        uint32_t n = tail - head;
        if (n > TGO__RUNQ_SIZE)
            continue; /* head and tail read at different times */
        n -= n / 2;
        if (n > max)
            n = max;
        if (n == 0)
            return 0;
        for (uint32_t i = 0; i < n; i++)
            batch[i] = atomic_load_explicit(&q->slots[(head + i) % TGO__RUNQ_SIZE], memory_order_relaxed);
        /* release: the slots are read before the owner may reuse them */
        if (atomic_compare_exchange_strong_explicit(&q->head, &head, head + n, memory_order_release,
                                                    memory_order_relaxed))
            return n;
    }
}

tgo__task *tgo__runnext_steal(tgo__runnext *r, const _Atomic uint32_t *puts)
{
    uint32_t puts_before = puts ? atomic_load(puts) : 0;
    tgo__task *t = atomic_load(&r->task);
    if (!t)
        return NULL;
    tgo__pause_ns(TGO__STEAL_PAUSE_NS);
    if (puts && atomic_load(puts) != puts_before)
        return NULL;
    return atomic_compare_exchange_strong(&r->task, &t, NULL) ? t : NULL;
}

void tgo__taskq_put_list(tgo__taskq *q, tgo__task *head, tgo__task *tail, int n)
{
    tail->next = NULL;
    tgo__spin_lock(&q->lock);
    if (q->tail)
        q->tail->next = head;
    else
        q->head = head;
    q->tail = tail;
    /* under the lock: a plain store; seq_cst publishes it to lock-free
     * readers, and before the waker's read of the idle Ps (above) */
    atomic_store_explicit(&q->size, atomic_load_explicit(&q->size, memory_order_relaxed) + n,
                          memory_order_seq_cst);
    tgo__spin_unlock(&q->lock);
}

void tgo__taskq_put(tgo__taskq *q, tgo__task *t)
{
    tgo__taskq_put_list(q, t, t, 1);
}

tgo__task *tgo__taskq_take(tgo__taskq *q, int max, int *taken)
{
    *taken = 0;
    if (atomic_load_explicit(&q->size, memory_order_acquire) == 0)
        return NULL;
    tgo__spin_lock(&q->lock);
    tgo__task *list = q->head, *last = NULL;
    int n = 0;
    while (q->head && n < max) {
        last = q->head;
        q->head = q->head->next;
        n++;
    }
    if (!q->head)
        q->tail = NULL;
    atomic_store_explicit(&q->size, atomic_load_explicit(&q->size, memory_order_relaxed) - n,
                          memory_order_relaxed);
    tgo__spin_unlock(&q->lock);
    if (last)
        last->next = NULL;
    *taken = n;
    return n ? list : NULL;
}

void tgo__runq_spill(tgo__runq *q, tgo__task *t, tgo__taskq *overflow, uint64_t *moved)
{
    enum { HALF = TGO__RUNQ_SIZE / 2, CHUNK = 16 };
    while (!tgo__runq_put(q, t)) {
        /* still full: take half of the ring, in chunks that keep the stack
         * small (this runs on task stacks of 2 KiB), then link it with t */
        tgo__task *head = NULL, *tail = NULL, *chunk[CHUNK];
        int n = 0;
        while (n < HALF) {
            uint32_t got = tgo__runq_grab(q, chunk, CHUNK);
            if (got == 0)
                break;
            for (uint32_t i = 0; i < got; i++) {
                chunk[i]->next = NULL;
                if (tail)
                    tail->next = chunk[i];
                else
                    head = chunk[i];
                tail = chunk[i];
            }
            n += (int)got;
        }
        if (n < HALF) {
            /* thieves emptied part of it meanwhile: there is room again */
            for (tgo__task *x = head, *next; x; x = next) {
                next = x->next;
                tgo__assert(tgo__runq_put(q, x), "runq refilled while its owner spilled");
            }
            continue;
        }
        t->next = NULL;
        tail->next = t;
        *moved += (uint64_t)n + 1;
        tgo__taskq_put_list(overflow, head, t, n + 1);
        return;
    }
}
