package main

// The driver protocol, version 1, as the C drivers speak it:
// one JSON object per line on stdin, exactly one JSON line answered on
// stdout per input line, EOF ends the driver. Any bad input (not JSON, not
// an object, an unknown op, workload or parameter, a wrong type, a value
// out of range, a failed result check, resources that ran out) is answered
// with {"ok":false,"error":"..."} that says what is wrong and how to fix it,
// and the driver keeps serving.
//
// This driver has no topology op: the Go runtime decides itself where its
// Ps run and does not expose the machine's topology, so the question is
// answered with an error object that says which drivers can answer it.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	protocolVersion = 1
	maxLineBytes    = 1 << 20
	maxJSONDepth    = 64
	maxProcs        = 256     // the C runtime's TGO_MAX_PROCS
	maxLoops        = 1000000 // the C drivers' PROTO_MAX_LOOPS
)

// version is the tgobench version; the build sets it with -ldflags -X.
var version = "0.1.0"

// field and object keep an answer's keys in the order they were built, so
// that a person reads "ok" first.
type field struct {
	key   string
	value any
}

type object []field

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := marshal(f.key)
		b.Write(k)
		b.WriteByte(':')
		v, err := marshal(f.value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshal is json.Marshal without HTML escaping: a person reads "<=", not
// "\u003c=".
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func errorAnswer(format string, a ...any) object {
	return object{{"ok", false}, {"error", fmt.Sprintf(format, a...)}}
}

type driver struct {
	procs int // the default Ps of a run; a request may override it
}

// serve answers every line of in on out until EOF.
func (d *driver) serve(in io.Reader, out io.Writer) error {
	r := bufio.NewReaderSize(in, 64*1024)
	w := bufio.NewWriter(out)
	for {
		line, tooLong, readErr := readLine(r)
		if readErr == io.EOF && len(line) == 0 && !tooLong {
			return nil
		}
		if readErr != nil && readErr != io.EOF {
			return readErr
		}
		answer := errorAnswer("the request line is longer than %d bytes", maxLineBytes)
		if !tooLong {
			answer = d.answer(line)
		}
		if err := writeAnswer(w, answer); err != nil {
			return err
		}
		if readErr == io.EOF {
			return nil
		}
	}
}

// readLine reads one line without its newline (nor a \r before it). A
// line over maxLineBytes is consumed to its end, never buffered, and
// reported as too long.
func readLine(r *bufio.Reader) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		content := bytes.TrimSuffix(chunk, []byte("\n"))
		if !tooLong && len(line)+len(content) > maxLineBytes {
			tooLong, line = true, nil
		}
		if !tooLong {
			line = append(line, content...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimSuffix(line, []byte("\r")), tooLong, err
	}
}

func writeAnswer(w *bufio.Writer, answer object) error {
	b, err := marshal(answer)
	if err != nil {
		return err
	}
	w.Write(b)
	w.WriteByte('\n')
	return w.Flush()
}

// answer answers one request line.
func (d *driver) answer(line []byte) object {
	v, err := parseJSON(line)
	if err != nil {
		return errorAnswer("the request is not JSON: %v", err)
	}
	req, ok := v.(map[string]any)
	if !ok {
		return errorAnswer(`a request must be a JSON object such as {"op":"hello"}, got %s`, typePhrase(v))
	}
	op, ok := req["op"].(string)
	if !ok {
		return errorAnswer(`a request needs "op": one of hello, run`)
	}
	switch op {
	case "hello":
		if err := checkKeys(req, "a hello request", "op"); err != nil {
			return errorAnswer("%v", err)
		}
		return d.hello()
	case "run":
		run, err := d.parseRun(req)
		if err != nil {
			return errorAnswer("%v", err)
		}
		return run.execute()
	case "topology":
		return errorAnswer("the go driver has no topology op: the Go runtime places its Ps " +
			"itself and does not expose the machine's topology; ask the tgo or gmp driver")
	}
	return errorAnswer("unknown op %s; known: hello, run", quote(op))
}

// checkKeys refuses a key of req that is not one of known.
func checkKeys(req map[string]any, what string, known ...string) error {
	for key := range req {
		if !slices.Contains(known, key) {
			return fmt.Errorf("unknown key %s in %s; known keys: %s", quote(key), what, strings.Join(known, ", "))
		}
	}
	return nil
}

func (d *driver) hello() object {
	described := object{}
	for _, w := range registry {
		params := object{}
		for _, p := range w.params {
			spec := object{{"type", string(p.typ)}, {"default", p.def}}
			switch p.typ {
			case intParam:
				spec = append(spec, field{"min", int64(p.min)}, field{"max", int64(p.max)})
			case floatParam:
				spec = append(spec, field{"min", p.min}, field{"max", p.max})
			case strParam:
				spec = append(spec, field{"choices", p.choices})
			}
			params = append(params, field{p.name, append(spec, field{"help", p.help})})
		}
		described = append(described, field{w.name, object{
			{"unit", w.unit}, {"help", w.help}, {"params", params}}})
	}
	return object{
		{"ok", true},
		{"impl", "go"},
		{"version", version},
		{"protocol", protocolVersion},
		{"procs", d.procs},
		{"compiler", runtime.Version()},
		{"build_flags", buildFlags()},
		{"workloads", described},
	}
}

// buildFlags is how this binary was built, from its build information:
// "-trimpath=true CGO_ENABLED=0 GOAMD64=v1 ...".
func buildFlags() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var flags []string
	for _, s := range info.Settings {
		if !strings.HasPrefix(s.Key, "vcs") {
			flags = append(flags, s.Key+"="+s.Value)
		}
	}
	return strings.Join(flags, " ")
}

