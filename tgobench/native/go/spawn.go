package main

// spawn: one goroutine starts N trivial goroutines and waits for them with a
// sync.WaitGroup: the cost of creating, scheduling, running and retiring a
// goroutine. Each marks its own slot (no shared counter to contend on, as
// the C workload adds into per-P slots); every slot must be marked exactly
// once, which also gives the C check's sum of indices N(N-1)/2.

import (
	"fmt"
	"sync"
	"time"
)

var spawnWorkload = &workload{
	name: "spawn",
	unit: "task",
	help: "one goroutine starts N trivial goroutines and waits for them (sync.WaitGroup)",
	params: []paramSpec{
		{name: "tasks", typ: intParam, def: int64(1000000), min: 1, max: 100000000,
			help: "goroutines started per loop"},
	},
	loop: spawnLoop,
}

func spawnLoop(a *args) (loopResult, error) {
	n := int(a.int("tasks"))
	ran := make([]uint8, n)
	var wg sync.WaitGroup

	start := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			ran[i]++
			wg.Done()
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
