package main

// The driver protocol, version 1 (DESIGN §5), as the C drivers speak it:
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
	"strconv"
	"strings"
	"time"
)

const (
	protocolVersion = 1
	maxLineBytes    = 1 << 20
	maxJSONDepth    = 64
	maxProcs        = 256 // the C runtime's TGO_MAX_PROCS
	maxLoops        = 1000000000
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
		k, _ := json.Marshal(f.key)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
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
		line, tooLong, err := readLine(r)
		if err == io.EOF && len(line) == 0 && !tooLong {
			return nil
		}
		if err != nil && err != io.EOF {
			return err
		}
		var answer object
		if tooLong {
			answer = errorAnswer("line longer than %d bytes; send one request per line", maxLineBytes)
		} else {
			answer = d.handle(line)
		}
		if err := writeAnswer(w, answer); err != nil {
			return err
		}
		if err == io.EOF {
			return nil
		}
	}
}

// readLine reads one line without its newline. A line over maxLineBytes is
// consumed to its end and reported as too long.
func readLine(r *bufio.Reader) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > maxLineBytes+1 {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimRight(line, "\r\n"), tooLong, err
	}
}

func writeAnswer(w *bufio.Writer, answer object) error {
	b, err := json.Marshal(answer)
	if err != nil {
		return err
	}
	w.Write(b)
	w.WriteByte('\n')
	return w.Flush()
}

// handle answers one request line.
func (d *driver) handle(line []byte) object {
	if len(bytes.TrimSpace(line)) == 0 {
		return errorAnswer(`empty line; send one JSON object per line, such as {"op":"hello"}`)
	}
	v, err := parseJSON(line)
	if err != nil {
		return errorAnswer("not JSON: %v; send one JSON object per line, such as {\"op\":\"hello\"}", err)
	}
	req, ok := v.(map[string]any)
	if !ok {
		return errorAnswer(`a request must be a JSON object, got %s; such as {"op":"hello"}`, typePhrase(v))
	}
	opValue, present := req["op"]
	if !present {
		return errorAnswer(`missing "op"; known ops: hello, run`)
	}
	op, ok := opValue.(string)
	if !ok {
		return errorAnswer(`"op" must be a string, got %s; known ops: hello, run`, typePhrase(opValue))
	}
	switch op {
	case "hello":
		if err := checkKeys(req, "hello", "op"); err != nil {
			return errorAnswer("%v", err)
		}
		return d.hello()
	case "run":
		if err := checkKeys(req, "run", "op", "workload", "params", "loops", "procs"); err != nil {
			return errorAnswer("%v", err)
		}
		return d.run(req)
	case "topology":
		return errorAnswer("the go driver has no topology op: the Go runtime places its Ps itself " +
			"and does not expose the machine's topology; ask the tgo or gmp driver")
	default:
		return errorAnswer("unknown op %s; known ops: hello, run", quote(op))
	}
}

func checkKeys(req map[string]any, op string, known ...string) error {
	for key := range req {
		found := false
		for _, k := range known {
			found = found || k == key
		}
		if !found {
			return fmt.Errorf("unknown key %s in a %s request; known: %s", quote(key), op, strings.Join(known, ", "))
		}
	}
	return nil
}

func (d *driver) hello() object {
	described := object{}
	for _, name := range workloadNames() {
		w := workloads[name]
		params := object{}
		for _, p := range w.params {
			spec := object{{"type", string(p.typ)}, {"default", p.def}}
			switch p.typ {
			case intParam, floatParam:
				spec = append(spec, field{"min", rangeValue(p, p.min)}, field{"max", rangeValue(p, p.max)})
			case strParam:
				spec = append(spec, field{"choices", p.choices})
			}
			params = append(params, field{p.name, append(spec, field{"help", p.help})})
		}
		described = append(described, field{name, object{
			{"unit", w.unit}, {"help", w.help}, {"params", params}}})
	}
	return object{
		{"ok", true},
		{"impl", "go"},
		{"version", version},
		{"protocol", protocolVersion},
		{"procs", d.procs},
		{"compiler", runtime.Version()},
		{"workloads", described},
	}
}

func rangeValue(p paramSpec, v float64) any {
	if p.typ == intParam {
		return int64(v)
	}
	return v
}

func (d *driver) run(req map[string]any) object {
	nameValue, present := req["workload"]
	if !present {
		return errorAnswer(`missing "workload"; known workloads: %s`, strings.Join(workloadNames(), ", "))
	}
	name, ok := nameValue.(string)
	if !ok {
		return errorAnswer(`"workload" must be a string, got %s; known workloads: %s`,
			typePhrase(nameValue), strings.Join(workloadNames(), ", "))
	}
	w := workloads[name]
	if w == nil {
		return errorAnswer("unknown workload %s; known: %s", quote(name), strings.Join(workloadNames(), ", "))
	}
	loops, err := intField(req, "loops", 1, 1, maxLoops)
	if err != nil {
		return errorAnswer("%v", err)
	}
	procs, err := intField(req, "procs", int64(d.procs), 1, maxProcs)
	if err != nil {
		return errorAnswer("%v", err)
	}
	given := map[string]any{}
	if p, present := req["params"]; present {
		if given, ok = p.(map[string]any); !ok {
			return errorAnswer(`"params" must be an object, got %s`, typePhrase(p))
		}
	}
	a, err := checkParams(w, given)
	if err != nil {
		return errorAnswer("%v", err)
	}
	a.procs = int(procs)
	return runLoops(w, a, int(loops))
}

