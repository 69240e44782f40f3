package main

// fib: fork-join fib(n): every call is a goroutine; an inner call starts
// its two children, waits for them on its own sync.WaitGroup and adds their
// results and task counts. The tree has 2*fib(n+1)-1 goroutines and the
// root returns fib(n); both are checked. The value is per goroutine. A
// child is not started once the resident set outgrew the memory budget
// (memwatch.go): the loop then fails with the fix.

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

var fibWorkload = &workload{
	name: "fib",
	unit: "task",
	help: "fork-join fib(n), one goroutine per call and a sync.WaitGroup per inner call; the value is per goroutine",
	params: []paramSpec{
		{name: "n", typ: intParam, def: int64(25), min: 1, max: 40, help: "compute fib(n)"},
	},
	loop: fibLoop,
}

type fibNode struct {
	n      int
	result uint64
	tasks  uint64 // goroutines in this call's subtree, itself included
}

type fibRun struct {
	mem     *memWatch
	skipped atomic.Bool // a child was not started: out of memory
}

func (me *fibNode) run(parent *sync.WaitGroup, r *fibRun) {
	defer parent.Done()
	me.tasks = 1
	if me.n < 2 {
		me.result = uint64(me.n)
		return
	}
	kids := [2]fibNode{{n: me.n - 1}, {n: me.n - 2}}
	var wg sync.WaitGroup
	wg.Add(2)
	for i := range kids {
		if r.mem.exceeded() {
			r.skipped.Store(true)
			wg.Done()
			continue
		}
		go kids[i].run(&wg, r)
	}
	wg.Wait()
	me.result = kids[0].result + kids[1].result
	me.tasks += kids[0].tasks + kids[1].tasks
}

func fibClosed(n int) uint64 {
	a, b := uint64(0), uint64(1)
	for i := 0; i < n; i++ {
		a, b = b, a+b
	}
	return a
}

func fibLoop(a *args) (loopResult, error) {
	n := int(a.int("n"))
	wantResult, wantTasks := fibClosed(n), 2*fibClosed(n+1)-1
	root := fibNode{n: n}
	run := fibRun{mem: watchMemory()}
	var wg sync.WaitGroup

	start := time.Now()
	wg.Add(1)
	go root.run(&wg, &run)
	wg.Wait()
	elapsed := time.Since(start)
	run.mem.close()

	if run.skipped.Load() {
		return loopResult{}, fmt.Errorf("out of memory spawning %d goroutines (more were alive "+
			"at once than the memory available holds); lower n", wantTasks)
	}
	if root.result != wantResult || root.tasks != wantTasks {
		return loopResult{}, fmt.Errorf("fib(%d) gave %d in %d goroutines, expected %d in %d",
			n, root.result, root.tasks, wantResult, wantTasks)
	}
	return loopResult{elapsed: elapsed, ops: wantTasks, metrics: object{{"result", root.result}}}, nil
}
