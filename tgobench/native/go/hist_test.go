package main

import (
	"math/rand"
	"sort"
	"testing"
)

// exactPercentile is numpy's inverted_cdf on sorted values.
func exactPercentile(sorted []uint64, pct float64) uint64 {
	return sorted[percentileRank(uint64(len(sorted)), pct)-1]
}

func TestPercentilesWithinATenthOfAPercent(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	distributions := map[string]func() uint64{
		"small-exact": func() uint64 { return uint64(rng.Intn(2048)) },
		"uniform":     func() uint64 { return uint64(rng.Int63n(10_000_000)) },
		"lognormal":   func() uint64 { return uint64(rng.ExpFloat64() * rng.ExpFloat64() * 50_000) },
		"huge":        func() uint64 { return 1<<60 + rng.Uint64()>>4 },
	}
	pcts := []float64{0, 0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100}
	for name, draw := range distributions {
		h := newHistogram()
		values := make([]uint64, 20000)
		for i := range values {
			values[i] = draw()
			h.record(values[i])
		}
		sort.Slice(values, func(i, j int) bool { return values[i] < values[j] })
		for _, pct := range pcts {
			got, want := h.percentile(pct), exactPercentile(values, pct)
			if got < want || float64(got-want) > float64(want)*0.001 {
				t.Errorf("%s p%v: %d, exact %d", name, pct, got, want)
			}
		}
		if h.count != uint64(len(values)) || h.max != values[len(values)-1] || h.min != values[0] {
			t.Errorf("%s: count/min/max %d/%d/%d", name, h.count, h.min, h.max)
		}
	}
}

func TestMergeEqualsRecordingInOne(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	all, a, b := newHistogram(), newHistogram(), newHistogram()
	for i := 0; i < 10000; i++ {
		v := uint64(rng.Int63n(1 << 40))
		all.record(v)
		if i%3 == 0 {
			a.record(v)
		} else {
			b.record(v)
		}
	}
	a.merge(b)
	for _, pct := range []float64{0, 50, 90, 99, 99.9, 100} {
		if a.percentile(pct) != all.percentile(pct) {
			t.Errorf("p%v: merged %d, one %d", pct, a.percentile(pct), all.percentile(pct))
		}
	}
}

func TestSlotBoundaries(t *testing.T) {
	for _, v := range []uint64{0, 1, 2047, 2048, 2049, 4095, 4096, 1 << 40, 1<<63 - 1, 1 << 63, 1<<64 - 1} {
		idx := slotOf(v)
		if idx >= numSlots || slotHighest(idx) < v || (idx > 0 && slotHighest(idx-1) >= v) {
			t.Errorf("value %d: slot %d holds up to %d", v, idx, slotHighest(idx))
		}
	}
}
