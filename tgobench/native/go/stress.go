package main

// stress: a seeded random mix of spawn trees and channel pipelines, for
// correctness more than speed: every goroutine must run exactly once, every
// token sent must be received once, and a mutex must exclude. The plan is
// the C workload's (workloads/stress.c), drawn from the same generators,
// so a seed describes the same tasks on every implementation.
//
// Goroutine `id` draws its decisions from a xorshift generator seeded by
// (seed, id). Ids 0..tasks-1 are handed out by budget: a job owns the ids
// [id, id+budget) and spends the rest of its budget on children, each
// either a subtree (a job with a random part of the budget) or a pipeline
// of 2..8 stages passing 1..16 tokens through channels picked from the
// `chans` shared ones (random capacities, 0 for unbuffered), always in
// increasing channel order, so the channel graph is acyclic and every
// pipeline drains. A job joins its children on its own WaitGroup or not
// (coin flip); goroutines yield, sleep a few microseconds and take the
// mutex at random. Pipelines share channels, so a token may leave by
// another pipeline's sink: the token checks are global (count and sum).

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const (
	maxStages = 8
	maxTokens = 16
	notAStage = -2 // stressTask.in of a job
	noChan    = -1 // a source's in, a sink's out
)

var stressWorkload = &workload{
	name: "stress",
	unit: "task",
	help: "a seeded random mix of spawn trees and channel pipelines with yields, " +
		"sleeps and a mutex; checks every goroutine ran exactly once",
	params: []paramSpec{
		{name: "seed", typ: intParam, def: int64(1), min: 0, max: 2147483648,
			help: "seed of the random plan; the same seed gives the same plan"},
		{name: "tasks", typ: intParam, def: int64(10000), min: 1, max: 10000000,
			help: "goroutines in the plan, every one run exactly once"},
		{name: "chans", typ: intParam, def: int64(8), min: 1, max: 1024,
			help: "channels shared by the pipelines"},
	},
	loop: stressLoop,
}

// stressTask is written by the spawning goroutine before `go`.
type stressTask struct {
	join    *sync.WaitGroup // the parent's, or nil
	count   uint32          // job: its budget of ids; stage: tokens it passes
	in, out int             // stage: channel indices; job: in == notAStage
}

type stressRun struct {
	seed                                   uint64
	tasks                                  []stressTask
	ran                                    []atomic.Uint32
	chans                                  []chan uint64
	all                                    sync.WaitGroup
	mu                                     sync.Mutex
	muCount                                uint64 // only under mu
	muEnters                               atomic.Uint64
	twice                                  atomic.Int64 // -1, or the first id that ran twice
	sentSum, sentCount, recvSum, recvCount atomic.Uint64
}

func (s *stressRun) rngSeeded(id uint64) uint64 {
	if x := mix64(s.seed*0x100000001b3 ^ id); x != 0 {
		return x
	}
	return 1
}

// next is Marsaglia's xorshift64, reduced to [0, bound).
func next(x *uint64, bound uint32) uint32 {
	*x ^= *x << 13
	*x ^= *x >> 7
	*x ^= *x << 17
	return uint32((*x >> 32) % uint64(bound))
}

func (s *stressRun) tokenValue(id, j uint32) uint64 {
	return mix64(s.seed<<32 ^ uint64(id)<<5 ^ uint64(j))
}

func maybePause(rng *uint64) {
	r := next(rng, 16)
	if r < 3 {
		for i := uint32(0); i <= r; i++ {
			runtime.Gosched()
		}
	} else if r == 3 {
		time.Sleep(time.Duration(1+next(rng, 50)) * time.Microsecond)
	}
}

func (s *stressRun) maybeLock(rng *uint64) {
	if next(rng, 8) != 0 {
		return
	}
	s.mu.Lock()
	s.muCount++
	if next(rng, 2) != 0 {
		runtime.Gosched() // hold it across a switch
	}
	s.mu.Unlock()
	s.muEnters.Add(1)
}

func (s *stressRun) spawn(id uint32, join *sync.WaitGroup) {
	s.tasks[id].join = join
	if join != nil {
		join.Add(1)
	}
	go s.task(id)
}

