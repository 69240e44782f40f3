package main

// chan: ping-pong over two unbuffered channels: the loop's goroutine sends
// i, a second goroutine answers i+1, R times. Both sides check every value;
// the value is per round trip (two rendezvous, two wake-ups).

import (
	"fmt"
	"time"
)

var chanWorkload = &workload{
	name: "chan",
	unit: "round trip",
	help: "ping-pong between two goroutines over two unbuffered channels",
	params: []paramSpec{
		{name: "rounds", typ: intParam, def: int64(200000), min: 1, max: 1e9,
			help: "round trips per loop"},
	},
	loop: chanLoop,
}

func chanLoop(a *args) (loopResult, error) {
	rounds := uint64(a.int("rounds"))
	ping, pong := make(chan uint64), make(chan uint64)
	pongFailed := make(chan error, 1)

	start := time.Now()
	go func() {
		defer close(pong)
		for i := uint64(0); i < rounds; i++ {
			v, ok := <-ping
			if !ok {
				return // the pinging side stopped early: it reports why
			}
			if v != i {
				pongFailed <- fmt.Errorf("round %d: the answering goroutine received %d", i, v)
				return
			}
			pong <- i + 1
		}
	}()
	var failed error
	for i := uint64(0); i < rounds && failed == nil; i++ {
		ping <- i
		v, ok := <-pong
		switch {
		case !ok:
			failed = <-pongFailed
		case v != i+1:
			failed = fmt.Errorf("round %d: answer %d, expected %d", i, v, i+1)
		}
	}
	close(ping)
	for range pong { // until the answering goroutine has returned
	}
	elapsed := time.Since(start)

	if failed != nil {
		return loopResult{}, failed
	}
	return loopResult{elapsed: elapsed, ops: rounds}, nil
}
