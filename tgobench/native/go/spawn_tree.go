package main

// spawn-tree: recursive spawn from one goroutine: every node of depth < d
// adds b to the tree's WaitGroup and starts b children, so the tree has
// sum_{i=0..d} b^i nodes and every P but the first gets its work by
// stealing. Each node marks its own slot (numbered breadth-first); every
// slot must be marked exactly once.

import (
	"fmt"
	"sync"
	"time"
)

const maxTreeNodes = 100000000

var spawnTreeWorkload = &workload{
	name: "spawn-tree",
	unit: "task",
	help: "recursive spawn from one goroutine, fan-out b, depth d; the value is per tree node",
	params: []paramSpec{
		{name: "fanout", typ: intParam, def: int64(4), min: 1, max: 64,
			help: "children per inner node"},
		{name: "depth", typ: intParam, def: int64(10), min: 0, max: 30,
			help: "levels below the root (the tree has at most 1e8 nodes)"},
	},
	loop: spawnTreeLoop,
}

// treeSize is sum_{i=0..depth} fanout^i, or 0 past maxTreeNodes.
func treeSize(fanout, depth int) int {
	level, total := 1, 1
	for i := 0; i < depth; i++ {
		level *= fanout
		total += level
		if level > maxTreeNodes || total > maxTreeNodes {
			return 0
		}
	}
	return total
}

func spawnTreeLoop(a *args) (loopResult, error) {
	fanout, depth := int(a.int("fanout")), int(a.int("depth"))
	nodes := treeSize(fanout, depth)
	if nodes == 0 {
		return loopResult{}, fmt.Errorf("fanout %d and depth %d give more than 1e8 nodes; lower depth or fanout", fanout, depth)
	}
	ran := make([]uint8, nodes)
	var wg sync.WaitGroup
	// node idx's children are idx*fanout+1 .. idx*fanout+fanout.
	var node func(idx, below int)
	node = func(idx, below int) {
		ran[idx]++
		if below > 0 {
			wg.Add(fanout)
			for j := 1; j <= fanout; j++ {
				go node(idx*fanout+j, below-1)
			}
		}
		wg.Done()
	}

	start := time.Now()
	wg.Add(1)
	go node(0, depth)
	wg.Wait()
	elapsed := time.Since(start)

	if err := eachRanOnce(ran, "node"); err != nil {
		return loopResult{}, err
	}
	return loopResult{elapsed: elapsed, ops: uint64(nodes)}, nil
}
