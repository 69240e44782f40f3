/* runq.h - task queues shared by the policies (see runq.c). */
#ifndef TGO_RUNQ_H
#define TGO_RUNQ_H

#include "runtime.h"

enum { TGO__RUNQ_SIZE = 256 };

typedef struct tgo__runq {
    _Atomic uint32_t head;
    _Atomic uint32_t tail;
    _Atomic(tgo__task *) slots[TGO__RUNQ_SIZE];
} tgo__runq;

/* Owner only. false: the ring is full and t was not queued. */
bool tgo__runq_put(tgo__runq *q, tgo__task *t);
/* Owner or thief. */
tgo__task *tgo__runq_get(tgo__runq *q);
uint32_t tgo__runq_len(const tgo__runq *q);
/* Take half the ring (rounded up, at most max) into batch; owner or thief. */
uint32_t tgo__runq_grab(tgo__runq *q, tgo__task **batch, uint32_t max);

/* Go's runnext: one task at the owner's end of a ring, the one a running
 * task has just made runnable on its own P, to run next with its data still
 * in that CPU's cache. Put and take are the owner's; a thief takes it only
 * after a pause that lets the owner run it first. */
typedef struct tgo__runnext {
    _Atomic(tgo__task *) task;
} tgo__runnext;

/* Owner only: t becomes next; returns the task it displaced, or NULL. */
static inline tgo__task *tgo__runnext_put(tgo__runnext *r, tgo__task *t)
{
    return atomic_exchange(&r->task, t);
}

/* Owner only: the next task, or NULL (empty, or a thief took it). */
static inline tgo__task *tgo__runnext_take(tgo__runnext *r)
{
    tgo__task *t = atomic_load_explicit(&r->task, memory_order_relaxed);
    tgo__task *expected = t; /* t itself stays known not NULL below */
    if (t && atomic_compare_exchange_strong(&r->task, &expected, NULL))
        return t;
    return NULL;
}

static inline bool tgo__runnext_empty(tgo__runnext *r)
{
    return atomic_load(&r->task) == NULL;
}

/* A thief: the task, if the owner has not taken it within
 * TGO__STEAL_PAUSE_NS (proc.go's runqgrab: usleep(3)), or NULL. Go's check
 * cannot tell a task left waiting from one taken and put back within the
 * pause, as a ping-pong does every other wake-up; puts, when not NULL, is
 * a count the owner advances on each put, and a count that moved leaves
 * the task alone. */
tgo__task *tgo__runnext_steal(tgo__runnext *r, const _Atomic uint32_t *puts);

typedef struct tgo__taskq {
    tgo__spinlock lock;
    tgo__task *head, *tail;
    _Atomic int32_t size;
} tgo__taskq;

void tgo__taskq_put(tgo__taskq *q, tgo__task *t);
void tgo__taskq_put_list(tgo__taskq *q, tgo__task *head, tgo__task *tail, int n);
/* Up to max tasks from the front, as a list; *taken says how many. */
tgo__task *tgo__taskq_take(tgo__taskq *q, int max, int *taken);

static inline int32_t tgo__taskq_size(tgo__taskq *q)
{
    return atomic_load_explicit(&q->size, memory_order_acquire);
}

/* Owner only: when the ring is full, move half of it and t to overflow (Go's
 * runqputslow) and add how many to *moved. Out of line and cold: inlined,
 * its lock and 128-byte chunk gave every caller of a put a stack frame. */
__attribute__((cold)) void tgo__runq_spill(tgo__runq *q, tgo__task *t, tgo__taskq *overflow,
                                           uint64_t *moved);

/* Owner only: queue t, or spill (above). */
static inline void tgo__runq_put_or_spill(tgo__runq *q, tgo__task *t, tgo__taskq *overflow,
                                          uint64_t *moved)
{
    if (TGO__UNLIKELY(!tgo__runq_put(q, t)))
        tgo__runq_spill(q, t, overflow, moved);
}

#endif
