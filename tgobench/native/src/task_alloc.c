/*
 * task_alloc.c - task descriptors: page-sized blocks, filled in order.
 *
 * A task is often created on one P and retired on another (a spawner and
 * a thief). Per-P free lists would then let the creator allocate without
 * end while the other's list grows; balancing them through a shared list
 * of free tasks (Go's sched.gFree) bounds memory but shuffles the tasks,
 * and after a few million spawns consecutive descriptors lie on unrelated
 * pages: every spawn misses the TLB.
 *
 * So descriptors live in 4 KiB blocks that are allocated in order and
 * recycled whole:
 *   - a P hands out the tasks of its current block one after another (a
 *     bump index), then takes another block;
 *   - a freed task only adds to its block's freed count, found by masking
 *     its address. Frees of one block come in runs, so a P counts them
 *     locally and adds the run with one atomic op when the block changes;
 *   - whoever brings the count to the block's capacity recycles the block:
 *     into its own P's one spare, else into a shared list under a mutex;
 *   - blocks come from 2 MiB mappings carved in order, released when the
 *     runtime ends; a new mapping is where the memory budget is checked
 *     (mem.c), so that a descriptor is refused before the OOM killer acts.
 * A long-lived task keeps its block from being reused: at most 4 KiB per
 * such task, and tasks created together (a server's connection tasks) share
 * blocks.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "runtime.h"

typedef struct task_block {
    _Atomic uint32_t freed;       /* tasks of this block freed so far */
    struct task_block *next;      /* in the shared free list */
} TGO__ALIGNED task_block;

enum {
    BLOCK_BYTES = 4096,
    TASKS_PER_BLOCK = (BLOCK_BYTES - sizeof(task_block)) / sizeof(tgo__task),
    ARENA_BYTES = 2 << 20,
    PREFETCH_AHEAD = 4,
};

struct tgo__task_cache {
    task_block *cur;              /* handing out its tasks in order */
    uint32_t used;                /* tasks of cur handed out */
    task_block *spare;            /* a recycled block kept for this P */
    task_block *counting;         /* the block of the current run of frees */
    uint32_t counted;             /* frees in that run, not yet added */
};

static struct {
    pthread_mutex_t mu;
    task_block *free;             /* recycled blocks */
    char *carve, *carve_end;      /* the rest of the newest mapping */
    void **arenas;
    size_t n, cap;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER};

static task_block *block_of(tgo__task *t)
{
    return (task_block *)((uintptr_t)t & ~(uintptr_t)(BLOCK_BYTES - 1));
}

static tgo__task *task_at(task_block *b, uint32_t i)
{
    return (tgo__task *)(b + 1) + i;
}

/* Under pool.mu: a block from a new or the current mapping. */
static task_block *carve_block(void)
{
    if (pool.carve == pool.carve_end) {
        if (!tgo__mem_may_grow())
            return NULL; /* more tasks alive than memory is left for (mem.c) */
        if (pool.n == pool.cap) {
            size_t cap = pool.cap ? pool.cap * 2 : 16;
            void **grown = realloc(pool.arenas, cap * sizeof(void *));
            if (!grown)
                return NULL;
            pool.arenas = grown;
            pool.cap = cap;
        }
        char *m = mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        pool.arenas[pool.n++] = m;
        pool.carve = m;
        pool.carve_end = m + ARENA_BYTES;
    }
    task_block *b = (task_block *)pool.carve;
    pool.carve += BLOCK_BYTES;
    return b;
}

static task_block *take_block(struct tgo__task_cache *c)
{
    task_block *b = c->spare;
    if (b) {
        c->spare = NULL;
        return b;
    }
    pthread_mutex_lock(&pool.mu);
    b = pool.free;
    if (b)
        pool.free = b->next;
    else
        b = carve_block();
    pthread_mutex_unlock(&pool.mu);
    if (b)
        atomic_store_explicit(&b->freed, 0, memory_order_relaxed);
    return b;
}

static void recycle(struct tgo__task_cache *c, task_block *b)
{
    if (!c->spare) {
        c->spare = b;
        return;
    }
    pthread_mutex_lock(&pool.mu);
    b->next = pool.free;
    pool.free = b;
    pthread_mutex_unlock(&pool.mu);
}

/* Add the current run of frees to its block; the last one recycles it. */
static void flush_frees(struct tgo__task_cache *c)
{
    task_block *b = c->counting;
    uint32_t n = c->counted;
    c->counting = NULL;
    c->counted = 0;
    if (!n)
        return;
    /* acq_rel: the recycler sees every other P's last use of the block */
    if (atomic_fetch_add_explicit(&b->freed, n, memory_order_acq_rel) + n == TASKS_PER_BLOCK)
        recycle(c, b);
}

tgo__task *tgo__task_alloc(tgo__p *p)
{
    struct tgo__task_cache *c = p->tasks;
    if (!c->cur || c->used == TASKS_PER_BLOCK) {
        c->cur = take_block(c);
        c->used = 0;
        if (!c->cur)
            return NULL;
    }
    /* A recycled block was last written on the P that ran its tasks: ask
     * for the next descriptors' lines now, so that fetching them overlaps. */
    if (c->used + PREFETCH_AHEAD < TASKS_PER_BLOCK)
        __builtin_prefetch(task_at(c->cur, c->used + PREFETCH_AHEAD), 1);
    return task_at(c->cur, c->used++);
}

void tgo__task_free(tgo__p *p, tgo__task *t)
{
    struct tgo__task_cache *c = p->tasks;
    task_block *b = block_of(t);
    if (b != c->counting) {
        flush_frees(c);
        c->counting = b;
    }
    if (++c->counted == TASKS_PER_BLOCK)
        flush_frees(c);
}

struct tgo__task_cache *tgo__task_cache_new(void)
{
    /* its own cache lines: the owner writes it on every spawn and exit */
    return tgo__alloc_lines(sizeof(struct tgo__task_cache));
}

void tgo__task_cache_free(struct tgo__task_cache *c)
{
    free(c);
}

void tgo__tasks_destroy(void)
{
    for (size_t i = 0; i < pool.n; i++)
        munmap(pool.arenas[i], ARENA_BYTES);
    free(pool.arenas);
    pool.arenas = NULL;
    pool.n = pool.cap = 0;
    pool.free = NULL;
    pool.carve = pool.carve_end = NULL;
}
