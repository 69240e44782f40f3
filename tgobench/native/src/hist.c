/*
 * hist.c - a log-linear histogram of uint64 values (nanoseconds) to three
 * significant digits, after HdrHistogram.
 *
 * The model. Values below 2048 are counted exactly, one slot each. Above
 * that, each power of two [2^k, 2^(k+1)) is cut into 1024 equal slots of
 * width 2^(k-10): every slot is narrower than 1/1024 of the values it holds,
 * so any value reported from a slot is within 0.098% of every value counted
 * in it. That is HdrHistogram with 2048 sub-buckets (the smallest power of
 * two above 2 * 10^3, hence three significant digits) and a unit of 1.
 * The 2^64 range takes 55 half-buckets of 1024 slots: 56320 counters.
 *
 * Invariants:
 *   - record() is O(1) and never allocates: the scheduler records
 *     ready-to-running latency from its hot path.
 *   - count, min and max are exact; min <= every counted value <= max.
 *   - lo_idx..hi_idx spans every non-zero slot, so reset, merge and
 *     percentile touch only the part of the array in use.
 *
 * Percentiles follow the inverted-CDF definition (Hyndman & Fan's type 1,
 * numpy's method="inverted_cdf"): the smallest counted value with at least
 * ceil(n * pct / 100) values at or below it. The answer is the highest
 * value of that value's slot, clamped to [min, max], or min itself for the
 * first rank: p0 and p100 are exact and the rest within 0.1%.
 *
 * Rejected: a plain log2 histogram (a 2x error hides what a scheduler change
 * does to the p99); reservoir sampling (allocation or a fixed sample that
 * drops the tail); counts narrower than 64 bits (a long run overflows them).
 */
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

enum {
    SUB_BITS = 11,                        /* 2048 sub-buckets per bucket */
    SUB_COUNT = 1 << SUB_BITS,
    SUB_HALF = SUB_COUNT / 2,
    /* values of 2^63.. sit in half-bucket 64 - SUB_BITS + 1 */
    NSLOTS = (64 - SUB_BITS + 2) * SUB_HALF,
};

struct tgo_hist {
    uint64_t count;
    uint64_t min;
    uint64_t max;
    int lo_idx;       /* slots outside lo_idx..hi_idx are zero */
    int hi_idx;
    uint64_t slots[NSLOTS];
};

/* The slot of a value: exact below SUB_COUNT, then 1024 slots per power
 * of two, each 2^shift wide. */
static inline int slot_of(uint64_t v)
{
    if (v < SUB_COUNT)
        return (int)v;
    int shift = (63 - __builtin_clzll(v)) - (SUB_BITS - 1);
    return shift * SUB_HALF + (int)(v >> shift);
}

/* The highest value that lands in slot idx. */
static uint64_t slot_highest(int idx)
{
    if (idx < SUB_COUNT)
        return (uint64_t)idx;
    int shift = idx / SUB_HALF - 1;
    uint64_t sub = (uint64_t)(idx - shift * SUB_HALF);
    uint64_t lowest = sub << shift;
    return lowest + ((UINT64_C(1) << shift) - 1);
}

_Static_assert(NSLOTS * sizeof(uint64_t) < 512 * 1024, "histogram grew unexpectedly");

tgo_hist *tgo_hist_new(void)
{
    tgo_hist *h = calloc(1, sizeof *h);
    if (h != NULL)
        tgo_hist_reset(h);
    return h;
}

void tgo_hist_free(tgo_hist *h)
{
    free(h);
}

void tgo_hist_reset(tgo_hist *h)
{
    if (h->lo_idx <= h->hi_idx)
        memset(&h->slots[h->lo_idx], 0, (size_t)(h->hi_idx - h->lo_idx + 1) * sizeof h->slots[0]);
    h->count = 0;
    h->min = UINT64_MAX;
    h->max = 0;
    h->lo_idx = NSLOTS;
    h->hi_idx = -1;
}

void tgo_hist_record(tgo_hist *h, uint64_t value)
{
    int idx = slot_of(value);
    h->slots[idx]++;
    h->count++;
    if (value < h->min || h->count == 1) {
        h->min = value;
        h->lo_idx = idx;
    }
    if (value > h->max || h->count == 1) {
        h->max = value;
        h->hi_idx = idx;
    }
}

void tgo_hist_merge(tgo_hist *dst, const tgo_hist *src)
{
    if (src->count == 0)
        return;
    for (int i = src->lo_idx; i <= src->hi_idx; i++)
        dst->slots[i] += src->slots[i];
    dst->count += src->count;
    if (src->min < dst->min || dst->count == src->count) {
        dst->min = src->min;
        dst->lo_idx = src->lo_idx;
    }
    if (src->max > dst->max || dst->count == src->count) {
        dst->max = src->max;
        dst->hi_idx = src->hi_idx;
    }
}

uint64_t tgo_hist_count(const tgo_hist *h)
{
    return h->count;
}

uint64_t tgo_hist_max(const tgo_hist *h)
{
    return h->max;
}

/* The rank (1-based) of the pct-th percentile among n values, computed with
 * numpy's floating-point steps for inverted_cdf so that both agree on which
 * value a percentile names: index n*q - 1, rounded up unless exact. */
static uint64_t percentile_rank(uint64_t n, double pct)
{
    double q = pct / 100.0;
    double virtual_index = (double)n * q - 1.0;
    if (!(virtual_index > 0.0))   /* also catches NaN */
        return 1;
    if (virtual_index >= (double)(n - 1))
        return n;
    uint64_t below = (uint64_t)virtual_index;   /* floor: positive here */
    uint64_t index = virtual_index == (double)below ? below : below + 1;
    return index + 1;
}

uint64_t tgo_hist_percentile(const tgo_hist *h, double pct)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = percentile_rank(h->count, pct);
    if (rank == 1)
        return h->min;
    uint64_t seen = 0;
    int idx = h->lo_idx;
    for (; idx < h->hi_idx; idx++) {
        seen += h->slots[idx];
        if (seen >= rank)
            break;
    }
    uint64_t v = slot_highest(idx);
    if (v > h->max)
        v = h->max;
    if (v < h->min)
        v = h->min;
    return v;
}