// spawnPipeline describes and starts the stages first..first+nstages-1.
func (s *stressRun) spawnPipeline(first, nstages uint32, join *sync.WaitGroup, rng *uint64) {
	tokens := 1 + next(rng, maxTokens)
	nlinks, prev := int(nstages)-1, noChan
	for k := 0; k <= nlinks; k++ {
		t := &s.tasks[first+uint32(k)]
		t.count, t.in = tokens, prev
		if k < nlinks {
			// a channel above prev, leaving room for the later links
			lo, hi := prev+1, len(s.chans)-(nlinks-k)
			prev = lo + int(next(rng, uint32(hi-lo+1)))
			t.out = prev
		} else {
			t.out = noChan
		}
	}
	for k := uint32(0); k < nstages; k++ {
		s.spawn(first+k, join)
	}
}

func (s *stressRun) runJob(id uint32, rng *uint64) {
	nextID, rest := id+1, s.tasks[id].count-1
	var join *sync.WaitGroup
	if rest > 0 && next(rng, 2) != 0 {
		join = new(sync.WaitGroup)
	}
	maybePause(rng)
	s.maybeLock(rng)
	for rest > 0 {
		room := min(rest-1, uint32(len(s.chans)), maxStages-1) // stages beyond the first
		var spent uint32
		if room > 0 && next(rng, 3) == 0 {
			spent = 2 + next(rng, room)
			s.spawnPipeline(nextID, spent, join, rng)
		} else {
			spent = 1 + next(rng, rest)
			s.tasks[nextID].count, s.tasks[nextID].in = spent, notAStage
			s.spawn(nextID, join)
		}
		nextID += spent
		rest -= spent
		if next(rng, 8) == 0 {
			runtime.Gosched()
		}
	}
	if join != nil {
		join.Wait()
	}
}

func (s *stressRun) runStage(id uint32, rng *uint64) {
	t := &s.tasks[id]
	var sentSum, sentCount, recvSum, recvCount uint64
	for j := uint32(0); j < t.count; j++ {
		var v uint64
		if t.in >= 0 {
			v = <-s.chans[t.in]
		} else {
			v = s.tokenValue(id, j)
			sentSum += v
			sentCount++
		}
		if t.out >= 0 {
			if next(rng, 8) == 0 {
				runtime.Gosched()
			}
			s.chans[t.out] <- v
		} else {
			recvSum += v
			recvCount++
		}
	}
	s.sentSum.Add(sentSum)
	s.sentCount.Add(sentCount)
	s.recvSum.Add(recvSum)
	s.recvCount.Add(recvCount)
}

func (s *stressRun) task(id uint32) {
	if s.ran[id].Swap(1) != 0 {
		s.twice.CompareAndSwap(-1, int64(id))
	}
	rng := s.rngSeeded(uint64(id))
	join := s.tasks[id].join
	if s.tasks[id].in == notAStage {
		s.runJob(id, &rng)
	} else {
		s.runStage(id, &rng)
	}
	if join != nil {
		join.Done()
	}
	s.all.Done()
}

func stressLoop(a *args) (loopResult, error) {
	seed, n := uint64(a.int("seed")), uint32(a.int("tasks"))
	s := &stressRun{seed: seed, tasks: make([]stressTask, n), ran: make([]atomic.Uint32, n),
		chans: make([]chan uint64, a.int("chans"))}
	s.twice.Store(-1)
	caps := []int{0, 0, 1, 2, 8}
	rng := s.rngSeeded(1 << 40)
	for c := range s.chans {
		s.chans[c] = make(chan uint64, caps[next(&rng, uint32(len(caps)))])
	}
	s.tasks[0].count, s.tasks[0].in = n, notAStage

	start := time.Now()
	s.all.Add(int(n))
	s.spawn(0, nil)
	s.all.Wait()
	elapsed := time.Since(start)

	if id := s.twice.Load(); id >= 0 {
		return loopResult{}, fmt.Errorf("seed=%d: goroutine %d ran twice", seed, id)
	}
	for id := range s.ran {
		if s.ran[id].Load() == 0 {
			return loopResult{}, fmt.Errorf("seed=%d: goroutine %d never ran", seed, id)
		}
	}
	if s.sentCount.Load() != s.recvCount.Load() || s.sentSum.Load() != s.recvSum.Load() {
		return loopResult{}, fmt.Errorf("seed=%d: %d tokens sent, %d received, or their values differ: "+
			"a token was lost, duplicated or corrupted", seed, s.sentCount.Load(), s.recvCount.Load())
	}
	if s.muCount != s.muEnters.Load() {
		return loopResult{}, fmt.Errorf("seed=%d: the mutex counter is %d after %d critical sections: "+
			"the mutex did not exclude", seed, s.muCount, s.muEnters.Load())
	}
	return loopResult{elapsed: elapsed, ops: uint64(n)}, nil
}
