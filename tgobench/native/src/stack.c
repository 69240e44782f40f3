/*
 * stack.c - task stacks: carved from large slabs, committed on first touch,
 * pooled on exit.
 *
 * A task gets its stack when it first runs, not when it is spawned: a
 * million spawned-but-not-started tasks cost a million small descriptors,
 * and a task that runs to completion hands its stack straight to the next.
 * A stack that cannot be had then stops the process, since the task cannot
 * run; a caller that will keep many tasks alive at once maps their slots
 * first (tgo_reserve_stacks), where running out is an error it can report.
 *
 * Slabs are single anonymous MAP_NORESERVE mappings of many stacks; the
 * kernel commits a page when a task first touches it, so a 64 KiB stack of
 * which a task uses 1 KiB costs one page. Two size classes:
 *
 *   - page classes (4 KiB multiples): each stack sits above a 4 KiB guard
 *     page installed with madvise(MADV_GUARD_INSTALL) (Linux 6.13+), which
 *     makes the page fault on access without splitting the mapping;
 *   - the small class (2 KiB): two stacks per page, no room for a guard,
 *     so a canary word below the stack is checked on every switch back to
 *     g0. The canary is also the fallback where guard pages are missing.
 *
 * Rejected: one mmap plus one mprotect guard per stack, as many coroutine
 * libraries do. Each costs two kernel mappings, and vm.max_map_count
 * (65530 by default) then fails near 32.7k live tasks.
 *
 * Layout of one slot of `stride` bytes, low to high:
 *   [guard page | canary (16 bytes)] [usable stack ........ top]
 * A pooled stack is linked through its top word: the top page is the one a
 * task always touched, so pooling commits nothing new.
 *
 * A stack that grew past TRIM_KEEP bytes is trimmed with MADV_DONTNEED when
 * pooled. Growth is read from a probe word TRIM_KEEP below the top: fresh
 * and trimmed pages read as zero, so a non-zero probe means the task went
 * that deep (reading an untouched page maps the shared zero page, once).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "runtime.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

enum {
    PAGE = 4096,
    CANARY_ROOM = 16,
    CACHE_MAX = 128,       /* stacks a P keeps for itself */
    CACHE_BATCH = 64,      /* moved at once between a P and the pool */
    TRIM_KEEP = 8 * 1024,
    MAX_SLABS = 1 << 16,
};

static const uint64_t CANARY = 0x74676f5f63616e61ull; /* "tgo_cana" */
#define SLAB_BYTES ((size_t)64 << 20)

struct tgo__stack_cache {
    int n;
    char *stacks[CACHE_MAX];
};

static struct {
    pthread_mutex_t mu;
    size_t size;       /* usable bytes per stack */
    size_t stride;     /* bytes per slot */
    size_t lo_offset;  /* from slot start to the usable bottom */
    bool guarded;      /* a guard page below each stack */
    bool canary;       /* a canary below each stack (small class, or no guards) */
    char *slab_next, *slab_end;  /* what is left to carve of slabs[cur] */
    char *slabs[MAX_SLABS];
    _Atomic int nslabs;
    int cur;
    size_t slab_bytes;
    char *free_list;   /* pooled stacks, linked through their top word */
    uint64_t carved;   /* stacks carved from the slabs so far */
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER};

static char **top_link(char *lo)
{
    return (char **)(lo + pool.size - sizeof(char *));
}

/* Whether this kernel installs guard pages inside a mapping (6.13+). */
static bool kernel_has_guard_pages(void)
{
    char *probe = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (probe == MAP_FAILED)
        return false;
    bool ok = madvise(probe, PAGE, MADV_GUARD_INSTALL) == 0;
    munmap(probe, 2 * PAGE);
    return ok;
}

static uint64_t slots_per_slab(void)
{
    return pool.slab_bytes / pool.stride;
}

