package main

// spawn: one goroutine starts N trivial goroutines and waits for them: the
// cost of creating, scheduling, running and retiring a goroutine. Each marks
// its own slot; every slot must be marked exactly once, which also gives the
// C check's sum of indices N(N-1)/2.
//
// The wait counts in two levels, as the C workload's does: a goroutine
// counts down the group of spawnGroup consecutive indices it belongs to, on
// lines of its own, and the one that empties a group calls Done on the
// WaitGroup, which counts groups. One WaitGroup counter written by every
// goroutine would be the hot spot the figure measures.

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

var spawnWorkload = &workload{
	name: "spawn",
	unit: "task",
	help: "one goroutine starts N trivial goroutines and waits for them (counted in groups of 64)",
	params: []paramSpec{
		{name: "tasks", typ: intParam, def: int64(1000000), min: 1, max: 100000000,
			help: "goroutines started per loop"},
	},
	loop: spawnLoop,
}

// spawnGroup is smaller than the batch a P takes from a shared queue at
// once (half a ring, 128), so a group's goroutines seldom run on two Ps at
// the same time.
const spawnGroup = 64

// groupCount is a group's goroutines not yet done, alone on its cache lines
// (two: the adjacent-line prefetcher pairs them).
type groupCount struct {
	left atomic.Int64
	_    [120]byte
}

func spawnLoop(a *args) (loopResult, error) {
	n := int(a.int("tasks"))
	ran := make([]uint8, n)
	var wg sync.WaitGroup

	groups := make([]groupCount, (n+spawnGroup-1)/spawnGroup)
	for g := range groups {
		groups[g].left.Store(int64(min(spawnGroup, n-g*spawnGroup)))
	}
	wg.Add(len(groups))

	start := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			ran[i]++
			if groups[i/spawnGroup].left.Add(-1) == 0 {
				wg.Done()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	if err := eachRanOnce(ran, "task"); err != nil {
		return loopResult{}, err
	}
	return loopResult{elapsed: elapsed, ops: uint64(n)}, nil
}

// eachRanOnce checks that every slot was marked exactly once.
func eachRanOnce(ran []uint8, what string) error {
	for i, times := range ran {
		if times != 1 {
			return fmt.Errorf("%s %d ran %d times, expected once: a goroutine was lost or ran twice", what, i, times)
		}
	}
	return nil
}
