/*
 * wl_util.h - small helpers shared by the workloads (private to workloads/).
 *
 * Per-P tallies: a workload that counts what its tasks did must not turn its
 * own bookkeeping into the hot spot it measures, so each P adds into its own
 * slot, two cache lines apart (the adjacent-line prefetcher pairs lines).
 * A slot is written only by tasks running on its P, and a P is driven by one
 * worker thread, so a relaxed load and store is enough: no locked
 * instruction, and sanitizers still see atomic accesses. The loop reads the
 * slots after a wait group, which orders every task's writes before it.
 */
#ifndef TGOBENCH_WL_UTIL_H
#define TGOBENCH_WL_UTIL_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tgo.h"
#include "workload.h"

enum { WL_SLOT_BYTES = 128 };

typedef struct wl_slot {
    _Atomic uint64_t v;
    char pad[WL_SLOT_BYTES - sizeof(uint64_t)];
} __attribute__((aligned(WL_SLOT_BYTES))) wl_slot;

typedef wl_slot wl_per_p[TGO_MAX_PROCS];

static inline void wl_per_p_reset(wl_per_p slots)
{
    for (int p = 0; p < TGO_MAX_PROCS; p++)
        atomic_store_explicit(&slots[p].v, 0, memory_order_relaxed);
}

/* Add to the running P's slot. Call only from a task, with no switch point
 * between here and the caller's reading of tgo_current_p(). */
static inline void wl_per_p_add(wl_per_p slots, uint64_t delta)
{
    _Atomic uint64_t *v = &slots[tgo_current_p()].v;
    /* relaxed: this P is the only writer; the reader synchronises through a
     * wait group. */
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + delta,
                          memory_order_relaxed);
}

static inline uint64_t wl_per_p_get(wl_per_p slots, int p)
{
    return atomic_load_explicit(&slots[p].v, memory_order_relaxed);
}

/* Sum modulo 2^64 over every P. */
static inline uint64_t wl_per_p_sum(wl_per_p slots)
{
    uint64_t sum = 0;
    for (int p = 0; p < TGO_MAX_PROCS; p++)
        sum += wl_per_p_get(slots, p);
    return sum;
}

/* A wait in two levels, for workloads whose tasks are too short to all
 * write one wait-group counter: tasks count down their group's counter,
 * on lines of its own, and the task that empties a group tells the wait
 * group, which counts the groups and any units the caller adds. */
/* Tasks per group: fewer than the batch a P takes from a shared queue at
 * once (half a ring, 128), so that a group's tasks seldom run on two Ps at
 * once, and enough that the wait group hears from one task in that many. */
enum { WL_GROUP_TASKS = 64 };

typedef struct wl_groups {
    tgo_wg *done;
    wl_slot *left;            /* per group: its tasks not yet done */
} wl_groups;

/* ngroups groups of size tasks, the last of last_size, and extra units
 * counted straight on the wait group. -1: out of memory (call
 * wl_groups_free all the same). */
static inline int wl_groups_new(wl_groups *w, uint64_t ngroups, uint64_t size,
                                uint64_t last_size, uint64_t extra)
{
    w->done = tgo_wg_new();
    w->left = aligned_alloc(sizeof(wl_slot), ngroups * sizeof(wl_slot));
    if (!w->done || !w->left)
        return -1;
    for (uint64_t g = 0; g < ngroups; g++)
        atomic_store_explicit(&w->left[g].v, g + 1 < ngroups ? size : last_size,
                              memory_order_relaxed);
    tgo_wg_add(w->done, (int64_t)(ngroups + extra));
    return 0;
}

/* n tasks of group g are done. acq_rel: the group's other tasks' writes
 * happen before the wait group hears of the group, and so before the
 * waiter reads what they wrote. */
static inline void wl_groups_done(wl_groups *w, uint64_t g, uint64_t n)
{
    if (atomic_fetch_sub_explicit(&w->left[g].v, n, memory_order_acq_rel) == n)
        tgo_wg_done(w->done);
}

static inline void wl_groups_free(wl_groups *w)
{
    if (w->done)
        tgo_wg_free(w->done);
    free(w->left);
    w->done = NULL;
    w->left = NULL;
}

/* CPU work: `steps` steps of Knuth's MMIX LCG from x (the Go driver's burn
 * is the same), so a checksum of the work is known in closed form. */
static inline uint64_t wl_burn(uint64_t x, uint64_t steps)
{
    for (uint64_t s = 0; s < steps; s++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    return x;
}

/* SplitMix64's finaliser: a well-mixed 64-bit hash of x. */
static inline uint64_t wl_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The end of the fix for running out of memory with many tasks alive:
 * " or use stack_size N" while smaller stacks are left to choose, else "".
 * For a loop's error message, written before the next loop starts. */
static inline const char *wl_smaller_stacks(const wl_args *args)
{
    static char hint[48];
    if (args->stack_size <= tgo_stack_min())
        return "";
    snprintf(hint, sizeof hint, " or use stack_size %zu", tgo_stack_min());
    return hint;
}

/* Why a spawn was refused with many tasks alive, to follow the count in
 * an out-of-memory message: the runtime's memory budget, and in a
 * ThreadSanitizer build its limit on tasks. */
static inline const char *wl_too_many_alive(void)
{
    static char why[128];
    if (tgo_max_live_tasks() == UINT64_MAX)
        return " (more were alive at once than the memory available holds)";
    snprintf(why, sizeof why, " (more were alive at once than the memory available or this "
             "sanitizer build (%llu tasks) holds)", (unsigned long long)tgo_max_live_tasks());
    return why;
}

/* Whether n tasks alive at once fit, checked before any is spawned: memory
 * the OOM killer reclaims, or a stack the kernel cannot map when a task
 * first runs, would end the process; this makes both an error naming the
 * fix (fewer tasks, or smaller stacks). The stacks beyond those the runtime
 * already holds (earlier loops' tasks pooled theirs) need their least
 * resident cost, and a quarter more for what tasks touch beyond it, from
 * the memory available; then the address space of all n is mapped. Call
 * from a loop's first task, with no other task alive. 0, or -1 with
 * out->error. */
static inline int wl_check_live_tasks(wl_loop_out *out, const wl_args *args, const char *name,
                                      uint64_t n)
{
    if (n >= tgo_max_live_tasks()) { /* with the loop's own task */
        wl_fail(out, "%s: this build holds at most %llu tasks alive at once (ThreadSanitizer "
                "counts each as a thread); lower tasks", name,
                (unsigned long long)tgo_max_live_tasks() - 1);
        return -1;
    }
    tgo_stack_cost cost;
    tgo_stack_costs(&cost);
    uint64_t new_stacks = n > cost.carved ? n - cost.carved : 0;
    uint64_t need_kib = new_stacks * (cost.resident + cost.resident / 4) / 1024;
    int64_t avail_kib = tgo_mem_available_kib();
    if (avail_kib >= 0 && need_kib > (uint64_t)avail_kib) {
        wl_fail(out, "%s: %llu tasks alive at once need about %llu MiB, only %lld MiB is "
                "available; lower tasks%s", name, (unsigned long long)n,
                (unsigned long long)(need_kib / 1024), (long long)(avail_kib / 1024),
                wl_smaller_stacks(args));
        return -1;
    }
    if (tgo_reserve_stacks(n) != 0) {
        wl_fail(out, "%s: out of address space for the stacks of %llu tasks alive at once "
                "(ulimit -v, or vm.overcommit_memory 2); lower tasks%s", name,
                (unsigned long long)n, wl_smaller_stacks(args));
        return -1;
    }
    return 0;
}

#endif
