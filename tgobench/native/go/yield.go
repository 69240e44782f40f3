package main

// yield: K goroutines each call runtime.Gosched M times: the cost of a
// switch through the scheduler. Each goroutine counts the yields that
// returned to it and stores the count in its own slot; every count must be M.
// That confirms only that every goroutine made its M calls: Go exposes no
// count of switches, so unlike the C drivers, which check the runtime's, this
// driver cannot tell a Gosched that switched from one that returned at once.

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

var yieldWorkload = &workload{
	name: "yield",
	unit: "switch",
	help: "K goroutines each call runtime.Gosched M times; the value is per yield",
	params: []paramSpec{
		{name: "tasks", typ: intParam, def: int64(4), min: 1, max: 1000000,
			help: "goroutines yielding at once"},
		{name: "yields", typ: intParam, def: int64(250000), min: 1, max: 1e9,
			help: "yields per goroutine"},
	},
	loop: yieldLoop,
}

func yieldLoop(a *args) (loopResult, error) {
	k, m := int(a.int("tasks")), a.int("yields")
	counted := make([]int64, k)
	var wg sync.WaitGroup

	start := time.Now()
	wg.Add(k)
	for i := 0; i < k; i++ {
		go func() {
			var n int64
			for j := int64(0); j < m; j++ {
				runtime.Gosched()
				n++
			}
			counted[i] = n
			wg.Done()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	for i, n := range counted {
		if n != m {
			return loopResult{}, fmt.Errorf("goroutine %d counted %d yields, expected %d", i, n, m)
		}
	}
	return loopResult{elapsed: elapsed, ops: uint64(k) * uint64(m)}, nil
}
