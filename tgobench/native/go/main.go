// Command tgobench-driver-go runs tgobench's workloads on the real Go
// runtime and speaks the same driver protocol as the C drivers
// (tgobench-driver-tgo, tgobench-driver-gmp), so that Go's own scheduler
// stands in the same table, on the same machine, in the same run.
//
// Each workload is written as a Go engineer would write the same
// measurement: goroutines, channels, sync.WaitGroup, net.Conn. Nothing in
// the runtime is tuned (no GOGC, no GODEBUG); GOMAXPROCS follows procs,
// which defaults to the CPUs of the process's affinity mask, as the C
// drivers' Ps do.
//
//	tgobench-driver-go [--procs N] run spawn --tasks 1000 --loops 3
//	tgobench-driver-go hello
//	tgobench-driver-go [serve]        the protocol on stdin/stdout
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

const usage = `usage: tgobench-driver-go [--procs N] [serve]
       tgobench-driver-go [--procs N] hello
       tgobench-driver-go [--procs N] run WORKLOAD [--PARAM VALUE]... [--loops N]

Runs tgobench's workloads on the Go runtime. With no command (or serve) it
answers the driver protocol, one JSON object per line on stdin. Parameter
flags use dashes for underscores (--duration-ms 500).
`

func main() {
	raiseFileLimit()
	os.Exit(cli(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit, so that an
// rpc run of thousands of connections is bounded by what the system allows
// and not by a shell's default. (The os package does this too since Go
// 1.19; doing it here keeps the driver's behaviour independent of that.)
func raiseFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

func cli(argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	d := &driver{procs: min(runtime.NumCPU(), maxProcs)} // NumCPU: the affinity mask at start
	var rest []string
	for i := 0; i < len(argv); i++ {
		arg := argv[i]
		switch {
		case arg == "-h" || arg == "--help":
			fmt.Fprint(stdout, usage)
			return 0
		case arg == "--procs" || strings.HasPrefix(arg, "--procs="):
			value, next, ok := flagValue(argv, i)
			if !ok {
				fmt.Fprintf(stderr, "--procs needs a value\n%s", usage)
				return 2
			}
			i = next
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 || n > maxProcs {
				fmt.Fprintf(stderr, "--procs must be an integer in 1..%d, got %q\n", maxProcs, value)
				return 2
			}
			d.procs = n
		default:
			rest = append(rest, arg)
		}
	}
	if len(rest) == 0 || rest[0] == "serve" {
		if len(rest) > 1 {
			fmt.Fprintf(stderr, "serve takes no arguments\n%s", usage)
			return 2
		}
		if err := d.serve(stdin, stdout); err != nil {
			fmt.Fprintf(stderr, "tgobench-driver-go: %v\n", err)
			return 1
		}
		return 0
	}
	switch rest[0] {
	case "hello":
		return printAnswer(stdout, d.hello())
	case "run":
		req, err := runRequest(rest[1:])
		if err != nil {
			fmt.Fprintf(stderr, "%v\n%s", err, usage)
			return 2
		}
		return printAnswer(stdout, d.handle(req))
	}
	fmt.Fprintf(stderr, "unknown command %q\n%s", rest[0], usage)
	return 2
}

// flagValue takes the value of "--name value" or "--name=value" at argv[i].
func flagValue(argv []string, i int) (value string, next int, ok bool) {
	if _, v, found := strings.Cut(argv[i], "="); found {
		return v, i, true
	}
	if i+1 < len(argv) {
		return argv[i+1], i + 1, true
	}
	return "", i, false
}

// runRequest turns "WORKLOAD --param value ... --loops N" into the protocol's
// run request, so that the command line and the protocol share every check.
// A value is passed as the JSON it reads as (a number, true/false), else as
// a string, and the workload's parameter checks judge it.
func runRequest(argv []string) ([]byte, error) {
	if len(argv) == 0 || strings.HasPrefix(argv[0], "-") {
		return nil, fmt.Errorf("run needs a workload")
	}
	req := map[string]any{"op": "run", "workload": argv[0]}
	params := map[string]any{}
	for i := 1; i < len(argv); i++ {
		if !strings.HasPrefix(argv[i], "--") {
			return nil, fmt.Errorf("unexpected argument %q", argv[i])
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(argv[i], "--"), "=")
		value, next, ok := flagValue(argv, i)
		if !ok {
			return nil, fmt.Errorf("--%s needs a value", name)
		}
		i = next
		var v any = value
		if json.Valid([]byte(value)) && !strings.HasPrefix(value, "\"") {
			v = json.RawMessage(value)
		}
		if name == "loops" {
			req["loops"] = v
		} else {
			params[strings.ReplaceAll(name, "-", "_")] = v
		}
	}
	req["params"] = params
	return json.Marshal(req)
}

func printAnswer(w io.Writer, answer object) int {
	b, err := json.Marshal(answer)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(w, "%s\n", b)
	if ok, _ := answer[0].value.(bool); ok {
		return 0
	}
	return 1
}
