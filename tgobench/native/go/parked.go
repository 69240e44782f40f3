package main

// parked: N goroutines each signal that they are ready and block receiving
// from one unbuffered channel; once all are parked the loop reads the
// resident set size, then closes the channel, which releases every one.
// Every goroutine must be released exactly once, by the close.
//
// Timed: starting goroutines until every one is ready, plus closing until
// every one is released. Not timed: the settle pause that lets the last
// ones reach the channel, and the RSS reads.
//
// rss_kib_per_task is (RSS while parked - RSS before any of these
// goroutines ran) / N: the memory a blocked goroutine costs, stack and
// descriptor included. As in the C workload, all loops of a request share
// one runtime, whose stack pool keeps the previous loop's stacks resident:
// a loop whose RSS before starting is still more than half way up to the
// previous loop's parked RSS keeps the previous loop's baseline. (A request
// starts with freed memory returned to the OS, protocol.go, so the first
// loop's baseline holds no stacks of earlier requests.)

import (
	"fmt"
	"sync"
	"time"
)

const (
	settle = 2 * time.Millisecond
	// A conservative estimate of a parked goroutine's memory (a 2 KiB
	// starting stack that may be larger, its descriptor, the waiting
	// receive): a request that would not fit is refused, not OOM-killed.
	// Go 1.27 measured 2.7 KiB with 4M parked; 8, the estimate before,
	// refused 3M on a machine where they took 8 GB of 22 available.
	parkedKiBEstimate = 4
)

var parkedWorkload = &workload{
	name: "parked",
	unit: "task",
	help: "N goroutines block on one channel, then all are released by its close; " +
		"rss_kib_per_task is the memory each parked goroutine costs",
	params: []paramSpec{
		{name: "tasks", typ: intParam, def: int64(100000), min: 1, max: 10000000,
			help: "goroutines parked at once"},
	},
	loop: parkedLoop,
}

func parkedLoop(a *args) (loopResult, error) {
	n := int(a.int("tasks"))
	if avail := memAvailableKiB(); avail >= 0 && int64(n)*parkedKiBEstimate > avail {
		return loopResult{}, fmt.Errorf("%d parked goroutines need about %d MiB, only %d MiB is available; lower tasks",
			n, int64(n)*parkedKiBEstimate/1024, avail/1024)
	}
	gate := make(chan struct{})
	released := make([]uint8, n)
	var ready, done sync.WaitGroup
	var badReceive bool // written before done.Done, read after done.Wait
	var badMu sync.Mutex
	rssBefore := rssKiB()

	start := time.Now()
	ready.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			ready.Done()
			if _, ok := <-gate; ok {
				badMu.Lock()
				badReceive = true
				badMu.Unlock()
			}
			released[i]++
			done.Done()
		}()
	}
	ready.Wait()
	spawned := time.Since(start)

	time.Sleep(settle)
	rssParked := rssKiB()

	start = time.Now()
	close(gate)
	done.Wait()
	elapsed := spawned + time.Since(start)

	if err := eachRanOnce(released, "goroutine"); err != nil {
		return loopResult{}, err
	}
	if badReceive {
		return loopResult{}, fmt.Errorf("a receive on the closed channel returned a value")
	}
	if rssBefore < 0 || rssParked < 0 {
		return loopResult{}, fmt.Errorf("cannot read /proc/self/statm for the RSS")
	}
	baseline := rssBefore
	if a.loop > 0 && rssBefore > parkedPrev.baseline+(parkedPrev.parked-parkedPrev.baseline)/2 {
		baseline = parkedPrev.baseline // warm: the previous loop's stacks are still resident
	}
	parkedPrev.baseline, parkedPrev.parked = baseline, rssParked
	return loopResult{elapsed: elapsed, ops: uint64(n), metrics: object{
		{"rss_kib_per_task", float64(rssParked-baseline) / float64(n)}}}, nil
}

// parkedPrev is the previous loop of the request, to recognise a warm one.
var parkedPrev struct{ baseline, parked int64 }
