package main

// mixed: goroutines that cycle through a CPU burst, a socket round trip and
// a timer sleep, the shape of a service handler: `burst` LCG steps, one
// 64-byte request echoed over the goroutine's own loopback connection (the
// rpc workload's framing, payload checked), then time.Sleep(sleep_us) (a
// yield for 0, as in the C drivers).
// The value is per cycle; cycles_per_s is the loop's rate. sched_lat_p99_ns
// is, as in the C drivers, the p99 over every cycle of the time from a
// sleep's deadline until its goroutine ran again: the timer's expiry plus
// the wait from ready to running. The Go runtime's own sampled
// ready-to-running latency (/sched/latencies) is in counters.sched_lat_p99_ns.

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

const mixedPayload = 64

var mixedWorkload = &workload{
	name: "mixed",
	unit: "cycle",
	help: "goroutines alternate a CPU burst, a socket round trip and a timer sleep; " +
		"sched_lat_p99_ns is the p99 delay from a sleep's deadline until its goroutine runs " +
		"again (the runtime's sampled ready-to-running p99 is counters.sched_lat_p99_ns)",
	params: []paramSpec{
		{name: "tasks", typ: intParam, def: int64(64), min: 1, max: 100000,
			help: "goroutines, each with its own connection"},
		{name: "cycles", typ: intParam, def: int64(100), min: 1, max: 1e9,
			help: "cycles per goroutine per loop"},
		{name: "burst", typ: intParam, def: int64(2000), min: 0, max: 1e9,
			help: "LCG steps of the CPU burst of a cycle"},
		{name: "sleep_us", typ: intParam, def: int64(50), min: 0, max: 10000000,
			help: "microseconds of timer sleep per cycle"},
	},
	loop: mixedLoop,
}

func mixedLoop(a *args) (loopResult, error) {
	tasks, cycles := int(a.int("tasks")), uint64(a.int("cycles"))
	burst, sleep := uint64(a.int("burst")), time.Duration(a.int("sleep_us"))*time.Microsecond
	if need, limit := uint64(2*tasks+16), fileLimit(); need > limit {
		return loopResult{}, fmt.Errorf("%d goroutines need %d descriptors (a connection each, both ends), the limit is %d; "+
			"use tasks <= %d or raise the hard RLIMIT_NOFILE", tasks, need, limit, (limit-16)/2)
	}
	ln, pairs, err := openPairs(tasks)
	if err != nil {
		return loopResult{}, err
	}
	failed := &firstError{abort: func() { closePairs(pairs) }}
	var servers sync.WaitGroup
	servers.Add(tasks)
	for _, p := range pairs {
		go func() {
			defer servers.Done()
			failed.set(echo(p.server, mixedPayload))
		}()
	}

	states := make([]uint64, tasks)       // each goroutine's LCG state after its last burst
	early := make([]time.Duration, tasks) // the most a goroutine's sleep returned before its deadline
	wake := newShardedHistogram(min(tasks, 2*a.procs))
	start := make(chan struct{})
	var done sync.WaitGroup
	done.Add(tasks)
	for i, p := range pairs {
		c := newClient(i, p.client, mixedPayload)
		go func() {
			defer done.Done()
			<-start
			x := uint64(i)
			for seq := uint64(0); seq < cycles; seq++ {
				x = burn(x, burst)
				if err := c.roundTrip(seq); err != nil {
					failed.set(err)
					return
				}
				due := time.Now().Add(sleep)
				sleepOrYield(sleep)
				late := time.Since(due)
				early[i] = max(early[i], -late)
				wake.of(uint64(i)).record(uint64(max(late, 0)))
			}
			states[i] = x
		}()
	}
	t0 := time.Now()
	close(start)
	done.Wait()
	elapsed := time.Since(t0)

	for _, p := range pairs {
		p.client.Close()
	}
	servers.Wait()
	closePairs(pairs)
	ln.Close()
	if failed.err != nil {
		return loopResult{}, failed.err
	}
	for i, got := range states {
		if want := burn(uint64(i), burst*cycles); got != want {
			return loopResult{}, fmt.Errorf("goroutine %d ended its bursts in state %d, expected %d: a cycle was lost or ran twice", i, got, want)
		}
		if early[i] > 0 {
			return loopResult{}, fmt.Errorf("a sleep of %d us by goroutine %d returned %d ns before its deadline", sleep.Microseconds(), i, early[i].Nanoseconds())
		}
	}
	ops, woken := uint64(tasks)*cycles, wake.merged()
	if woken.count != ops {
		return loopResult{}, fmt.Errorf("%d wakeups counted for %d cycles: a cycle was lost or ran twice", woken.count, ops)
	}
	return loopResult{elapsed: elapsed, ops: ops, metrics: object{
		{"cycles_per_s", float64(ops) / elapsed.Seconds()},
		{"sched_lat_p99_ns", woken.percentile(99)},
	}}, nil
}

// sleepOrYield sleeps d, or yields for a d of 0, as the C runtime's
// tgo_sleep_ns(0) does: Go's time.Sleep(0) returns without a scheduling
// point, and the two drivers would measure different cycles.
func sleepOrYield(d time.Duration) {
	if d == 0 {
		runtime.Gosched()
		return
	}
	time.Sleep(d)
}
