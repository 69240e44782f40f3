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
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

const program = "tgobench-driver-go"

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

// Exit statuses, as the C drivers': 0 ok, 1 the run failed, 2 a mistake on
// the command line (the message then goes to stderr).
const (
	exitOK        = 0
	exitRunFailed = 1
	exitUsage     = 2
)

// usageError is a mistake on the command line.
type usageError string

func usagef(format string, a ...any) error { return usageError(fmt.Sprintf(format, a...)) }
func (e usageError) Error() string         { return string(e) }

func cli(argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	d := &driver{procs: min(max(runtime.NumCPU(), 1), maxProcs)} // NumCPU: the affinity mask at start
	status, err := d.command(argv, stdin, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\nTry '%s --help'.\n", program, err, program)
		return exitUsage
	}
	return status
}

func (d *driver) command(argv []string, stdin io.Reader, stdout io.Writer) (int, error) {
	i := 0
	for ; i < len(argv) && strings.HasPrefix(argv[i], "-"); i++ {
		switch name, _, _ := strings.Cut(argv[i], "="); name {
		case "-h", "--help":
			d.printHelp(stdout)
			return exitOK, nil
		case "--procs":
			value, next, err := flagText(argv, i)
			if err != nil {
				return 0, err
			}
			if err := d.setProcs(value); err != nil {
				return 0, err
			}
			i = next
		default:
			return 0, usagef("unknown option '%s'", argv[i])
		}
	}
	rest := argv[i:]
	if len(rest) == 0 || rest[0] == "serve" {
		if len(rest) > 1 {
			return 0, usagef("serve takes no arguments")
		}
		if err := d.serve(stdin, stdout); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v; stopping\n", program, err)
			return exitRunFailed, nil
		}
		return exitOK, nil
	}
	switch rest[0] {
	case "hello":
		if len(rest) > 1 {
			return 0, usagef("hello takes no arguments")
		}
		return printAnswer(stdout, d.hello()), nil
	case "run":
		return d.runCommand(rest[1:], stdout)
	}
	return 0, usagef("unknown command '%s'; commands: serve, hello, run", rest[0])
}

func (d *driver) setProcs(value string) error {
	n, err := strconv.Atoi(value)
	if err != nil || n < 1 || n > maxProcs {
		return usagef("--procs must be an integer in 1..%d, got '%s'", maxProcs, value)
	}
	d.procs = n
	return nil
}

// flagText is the value of the flag at argv[i] ("--name=value" or "--name
// value") and the index of its last word.
func flagText(argv []string, i int) (string, int, error) {
	if _, value, found := strings.Cut(argv[i], "="); found {
		return value, i, nil
	}
	if i+1 >= len(argv) {
		return "", i, usagef("option '%s' needs a value", argv[i])
	}
	return argv[i+1], i + 1, nil
}

// runCommand turns "WORKLOAD --param value ... --loops N" into a run
// request, checked exactly as the protocol checks it.
func (d *driver) runCommand(argv []string, stdout io.Writer) (int, error) {
	if len(argv) == 0 || strings.HasPrefix(argv[0], "-") {
		if len(argv) > 0 && (argv[0] == "--help" || argv[0] == "-h") {
			d.printHelp(stdout)
			return exitOK, nil
		}
		return 0, usagef("run needs a workload name; one of %s", workloadNames())
	}
	w := findWorkload(argv[0])
	if w == nil {
		return 0, usagef("unknown workload %s; known: %s", quote(argv[0]), workloadNames())
	}
	req := map[string]any{"op": "run", "workload": w.name}
	params := map[string]any{}
	for i := 1; i < len(argv); i++ {
		arg := argv[i]
		if arg == "--help" || arg == "-h" {
			printWorkloadHelp(stdout, w)
			return exitOK, nil
		}
		if !strings.HasPrefix(arg, "--") {
			return 0, usagef("unexpected argument '%s'", arg)
		}
		flag, _, _ := strings.Cut(arg, "=")
		name := strings.ReplaceAll(strings.TrimPrefix(flag, "--"), "-", "_")
		p := w.param(name)
		if p == nil && name != "loops" && name != "procs" {
			return 0, usagef("unknown option '%s' for %s; '%s run %s --help' lists them", flag, w.name, program, w.name)
		}
		value, next, err := flagText(argv, i)
		if err != nil {
			return 0, err
		}
		i = next
		switch {
		case name == "procs":
			if err := d.setProcs(value); err != nil {
				return 0, err
			}
		case name == "loops":
			req["loops"] = flagValue(value, false)
		default:
			params[name] = flagValue(value, p.typ == strParam)
		}
	}
	req["params"] = params
	run, err := d.parseRun(req)
	if err != nil {
		return 0, usageError(err.Error())
	}
	return printAnswer(stdout, run.execute()), nil
}

// flagValue is a flag's text as the JSON value a request would carry: a
// number or a boolean where it reads as one, else a string; the protocol's
// checks then say what was expected.
func flagValue(text string, asString bool) any {
	if !asString {
		if v, err := parseJSON([]byte(text)); err == nil {
			switch v.(type) {
			case int64, float64, bool:
				return v
			}
		}
	}
	return text
}

func printAnswer(w io.Writer, answer object) int {
	b, err := marshal(answer)
	if err != nil {
		panic(err) // only finite numbers and plain values are put in answers
	}
	fmt.Fprintf(w, "%s\n", b)
	if ok, _ := answer[0].value.(bool); ok {
		return exitOK
	}
	return exitRunFailed
}

func (d *driver) printHelp(w io.Writer) {
	fmt.Fprintf(w, `Usage: %s [--procs N] [COMMAND]

The Go runtime's benchmark driver (tgobench %s, protocol %d, %s): the
workloads of the C drivers written with goroutines, channels and net.Conn.

Commands:
  serve              answer JSON requests, one per line on stdin (the default)
  hello              print what this driver is and the workloads it runs
  run WORKLOAD [--PARAM VALUE]... [--loops N]
                     run one workload and print the result as one JSON line;
                     '%s run WORKLOAD --help' lists its parameters

Options:
  --procs N          GOMAXPROCS, 1..%d; default: the CPUs this process may
                     run on (%d)
  -h, --help         show this help

Exit status: 0 ok, 1 the run failed, 2 a mistake on the command line.
Workloads: %s
`, program, version, protocolVersion, runtime.Version(), program, maxProcs, d.procs,
		strings.ReplaceAll(workloadNames(), ",", ""))
}

func printWorkloadHelp(w io.Writer, wl *workload) {
	fmt.Fprintf(w, "Usage: %s [--procs N] run %s [--PARAM VALUE]... [--loops N]\n\n%s.\nThe value is ns per %s.\n\nParameters:\n",
		program, wl.name, wl.help, wl.unit)
	for _, p := range wl.params {
		var bounds string
		switch p.typ {
		case intParam, floatParam:
			bounds = fmt.Sprintf("default %v; %s..%s", p.def, formatNumber(p.min), formatNumber(p.max))
		case boolParam:
			bounds = fmt.Sprintf("default %v; true or false", p.def)
		default:
			bounds = fmt.Sprintf("default %v; one of %s", p.def, strings.Join(p.choices, ", "))
		}
		fmt.Fprintf(w, "  %-18s %s (%s)\n", "--"+strings.ReplaceAll(p.name, "_", "-"), p.help, bounds)
	}
	fmt.Fprintf(w, "  %-18s loops in one request; the result sums them (default 1; 1..%d)\n", "--loops", maxLoops)
}
