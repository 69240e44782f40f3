package main

// How a workload is described to the protocol: its parameters (name, type,
// default, range) and a loop function that runs once per loop of a `run`
// request, times its own measured part with the monotonic clock, counts the
// operations its value is per, and checks its result in closed form. A
// failed check is an error, never a number. The C drivers describe theirs
// the same way (workloads/workload.h), with the same names, defaults and
// ranges, so that a suite runs unchanged on every implementation.

import (
	"strings"
	"time"
)

type paramType string

const (
	intParam   paramType = "int"
	floatParam paramType = "float"
	boolParam  paramType = "bool"
	strParam   paramType = "str"
)

type paramSpec struct {
	name    string
	typ     paramType
	def     any // int64, float64, bool or string, by typ
	min     float64
	max     float64
	choices []string
	help    string
}

// args are a request's parameters, every one present and checked.
type args struct {
	values map[string]any
	procs  int
	loop   int // 0 for the first loop of a request
}

func (a *args) int(name string) int64  { return a.values[name].(int64) }
func (a *args) str(name string) string { return a.values[name].(string) }

// loopResult is what one loop measured.
type loopResult struct {
	elapsed time.Duration // the measured part only
	ops     uint64        // operations the value is per
	metrics object        // the workload's own figures
}

type workload struct {
	name   string
	unit   string
	help   string
	params []paramSpec
	loop   func(a *args) (loopResult, error)
}

// registry lists the workloads in the order hello gives them, the C
// drivers' order (workloads/registry.c).
var registry = []*workload{
	spawnWorkload, spawnTreeWorkload, yieldWorkload, chanWorkload, fibWorkload,
	skewWorkload, parkedWorkload, stressWorkload, rpcWorkload, mixedWorkload,
}

func findWorkload(name string) *workload {
	for _, w := range registry {
		if w.name == name {
			return w
		}
	}
	return nil
}

func workloadNames() string {
	names := make([]string, len(registry))
	for i, w := range registry {
		names[i] = w.name
	}
	return strings.Join(names, ", ")
}

func (w *workload) param(name string) *paramSpec {
	for i := range w.params {
		if w.params[i].name == name {
			return &w.params[i]
		}
	}
	return nil
}

func (w *workload) paramNames() string {
	names := make([]string, len(w.params))
	for i, p := range w.params {
		names[i] = p.name
	}
	return strings.Join(names, ", ")
}
