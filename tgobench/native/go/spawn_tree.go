package main

// spawn-tree: recursive spawn from one goroutine: every node of depth < d
// starts b children, so the tree has sum_{i=0..d} b^i nodes and every P but
// the first gets its work by stealing. Each node marks its own slot
// (numbered breadth-first); every slot must be marked exactly once.
//
// The wait counts in two levels, as the C workload's does: the subtrees
// rooted at the deepest level whose subtrees have at least spawnGroup nodes
// are the groups, each counted down by its nodes on lines of its own; the
// WaitGroup counts the groups and the few nodes above them.

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
	// Groups are the subtrees rooted at groupDepth; with fewer than
	// spawnGroup nodes in all, the whole tree is one group.
	groupDepth := 0
	for k := depth; k > 0; k-- {
		if treeSize(fanout, depth-k) >= spawnGroup {
			groupDepth = k
			break
		}
	}
	groupSize := int64(treeSize(fanout, depth-groupDepth))
	ngroups := 1 // fanout^groupDepth
	for k := 0; k < groupDepth; k++ {
		ngroups *= fanout
	}
	groups := make([]groupCount, ngroups)
	for g := range groups {
		groups[g].left.Store(groupSize)
	}
	var wg sync.WaitGroup
	// the nodes down to the group depth, each group standing for its root
	wg.Add(treeSize(fanout, groupDepth))

	// Node idx's children are idx*fanout+1 .. idx*fanout+fanout; where is
	// its position in its level above the groups, else its group.
	var node func(idx, where, level int)
	node = func(idx, where, level int) {
		ran[idx]++
		if level < depth {
			for j := 0; j < fanout; j++ {
				child := where
				if level < groupDepth {
					child = where*fanout + j
				}
				go node(idx*fanout+1+j, child, level+1)
			}
		}
		if level < groupDepth {
			wg.Done()
		} else if groups[where].left.Add(-1) == 0 {
			wg.Done()
		}
	}

	start := time.Now()
	go node(0, 0, 0)
	wg.Wait()
	elapsed := time.Since(start)

	if err := eachRanOnce(ran, "node"); err != nil {
		return loopResult{}, err
	}
	return loopResult{elapsed: elapsed, ops: uint64(nodes)}, nil
}
