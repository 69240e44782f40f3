package main

// A log-linear histogram of nanoseconds to three significant digits, the
// same as the C runtime's (src/hist.c), so that the latency percentiles of
// every implementation come out of identical buckets. Values below 2048 are
// counted exactly; above, each power of two is cut into 1024 slots of width
// 2^(k-10) (HdrHistogram with 2048 sub-buckets and a unit of 1). The 2^64
// range takes 55 half-buckets of 1024 slots.
//
// Percentiles follow the inverted-CDF definition (numpy's
// method="inverted_cdf"): the smallest counted value with at least
// ceil(n*pct/100) values at or below it, reported as the highest value of
// its slot clamped to [min, max], or min itself for the first rank.
//
// record is safe from many goroutines (atomic adds), so the rpc clients of
// one shard share a histogram without a lock; merge and the readers run
// after the writers are done. Clients are spread over a few shards so that
// two Ps rarely add into the same cache line.

import (
	"math"
	"math/bits"
	"sync/atomic"
)

const (
	subBits  = 11
	subCount = 1 << subBits // 2048
	subHalf  = subCount / 2
	numSlots = (64 - subBits + 2) * subHalf
)

type histogram struct {
	slots []uint64
	count uint64
	min   uint64
	max   uint64
}

func newHistogram() *histogram {
	return &histogram{slots: make([]uint64, numSlots), min: math.MaxUint64}
}

// slotOf: exact below subCount, then 1024 slots per power of two.
func slotOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits
	return shift*subHalf + int(v>>shift)
}

// slotHighest is the highest value that lands in slot idx.
func slotHighest(idx int) uint64 {
	if idx < subCount {
		return uint64(idx)
	}
	shift := idx/subHalf - 1
	lowest := uint64(idx-shift*subHalf) << shift
	return lowest + (uint64(1)<<shift - 1)
}

func (h *histogram) record(v uint64) {
	atomic.AddUint64(&h.slots[slotOf(v)], 1)
	atomic.AddUint64(&h.count, 1)
	for old := atomic.LoadUint64(&h.min); v < old; old = atomic.LoadUint64(&h.min) {
		if atomic.CompareAndSwapUint64(&h.min, old, v) {
			break
		}
	}
	for old := atomic.LoadUint64(&h.max); v > old; old = atomic.LoadUint64(&h.max) {
		if atomic.CompareAndSwapUint64(&h.max, old, v) {
			break
		}
	}
}

func (h *histogram) merge(src *histogram) {
	if src.count == 0 {
		return
	}
	for i, c := range src.slots {
		h.slots[i] += c
	}
	h.count += src.count
	h.min = min(h.min, src.min)
	h.max = max(h.max, src.max)
}

// percentileRank is the 1-based rank of the pct-th percentile among n
// values, with numpy's floating-point steps for inverted_cdf (as hist.c).
func percentileRank(n uint64, pct float64) uint64 {
	virtualIndex := float64(n)*(pct/100) - 1
	if !(virtualIndex > 0) {
		return 1
	}
	if virtualIndex >= float64(n-1) {
		return n
	}
	below := uint64(virtualIndex)
	index := below
	if virtualIndex != float64(below) {
		index++
	}
	return index + 1
}

func (h *histogram) percentile(pct float64) uint64 {
	if h.count == 0 {
		return 0
	}
	rank := percentileRank(h.count, pct)
	if rank == 1 {
		return h.min
	}
	lo, hi := slotOf(h.min), slotOf(h.max)
	seen, idx := uint64(0), lo
	for ; idx < hi; idx++ {
		seen += h.slots[idx]
		if seen >= rank {
			break
		}
	}
	return min(max(slotHighest(idx), h.min), h.max)
}

// shardedHistogram spreads concurrent writers over a few histograms.
type shardedHistogram []*histogram

func newShardedHistogram(shards int) shardedHistogram {
	h := make(shardedHistogram, shards)
	for i := range h {
		h[i] = newHistogram()
	}
	return h
}

// of is the shard of writer id.
func (h shardedHistogram) of(id uint64) *histogram { return h[id%uint64(len(h))] }

func (h shardedHistogram) merged() *histogram {
	all := newHistogram()
	for _, shard := range h {
		all.merge(shard)
	}
	return all
}