// runRequest is a run request that passed every check.
type runRequest struct {
	w     *workload
	args  *args
	loops int
}

// parseRun checks a whole run request before anything runs: its keys, the
// workload, every parameter against its spec, loops and procs.
func (d *driver) parseRun(req map[string]any) (*runRequest, error) {
	if err := checkKeys(req, "a run request", "op", "workload", "params", "loops", "procs"); err != nil {
		return nil, err
	}
	name, ok := req["workload"].(string)
	if !ok {
		return nil, fmt.Errorf(`a run request needs "workload": a string, one of %s`, workloadNames())
	}
	w := findWorkload(name)
	if w == nil {
		return nil, fmt.Errorf("unknown workload %s; known: %s", quote(name), workloadNames())
	}
	a := &args{values: map[string]any{}, procs: d.procs}
	for _, p := range w.params {
		a.values[p.name] = p.def
	}
	if raw, present := req["params"]; present {
		given, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf(`"params" must be an object such as {"%s": ...}, got %s`,
				w.params[0].name, typePhrase(raw))
		}
		for _, key := range sortedKeys(given) {
			p := w.param(key)
			if p == nil {
				return nil, fmt.Errorf("unknown parameter %s for %s; known: %s", quote(key), w.name, w.paramNames())
			}
			v, err := p.check(" of "+w.name, given[key])
			if err != nil {
				return nil, err
			}
			a.values[key] = v
		}
	}
	run := &runRequest{w: w, args: a, loops: 1}
	if raw, present := req["loops"]; present {
		loops, err := checkInteger("loops", "", raw, 1, maxLoops)
		if err != nil {
			return nil, err
		}
		run.loops = int(loops)
	}
	if raw, present := req["procs"]; present {
		procs, err := checkInteger("procs", "", raw, 1, maxProcs)
		if err != nil {
			return nil, err
		}
		a.procs = int(procs)
	}
	return run, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// check converts a parameter's JSON value, or says what was expected.
func (p *paramSpec) check(of string, v any) (any, error) {
	switch p.typ {
	case intParam:
		return checkInteger(p.name, of, v, p.min, p.max)
	case floatParam:
		f, ok := number(v)
		if !ok {
			return nil, fmt.Errorf("%s%s must be a number in %s..%s, got %s", p.name, of,
				formatNumber(p.min), formatNumber(p.max), describeValue(v))
		}
		if f < p.min || f > p.max {
			return nil, fmt.Errorf("%s%s is %s, out of range: give %s..%s", p.name, of,
				describeValue(v), formatNumber(p.min), formatNumber(p.max))
		}
		return f, nil
	case boolParam:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("%s%s must be true or false, got %s", p.name, of, describeValue(v))
		}
		return b, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%s%s must be a string, got %s", p.name, of, describeValue(v))
	}
	if !slices.Contains(p.choices, s) {
		return nil, fmt.Errorf("%s%s must be one of: %s; got %s", p.name, of,
			strings.Join(p.choices, ", "), describeValue(v))
	}
	return s, nil
}