// runLoops runs a checked request and builds its answer.
func runLoops(w *workload, a *args, loops int) object {
	if runtime.GOMAXPROCS(0) != a.procs {
		runtime.GOMAXPROCS(a.procs)
	}
	resetPeakRSS()
	before := readRuntimeCounters()
	results := make([]loopResult, 0, loops)
	for i := 0; i < loops; i++ {
		r, err := w.loop(a)
		if err != nil {
			return errorAnswer("%s: %v", w.name, err)
		}
		results = append(results, r)
	}
	counters := readRuntimeCounters().since(before)

	var elapsed time.Duration
	var ops uint64
	perLoop := make([]int64, len(results))
	for i, r := range results {
		elapsed += r.elapsed
		ops += r.ops
		perLoop[i] = r.elapsed.Nanoseconds()
	}
	metrics := object{{"peak_rss_kib", peakRSSKiB()}, {"counters", counters}}
	if w.summarize != nil {
		metrics = append(metrics, w.summarize(results)...)
	}
	params := object{}
	for _, p := range w.params {
		params = append(params, field{p.name, a.values[p.name]})
	}
	return object{
		{"ok", true},
		{"workload", w.name},
		{"elapsed_ns", elapsed.Nanoseconds()},
		{"loops", loops},
		{"ops", ops},
		{"unit", w.unit},
		{"procs", a.procs},
		{"params", params},
		{"per_loop_ns", perLoop},
		{"metrics", metrics},
	}
}

// checkParams fills in defaults and checks every given parameter's name,
// type and range.
func checkParams(w *workload, given map[string]any) (*args, error) {
	a := &args{values: map[string]any{}}
	for _, p := range w.params {
		a.values[p.name] = p.def
	}
	for name, raw := range given {
		p := w.param(name)
		if p == nil {
			return nil, fmt.Errorf("unknown parameter %s for %s; known: %s", quote(name), w.name, w.paramNames())
		}
		v, err := convertParam(w, p, raw)
		if err != nil {
			return nil, err
		}
		a.values[name] = v
	}
	return a, nil
}

func convertParam(w *workload, p *paramSpec, raw any) (any, error) {
	what := fmt.Sprintf("parameter %s of %s", quote(p.name), w.name)
	switch p.typ {
	case intParam:
		n, ok := raw.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s must be an integer, got %s", what, typePhrase(raw))
		}
		i, ok := integral(n)
		if !ok {
			return nil, fmt.Errorf("%s must be an integer, got %s", what, n)
		}
		if float64(i) < p.min || float64(i) > p.max {
			return nil, fmt.Errorf("%s is %d, out of range %s..%s", what, i,
				formatNumber(p.min, true), formatNumber(p.max, true))
		}
		return i, nil
	case floatParam:
		n, ok := raw.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s must be a number, got %s", what, typePhrase(raw))
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%s must be a finite number, got %s", what, n)
		}
		if f < p.min || f > p.max {
			return nil, fmt.Errorf("%s is %s, out of range %s..%s", what, formatNumber(f, false),
				formatNumber(p.min, false), formatNumber(p.max, false))
		}
		return f, nil
	case boolParam:
		b, ok := raw.(bool)
		if !ok {
			return nil, fmt.Errorf("%s must be true or false, got %s", what, typePhrase(raw))
		}
		return b, nil
	default:
		s, ok := raw.(string)
		if !ok {
			return nil, fmt.Errorf("%s must be a string, one of %s; got %s", what,
				strings.Join(p.choices, ", "), typePhrase(raw))
		}
		for _, c := range p.choices {
			if c == s {
				return s, nil
			}
		}
		return nil, fmt.Errorf("%s is %s; choices: %s", what, quote(s), strings.Join(p.choices, ", "))
	}
}

// intField reads an optional integer of a request.
func intField(req map[string]any, key string, def, min, max int64) (int64, error) {
	raw, present := req[key]
	if !present {
		return def, nil
	}
	n, ok := raw.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%s must be an integer, got %s", quote(key), typePhrase(raw))
	}
	i, ok := integral(n)
	if !ok {
		return 0, fmt.Errorf("%s must be an integer, got %s", quote(key), n)
	}
	if i < min || i > max {
		return 0, fmt.Errorf("%s is %d, out of range %d..%d", quote(key), i, min, max)
	}
	return i, nil
}

// integral accepts 1000 and 1e3 but not 1.5, nor a value past 2^53 that a
// float cannot hold exactly.
func integral(n json.Number) (int64, bool) {
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

func formatNumber(f float64, asInt bool) string {
	if asInt {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// parseJSON parses exactly one JSON value, keeping numbers as written and
// rejecting duplicate keys (which encoding/json would silently merge).
func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more than one value on the line")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err == io.EOF {
		return nil, errors.New("unexpected end of line")
	}
	if err != nil {
		return nil, err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	if depth >= maxJSONDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxJSONDepth)
	}
	switch delim {
	case '{':
		m := map[string]any{}
		for dec.More() {
			keyTok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key := keyTok.(string)
			if _, dup := m[key]; dup {
				return nil, fmt.Errorf("duplicate key %s", quote(key))
			}
			if m[key], err = decodeValue(dec, depth+1); err != nil {
				return nil, err
			}
		}
		_, err = dec.Token()
		return m, err
	case '[':
		var items []any
		for dec.More() {
			item, err := decodeValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			items = append(items, item)
		}
		_, err = dec.Token()
		return items, err
	}
	return nil, fmt.Errorf("unexpected %v", delim)
}

func typePhrase(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		if _, ok := integral(t); ok {
			return "an integer"
		}
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// quote shows a user's string in a message: quoted, escaped, shortened.
func quote(s string) string {
	const limit = 60
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return strconv.Quote(s)
}
