package main

// Driver-level metrics: peak RSS from /proc, and what the Go runtime counts
// about itself, read through runtime/metrics (no stop-the-world, unlike
// runtime.ReadMemStats) before the first loop and after the last, outside
// every measured part.
//
// Counters, named like the C drivers' where the meaning is the same:
//   tasks_spawned     goroutines created during the request
//   gc_cycles         GC cycles completed during the request
//   goroutines        runtime.NumGoroutine() at the end: 1 plus any leaked,
//                     or just ending after signalling a WaitGroup
//   threads           OS threads the runtime holds at the end
//   sched_lat_*       ready-to-running latency as the Go runtime samples it
//                     (/sched/latencies): a subset of transitions, in
//                     buckets a quarter of a power of two wide; a
//                     percentile is reported as its bucket's upper bound.
// Go hides its Ps, so there is no per_p_tasks_run and no steal count.

import (
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
)

const (
	metricCreated  = "/sched/goroutines-created:goroutines" // Go 1.26+
	metricGCCycles = "/gc/cycles/total:gc-cycles"
	metricThreads  = "/sched/threads/total:threads" // Go 1.26+
	metricSchedLat = "/sched/latencies:seconds"
)

type runtimeCounters map[string]metrics.Value

func readRuntimeCounters() runtimeCounters {
	names := []string{metricCreated, metricGCCycles, metricThreads, metricSchedLat}
	samples := make([]metrics.Sample, len(names))
	for i, name := range names {
		samples[i].Name = name
	}
	metrics.Read(samples)
	c := runtimeCounters{}
	for _, s := range samples {
		if s.Value.Kind() != metrics.KindBad { // absent from this Go version
			c[s.Name] = s.Value
		}
	}
	return c
}

// since describes the request between before and c as the counters object.
func (c runtimeCounters) since(before runtimeCounters) object {
	out := object{}
	delta := func(key, name string) {
		a, okA := c[name]
		b, okB := before[name]
		if okA && okB {
			out = append(out, field{key, a.Uint64() - b.Uint64()})
		}
	}
	gauge := func(key, name string) {
		if v, ok := c[name]; ok {
			out = append(out, field{key, v.Uint64()})
		}
	}
	delta("tasks_spawned", metricCreated)
	delta("gc_cycles", metricGCCycles)
	out = append(out, field{"goroutines", runtime.NumGoroutine()})
	gauge("threads", metricThreads)
	if a, ok := c[metricSchedLat]; ok {
		lat := newSchedLatency(a.Float64Histogram())
		if b, ok := before[metricSchedLat]; ok {
			lat = lat.since(newSchedLatency(b.Float64Histogram()))
		}
		out = append(out,
			field{"sched_lat_samples", lat.samples()},
			field{"sched_lat_p50_ns", lat.percentileNs(50)},
			field{"sched_lat_p99_ns", lat.percentileNs(99)},
			field{"sched_lat_max_ns", lat.percentileNs(100)})
	}
	return out
}

// schedLatency is a copy of the runtime's ready-to-running histogram.
type schedLatency struct {
	counts  []uint64
	buckets []float64 // seconds; len(counts)+1 boundaries
}

func newSchedLatency(h *metrics.Float64Histogram) schedLatency {
	return schedLatency{append([]uint64(nil), h.Counts...), h.Buckets}
}

func readSchedLatency() schedLatency {
	s := []metrics.Sample{{Name: metricSchedLat}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return schedLatency{}
	}
	return newSchedLatency(s[0].Value.Float64Histogram())
}

// since is what was recorded between before and l.
func (l schedLatency) since(before schedLatency) schedLatency {
	d := schedLatency{make([]uint64, len(l.counts)), l.buckets}
	for i := range l.counts {
		d.counts[i] = l.counts[i]
		if i < len(before.counts) {
			d.counts[i] -= before.counts[i]
		}
	}
	return d
}

// add merges o (of the same layout) into l.
func (l *schedLatency) add(o schedLatency) {
	if l.counts == nil {
		l.counts, l.buckets = make([]uint64, len(o.counts)), o.buckets
	}
	for i := range o.counts {
		l.counts[i] += o.counts[i]
	}
}

func (l schedLatency) samples() uint64 {
	var n uint64
	for _, c := range l.counts {
		n += c
	}
	return n
}

// percentileNs is the upper bound of the bucket that holds the pct-th
// percentile (ranked as the latency histogram ranks), 0 with no samples.
func (l schedLatency) percentileNs(pct float64) uint64 {
	n := l.samples()
	if n == 0 {
		return 0
	}
	rank, seen := percentileRank(n, pct), uint64(0)
	for i, c := range l.counts {
		seen += c
		if seen >= rank {
			upper := l.buckets[i+1]
			if math.IsInf(upper, 1) {
				upper = l.buckets[i]
			}
			return uint64(math.Round(upper * 1e9))
		}
	}
	return 0
}

// resetPeakRSS makes VmHWM start again from the current RSS ("5" to
// clear_refs, Linux 4.0+), so that peak_rss_kib is this request's peak.
// Where that is not allowed the peak is the process's since it started.
func resetPeakRSS() {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

func peakRSSKiB() int64 { return procKiB("/proc/self/status", "VmHWM") }

// memAvailableKiB: the kernel's MemAvailable, or the room the process's
// memory cgroups leave where that is less; -1 if neither is known.
func memAvailableKiB() int64 {
	machine, room := procKiB("/proc/meminfo", "MemAvailable"), cgroupRoomKiB("")
	if machine < 0 || room < 0 {
		return max(machine, room)
	}
	return min(machine, room)
}

// procKiB reads a "Key:   123 kB" line of a /proc file; -1 if absent.
func procKiB(path, key string) int64 { return lineValue(path, key+":") }

// lineValue: the number after prefix on the first line of a file that
// starts with it; -1 if there is none.
func lineValue(path, prefix string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				if v, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return v
				}
			}
		}
	}
	return -1
}

// rssKiB is the resident set size from /proc/self/statm, -1 if unreadable.
func rssKiB() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	fields := strings.Fields(string(data))
	if len(fields) < 2 {
		return -1
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return -1
	}
	return pages * int64(os.Getpagesize()) / 1024
}

// openFDs counts the process's open descriptors, not counting the one used
// to list them.
func openFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries) - 1
}
