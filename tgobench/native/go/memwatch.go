package main

// memWatch: the C runtime's memory budget (src/mem.c) for a Go loop whose
// goroutines wait for their children. How many are alive at once is the
// scheduler's doing, and fib(40) keeps more alive than this machine holds:
// the OOM killer would end the driver and whatever it had measured. A `go`
// statement cannot fail, so a goroutine polls the resident set while the
// loop runs and raises a flag past the budget; the loop's spawners read it
// (one load of a line nobody writes until then) and stop spawning.
//
// The budget is the C runtime's: the resident set at the start plus
// MemAvailable less a reserve (an eighth, at least 256 MiB), or plus
// TGOBENCH_MEM_LIMIT_MIB where that is less. Without /proc it is unlimited.

import (
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

const (
	memReserveMinKiB = 256 * 1024
	memPollInterval  = 10 * time.Millisecond
)

type memWatch struct {
	over atomic.Bool
	stop chan struct{}
	done chan struct{}
}

// watchMemory starts polling; close() stops it.
func watchMemory() *memWatch {
	w := &memWatch{stop: make(chan struct{}), done: make(chan struct{})}
	budget := memBudgetKiB()
	if budget < 0 {
		close(w.done)
		return w
	}
	go w.poll(budget)
	return w
}

func memBudgetKiB() int64 {
	rss, avail := rssKiB(), memAvailableKiB()
	if rss < 0 || avail < 0 {
		return -1
	}
	reserve := max(avail/8, memReserveMinKiB)
	growth := max(avail-reserve, 0)
	if mib, err := strconv.ParseInt(os.Getenv("TGOBENCH_MEM_LIMIT_MIB"), 10, 64); err == nil &&
		mib > 0 && mib < growth/1024 {
		growth = mib * 1024
	}
	return rss + growth
}

func (w *memWatch) poll(budget int64) {
	defer close(w.done)
	tick := time.NewTicker(memPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-tick.C:
			if rss := rssKiB(); rss > budget {
				w.over.Store(true)
				return
			}
		}
	}
}

// exceeded: the resident set has outgrown the budget; spawn no more.
func (w *memWatch) exceeded() bool { return w.over.Load() }

func (w *memWatch) close() {
	close(w.stop)
	<-w.done
}
