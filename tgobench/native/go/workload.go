package main

// How a workload is described to the protocol: its parameters (name, type,
// default, range) and a loop function that runs once per loop of a `run`
// request, times its own measured part with the monotonic clock, counts the
// operations its value is per, and checks its result in closed form. A
// failed check is an error, never a number. The C drivers describe theirs
// the same way (workloads/workload.h), with the same names, defaults and
// ranges, so that a suite runs unchanged on every implementation.

import (
	"sort"
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
}

func (a *args) int(name string) int64     { return a.values[name].(int64) }
func (a *args) float(name string) float64 { return a.values[name].(float64) }
func (a *args) str(name string) string    { return a.values[name].(string) }

// loopResult is what one loop measured.
type loopResult struct {
	elapsed time.Duration // the measured part only
	ops     uint64        // operations the value is per
	// Per-workload material that summarize turns into the request's
	// figures: numbers by name, and latencies.
	figures map[string]float64
	latency *histogram
}

type workload struct {
	name   string
	unit   string
	help   string
	params []paramSpec
	loop   func(a *args) (loopResult, error)
	// summarize turns the loops' results into the workload's own metrics;
	// nil when it has none.
	summarize func(loops []loopResult) object
}

var workloads = map[string]*workload{}

func register(w *workload) { workloads[w.name] = w }

func workloadNames() []string {
	names := make([]string, 0, len(workloads))
	for name := range workloads {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
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