/* Map one more slab after the others; pool.mu held, or no task running. */
static bool map_slab(void)
{
    int n = atomic_load(&pool.nslabs);
    if (n == MAX_SLABS)
        return false;
    char *slab = mmap(NULL, pool.slab_bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (slab == MAP_FAILED)
        return false;
    pool.slabs[n] = slab;
    /* release: the signal handler reads slabs[] without the lock */
    atomic_store_explicit(&pool.nslabs, n + 1, memory_order_release);
    return true;
}

/* Carve from the next slab, mapping it if none is reserved; pool.mu held. */
static bool next_slab(void)
{
    int next = pool.slab_next ? pool.cur + 1 : 0;
    if (next == atomic_load(&pool.nslabs) && !map_slab())
        return false;
    pool.cur = next;
    pool.slab_next = pool.slabs[next];
    pool.slab_end = pool.slab_next + slots_per_slab() * pool.stride;
    return true;
}

size_t tgo_stack_min(void)
{
#ifdef TGO__SANITIZED
    return PAGE; /* ASan's and TSan's hooks overflow the small class's 2 KiB */
#else
    return TGO_STACK_MIN;
#endif
}

int tgo__stacks_init(size_t stack_size)
{
    bool page_class = stack_size % PAGE == 0;
    pool.guarded = page_class && kernel_has_guard_pages();
    pool.canary = !pool.guarded;
    /* page classes keep a page below the stack: a guard, or the canary's page */
    pool.lo_offset = page_class ? PAGE : CANARY_ROOM;
    pool.size = page_class ? stack_size : stack_size - CANARY_ROOM;
    pool.stride = page_class ? stack_size + PAGE : stack_size;
    pool.slab_bytes = SLAB_BYTES > 64 * pool.stride ? SLAB_BYTES : 64 * pool.stride;
    pool.slab_next = pool.slab_end = NULL;
    pool.free_list = NULL;
    pool.carved = 0;
    atomic_store(&pool.nslabs, 0);
    /* The first slab now, while there is address space for it: a run that
     * then spawns until memory runs out still has stacks to run the tasks
     * it queued, and ends with an error instead of dying in the scheduler. */
    return map_slab() ? 0 : -ENOMEM;
}

void tgo__stacks_destroy(void)
{
    int n = atomic_load(&pool.nslabs);
    for (int i = 0; i < n; i++)
        munmap(pool.slabs[i], pool.slab_bytes);
    atomic_store(&pool.nslabs, 0);
    pool.free_list = NULL;
    pool.slab_next = pool.slab_end = NULL;
}

size_t tgo__stack_usable(void)
{
    return pool.size;
}

struct tgo__stack_cache *tgo__stack_cache_new(void)
{
    return calloc(1, sizeof(struct tgo__stack_cache));
}

void tgo__stack_cache_free(struct tgo__stack_cache *c)
{
    free(c); /* the stacks themselves go with their slabs */
}

/* A fresh stack from the current slab; pool.mu held. */
static char *carve(void)
{
    if (pool.slab_next == pool.slab_end && !next_slab())
        return NULL;
    char *slot = pool.slab_next;
    pool.slab_next += pool.stride;
    pool.carved++;
    if (pool.guarded && madvise(slot, PAGE, MADV_GUARD_INSTALL) != 0)
        tgo__fatal("madvise(MADV_GUARD_INSTALL) failed on a stack slot (errno %d)", errno);
    char *lo = slot + pool.lo_offset;
    if (pool.canary)
        *(uint64_t *)(lo - CANARY_ROOM) = CANARY;
    return lo;
}

static void refill(struct tgo__stack_cache *c)
{
    pthread_mutex_lock(&pool.mu);
    while (c->n < CACHE_BATCH) {
        char *lo = pool.free_list;
        if (lo)
            pool.free_list = *top_link(lo);
        else if (!(lo = carve()))
            break;
        c->stacks[c->n++] = lo;
    }
    pthread_mutex_unlock(&pool.mu);
}

static void spill(struct tgo__stack_cache *c)
{
    pthread_mutex_lock(&pool.mu);
    while (c->n > CACHE_MAX - CACHE_BATCH) {
        char *lo = c->stacks[--c->n];
        *top_link(lo) = pool.free_list;
        pool.free_list = lo;
    }
    pthread_mutex_unlock(&pool.mu);
}

char *tgo__stack_get(tgo__p *p)
{
    struct tgo__stack_cache *c = p->stacks;
    if (c->n == 0)
        refill(c);
    return c->n ? c->stacks[--c->n] : NULL;
}

static void trim_if_grown(char *lo)
{
    if (pool.size <= TRIM_KEEP + PAGE)
        return;
    char *top = lo + pool.size;
    if (*(volatile uint64_t *)(top - TRIM_KEEP - sizeof(uint64_t)) == 0)
        return;
    /* keep the top TRIM_KEEP bytes, which the next task will touch anyway */
    char *end = (char *)((uintptr_t)(top - TRIM_KEEP) & ~(uintptr_t)(PAGE - 1));
    madvise(lo, (size_t)(end - lo), MADV_DONTNEED);
}

void tgo__stack_put(tgo__p *p, char *lo)
{
    trim_if_grown(lo);
    struct tgo__stack_cache *c = p->stacks;
    if (c->n == CACHE_MAX)
        spill(c);
    c->stacks[c->n++] = lo;
}

enum { MAIN_STACK = TGO_STACK_DEFAULT };

char *tgo__main_stack_get(void)
{
    char *m = mmap(NULL, MAIN_STACK + PAGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    if (mprotect(m, PAGE, PROT_NONE) != 0) { /* one task: one mapping more is fine */
        munmap(m, MAIN_STACK + PAGE);
        return NULL;
    }
    return m + PAGE;
}

void tgo__main_stack_put(char *lo)
{
    munmap(lo - PAGE, MAIN_STACK + PAGE);
}

void tgo_stack_costs(tgo_stack_cost *out)
{
    /* A task touches its stack's top page; two small stacks share a page,
     * and a canary page below a page-class stack is written at carving. */
    size_t stack = pool.lo_offset == PAGE ? PAGE : pool.stride;
    if (pool.lo_offset == PAGE && pool.canary)
        stack += PAGE;
    out->resident = stack + sizeof(tgo__task);
    pthread_mutex_lock(&pool.mu);
    out->carved = pool.carved;
    pthread_mutex_unlock(&pool.mu);
}

int tgo_reserve_stacks(uint64_t n)
{
    /* the stacks a P keeps in its cache are not another's to take */
    uint64_t slots = n + (uint64_t)tgo__S->nprocs * CACHE_MAX;
    pthread_mutex_lock(&pool.mu);
    int rc = 0;
    while (rc == 0 && (uint64_t)atomic_load(&pool.nslabs) * slots_per_slab() < slots)
        rc = map_slab() ? 0 : -ENOMEM;
    pthread_mutex_unlock(&pool.mu);
    return rc;
}

bool tgo__stack_intact(const tgo__task *t)
{
    /* with no canary, the guard page faults first */
    return !pool.canary || t->own_stack || *(const uint64_t *)(t->stack_lo - CANARY_ROOM) == CANARY;
}

void tgo__stack_check(const tgo__task *t)
{
    if (TGO__UNLIKELY(!tgo__stack_intact(t)))
        tgo__fatal("task stack overflow: the canary below a %zu-byte stack was overwritten "
                   "(task %p); raise stack_size", pool.size, (void *)t);
}

bool tgo__stack_in_guard(const void *addr)
{
    if (!pool.guarded)
        return false;
    int n = atomic_load_explicit(&pool.nslabs, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        const char *slab = pool.slabs[i];
        if ((const char *)addr >= slab && (const char *)addr < slab + pool.slab_bytes)
            return (size_t)((const char *)addr - slab) % pool.stride < PAGE;
    }
    return false;
}