// checkInteger accepts a number with an integral value (1000, 1e3, 1000.0)
// in [min, max].
func checkInteger(name, of string, v any, min, max float64) (int64, error) {
	f, ok := number(v)
	if !ok || f != math.Trunc(f) {
		return 0, fmt.Errorf("%s%s must be an integer in %s..%s, got %s", name, of,
			formatNumber(min), formatNumber(max), describeValue(v))
	}
	if f < min || f > max {
		return 0, fmt.Errorf("%s%s is %s, out of range: give %s..%s", name, of,
			describeValue(v), formatNumber(min), formatNumber(max))
	}
	return int64(f), nil // exact: every range is within 2^53
}

// number is the value of a JSON number.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// execute runs the loops of a checked request in this process's one Go
// runtime and builds the answer. elapsed_ns and ops sum the loops as each
// measured them; the workload's own metrics are those of the last loop (as
// in the C drivers); the counters cover all loops.
func (run *runRequest) execute() object {
	w, a := run.w, run.args
	if runtime.GOMAXPROCS(0) != a.procs {
		runtime.GOMAXPROCS(a.procs)
	}
	// Start from a collected heap with free memory returned to the OS, as
	// each C request starts a fresh runtime: an earlier request's stacks
	// and buffers, kept by the Go runtime for reuse, would otherwise count
	// in this one's peak RSS.
	debug.FreeOSMemory()
	resetPeakRSS()
	before := readRuntimeCounters()
	var elapsed time.Duration
	var ops uint64
	var last loopResult
	perLoop := make([]int64, run.loops)
	for i := 0; i < run.loops; i++ {
		a.loop = i
		r, err := w.loop(a)
		if err == nil && r.ops == 0 {
			err = errors.New("the loop reported no operations")
		}
		if err != nil {
			return errorAnswer("%s: %v (loop %d of %d)", w.name, err, i+1, run.loops)
		}
		perLoop[i] = r.elapsed.Nanoseconds()
		elapsed += r.elapsed
		ops += r.ops
		last = r
	}
	metrics := object{
		{"peak_rss_kib", peakRSSKiB()},
		{"counters", readRuntimeCounters().since(before)},
	}
	metrics = append(metrics, last.metrics...)
	params := object{}
	for _, p := range w.params {
		params = append(params, field{p.name, a.values[p.name]})
	}
	return object{
		{"ok", true},
		{"workload", w.name},
		{"elapsed_ns", elapsed.Nanoseconds()},
		{"loops", run.loops},
		{"ops", ops},
		{"unit", w.unit},
		{"procs", a.procs},
		{"params", params},
		{"per_loop_ns", perLoop},
		{"metrics", metrics},
	}
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'g', 15, 64) }

// typePhrase names the type of a JSON value as the C driver does.
func typePhrase(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(t)
	case int64:
		return "an integer"
	case float64:
		return "a number with a fraction"
	case string:
		return "a string"
	case []any:
		return "an array"
	}
	return "an object"
}

// describeValue shows what a person sent: 1.5, the string 'abc', true.
func describeValue(v any) string {
	switch t := v.(type) {
	case int64:
		return strconv.FormatInt(t, 10)
	case float64:
		return formatNumber(t)
	case string:
		return "the string " + quote(t)
	}
	return typePhrase(v)
}

// quote shows a user's string in a message: single-quoted, bytes outside
// printable ASCII escaped, shortened.
func quote(s string) string {
	const shown = 48
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(s) && i < shown; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "\\x%02x", c)
		}
	}
	if len(s) > shown {
		b.WriteString("...")
	}
	b.WriteByte('\'')
	return b.String()
}
