package main

// skew: one goroutine starts N goroutines of uneven length: goroutine i
// burns units * 2^(h(i) mod 6) steps of an LCG (1x to 32x the base), h a
// fixed hash of i, so which are long is deterministic but scattered (the
// same plan as the C workload). Each goroutine stores its final LCG state
// in its own slot; every slot is recomputed serially after the timed part.
// The C drivers also report `balance`, the busiest P's share of the work;
// Go does not say which P ran a goroutine, so this driver cannot.

import (
	"fmt"
	"sync"
	"time"
)

var skewWorkload = &workload{
	name: "skew",
	unit: "task",
	help: "one goroutine starts goroutines whose length varies 32x by index " +
		"(no balance figure: Go does not expose which P ran a goroutine)",
	params: []paramSpec{
		{name: "tasks", typ: intParam, def: int64(10000), min: 1, max: 10000000,
			help: "goroutines started per loop"},
		{name: "units", typ: intParam, def: int64(200), min: 1, max: 1000000,
			help: "LCG steps of the shortest goroutine; the longest take 32x"},
	},
	loop: skewLoop,
}

func skewWork(i, units uint64) uint64 { return units << (mix64(i) % 6) }

// burn runs Knuth's MMIX LCG for steps from a start that depends on i.
func burn(i, steps uint64) uint64 {
	x := i
	for s := uint64(0); s < steps; s++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

// mix64 is SplitMix64's finaliser, as the C workloads use it.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func skewLoop(a *args) (loopResult, error) {
	n, units := int(a.int("tasks")), uint64(a.int("units"))
	final := make([]uint64, n)
	var wg sync.WaitGroup

	start := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			final[i] = burn(uint64(i), skewWork(uint64(i), units))
			wg.Done()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	for i, got := range final {
		if want := burn(uint64(i), skewWork(uint64(i), units)); got != want {
			return loopResult{}, fmt.Errorf("goroutine %d computed %d, expected %d: it was lost or computed wrongly", i, got, want)
		}
	}
	return loopResult{elapsed: elapsed, ops: uint64(n)}, nil
}
