"""The tgobench command line: each command parses, calls one library
function, renders the outcome and maps UserError to exit status 2."""

from __future__ import annotations

from pathlib import Path

import typer

from tgobench import __version__

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Benchmark and regression suite for coroutine schedulers.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tgobench {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Show the version and exit.")) -> None:
    """Benchmark and regression suite for coroutine schedulers."""


@app.command()
def topology(sysfs_root: str = typer.Option(None, "--sysfs-root", metavar="PATH",
                                            help="Read this sysfs tree instead of /sys.")) -> None:
    """Show the CPUs, NUMA nodes and shared caches the tgo policy steals by."""
    from rich.console import Console
    from rich.table import Table

    from tgobench import topology as topo_mod
    from tgobench.drivers import DriverError
    from tgobench.errors import UserError

    try:
        topo = topo_mod.read(sysfs_root)
    except UserError as e:
        raise _fail(e) from None
    except DriverError as e:
        raise _fail(UserError(f"the tgo driver reads the topology, and it failed: {e}",
                              "reinstall tgobench (`pip install .`), or point "
                              "TGOBENCH_DRIVER_DIR at working drivers")) from None
    table = Table("CPU", "node", "SMT siblings", "L2 group", "LLC group", box=None)
    for place in topo.places():
        table.add_row(str(place.cpu), str(place.node) if place.node >= 0 else "-",
                      topo_mod.format_cpulist(place.smt_siblings) or "-",
                      topo_mod.format_cpulist(place.l2_group),
                      topo_mod.format_cpulist(place.llc_group))
    console = Console()
    console.print(table)
    summary = f"{len(topo.places())} CPUs, {topo.nodes} NUMA node{'s' if topo.nodes != 1 else ''}"
    if sysfs_root is None:
        summary += f"; this process may run on {topo_mod.format_cpulist(topo_mod.allowed_cpus())}"
    console.print(summary)


@app.command()
def report(files: list[Path] = typer.Argument(..., metavar="FILE...",
                                              help="Result files written by `tgobench run`."),
           output: Path = typer.Option(Path("report.html"), "-o", "--output",
                                       help="Where to write the HTML report.")) -> None:
    """Write one self-contained HTML report of result files (two files are compared)."""
    from tgobench import report as report_mod
    from tgobench import results
    from tgobench.errors import UserError

    try:
        _refuse_overwriting_inputs([output], files)
        path = report_mod.render_report([results.load(f) for f in files], output)
    except UserError as e:
        raise _fail(e) from None
    typer.echo(f"wrote {path}")


@app.command()
def compare(files: list[Path] = typer.Argument(..., metavar="BASELINE [NEW]",
                                               help="Two result files, baseline first; or one "
                                                    "with --impls."),
            impls: str = typer.Option(None, "--impls", metavar="BASELINE,NEW",
                                      help="Compare two implementations within one file, "
                                           "baseline first, e.g. gmp,tgo."),
            alpha: float = typer.Option(0.05, "--alpha",
                                        help="Significance level, after Holm's correction."),
            threshold: float = typer.Option(None, "--threshold",
                                            help="Slowdown a regression must surely exceed, as a "
                                                 "fraction (0.05 = 5%); overrides the suite's."),
            fail_on: str = typer.Option("regression", "--fail-on",
                                        help="Exit 1 on: regression, any-change or never."),
            markdown: Path = typer.Option(None, "--markdown", metavar="FILE",
                                          help="Also write the comparison as Markdown."),
            json_file: Path = typer.Option(None, "--json", metavar="FILE",
                                           help="Also write the verdicts as JSON."),
            html: Path = typer.Option(None, "--html", metavar="FILE",
                                      help="Also write the comparison as an HTML page.")) -> None:
    """Compare two result files (or two implementations of one) benchmark by
    benchmark; exit 1 on what --fail-on names (a regression by default), 2 on
    bad input, else 0."""
    from tgobench import compare as compare_mod
    from tgobench.errors import UserError

    try:
        if fail_on not in compare_mod.FAIL_ON:
            raise UserError(f"--fail-on {fail_on!r} is not known",
                            f"use one of {', '.join(compare_mod.FAIL_ON)}")
        _refuse_overwriting_inputs([markdown, json_file, html], files)
        comparison = compare_mod.compare_paths(files, impls, alpha, threshold)
        typer.echo(compare_mod.render_table(comparison), nl=False)
        if markdown:
            compare_mod.write_output(markdown, compare_mod.render_markdown(comparison))
        if json_file:
            compare_mod.write_output(json_file, compare_mod.render_json(comparison))
        if html:
            from tgobench import report as report_mod
            report_mod.render_comparison(comparison, html)
    except UserError as e:
        raise _fail(e) from None
    raise typer.Exit(compare_mod.exit_status(comparison, fail_on))


def _refuse_overwriting_inputs(outputs: list[Path | None], inputs: list[Path]) -> None:
    """An output file that is one of the result files read would replace
    those results."""
    from tgobench.errors import UserError

    for output in outputs:
        if output is None or not output.exists():
            continue
        for given in inputs:
            if given.exists() and output.samefile(given):
                raise UserError(f"{output} is the result file {given} being read: writing to it "
                                "would replace those results",
                                "write the output to another file")


def _fail(error: Exception) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(2)


def _reporter(console, plain: bool):
    """Progress as a rich bar on a terminal, as plain lines otherwise."""
    from tgobench import runner

    if console.is_terminal and not plain:
        return runner.RichReporter(console)
    return runner.PlainReporter(lambda line: console.print(line, markup=False, highlight=False))


def _int_list(text: str | None, option: str) -> list[int]:
    from tgobench.errors import UserError

    if text is None:
        return []
    try:
        return [int(item) for item in text.split(",")]
    except ValueError:
        raise UserError(f"{option} {text!r} is not a comma-separated list of integers",
                        f"write e.g. {option} 1,2") from None


@app.command()
def run(suite: str = typer.Option(None, "--suite", "-s",
                                  help="A shipped suite (quick, quick-go, spawn, rpc, mixed, "
                                       "nightly) or a suite file. Default: quick."),
        workload: str = typer.Option(None, "--workload", "-w", help="Run one workload ad hoc."),
        param: list[str] = typer.Option([], "--param", "-p", metavar="NAME=VALUE",
                                        help="A parameter of --workload; repeatable."),
        impl: str = typer.Option(None, "--impl", metavar="NAMES",
                                 help="Implementations, e.g. tgo,gmp or mine=/path/to/driver."),
        cpus: list[str] = typer.Option([], "--cpus", metavar="LIST",
                                       help="Run drivers under taskset -c LIST; repeatable."),
        numa: str = typer.Option(None, "--numa", metavar="NODES",
                                 help="node0, interleave, or several: node0,interleave."),
        procs: str = typer.Option(None, "--procs", metavar="N,...",
                                  help="Ps to sweep, e.g. 1,2. Default: the placement's CPUs."),
        output: Path = typer.Option(None, "-o", "--output",
                                    help="Result file. Default: results/SUITE-TIMESTAMP.json."),
        append: bool = typer.Option(False, "--append", help="Add runs to an existing result file."),
        fast: bool = typer.Option(False, "--fast", help="pyperf --fast: rough answers quickly."),
        rigorous: bool = typer.Option(False, "--rigorous", help="pyperf --rigorous: more processes."),
        processes: int = typer.Option(None, "--processes", min=1,
                                      help="pyperf worker processes per benchmark."),
        values: int = typer.Option(None, "--values", min=1, help="pyperf values per process."),
        plain: bool = typer.Option(False, "--plain", help="Plain lines, no progress bar.")) -> None:
    """Run benchmarks under pyperf and write a result file."""
    from rich.console import Console

    from tgobench import results, runner
    from tgobench.errors import UserError

    pyperf_args = (["--fast"] if fast else []) + (["--rigorous"] if rigorous else [])
    pyperf_args += ["--processes", str(processes)] if processes else []
    pyperf_args += ["--values", str(values)] if values else []
    console = Console(soft_wrap=True)
    if not console.is_terminal:
        console.width = 200  # logs: keep table rows on one line
    try:
        request = runner.RunRequest(suite=suite, workload=workload, params=param, impls=impl,
                                    cpus=cpus, numa=[numa] if numa is not None else [],
                                    procs=_int_list(procs, "--procs"), output=output,
                                    append=append, pyperf_args=pyperf_args)
        plan = runner.plan(request)
    except UserError as e:
        raise _fail(e) from None
    outcome = runner.execute(plan, _reporter(console, plain))
    if outcome.finished:
        try:
            summaries = runner.summarize(results.load(outcome.output))
        except UserError as e:
            raise _fail(e) from None
        console.print()
        runner.print_summary(console, summaries)
    if outcome.interrupted:
        raise typer.Exit(130)
    refusal = outcome.refusal()
    if refusal is not None:
        raise _fail(refusal)
    raise typer.Exit(0 if outcome.complete else 1)


@app.command()
def system() -> None:
    """Check this machine for what makes benchmarks noisy, with fixes."""
    from rich.console import Console

    from tgobench import system as system_mod

    report = system_mod.check()
    console = Console(highlight=False, soft_wrap=True)
    width = max(len(what) for what, _ in report.facts)
    for what, value in report.facts:
        console.print(f"{what:<{width}}  {value}", markup=False)
    console.print()
    if not report.warnings:
        console.print("no warnings")
    for warning in report.warnings:
        console.print(f"warning: {warning.message}\n  fix: {warning.fix}", markup=False)


list_app = typer.Typer(no_args_is_help=True, help="List what tgobench can run.")
app.add_typer(list_app, name="list")


@list_app.command("workloads")
def list_workloads(impl: str = typer.Option("tgo,gmp", "--impl", metavar="NAMES",
                                            help="Implementations to ask, e.g. tgo,gmp,go.")) -> None:
    """The workloads of each implementation's driver, with their parameters."""
    from rich.console import Console

    from tgobench import drivers
    from tgobench.errors import UserError

    try:
        infos, notices = drivers.hello_all(drivers.parse_impls(impl))
    except UserError as e:
        raise _fail(e) from None
    console = Console(highlight=False, soft_wrap=True)
    for notice in notices:
        console.print(f"not available: {notice}", markup=False)
    workloads: dict[str, list[str]] = {}
    for name, info in infos.items():
        for workload in info.workloads:
            workloads.setdefault(workload, []).append(name)
    for workload, impls in workloads.items():
        info = infos[impls[0]].workloads[workload]
        console.print(f"{workload}  (per {info.unit}; {', '.join(impls)})  {info.help}", markup=False)
        params = {}
        for name in impls:
            for pname, param in infos[name].workloads[workload].params.items():
                params.setdefault(pname, (param, []))[1].append(name)
        for pname, (param, having) in params.items():
            only = f"  [{', '.join(having)} only]" if len(having) < len(impls) else ""
            console.print(f"    {pname:<12} {param.describe():<28} default {param.default}"
                          f"{only}  {param.help}", markup=False)
    if not infos:
        raise typer.Exit(2)


baseline_app = typer.Typer(no_args_is_help=True,
                           help="Per-machine baselines that `tgobench ci` compares against.")
app.add_typer(baseline_app, name="baseline")

_BASELINES_OPTION = typer.Option(Path("baselines"), "--baselines", metavar="DIR",
                                 help="Where baselines live: DIR/<machine-id>/<suite>.json.")


@baseline_app.command("save")
def baseline_save(result: Path = typer.Argument(..., metavar="RESULT",
                                                help="A result file of `tgobench run --suite` or "
                                                     "`tgobench ci`."),
                  machine: str = typer.Option(None, "--machine", metavar="ID",
                                              help="File it under this machine id instead of the "
                                                   "one it records (`tgobench system` shows ids)."),
                  baselines: Path = _BASELINES_OPTION) -> None:
    """Store a result file as the baseline of its suite on its machine."""
    from tgobench import baseline
    from tgobench.errors import UserError

    try:
        saved = baseline.save(result, baselines, machine)
    except UserError as e:
        raise _fail(e) from None
    typer.echo(f"{'replaced' if saved.replaced else 'saved'} baseline {saved.path}: suite "
               f"{saved.suite}, {saved.benchmarks} benchmark(s), machine {saved.machine_id}")
    if saved.promoted_candidate:
        typer.echo(f"the candidate {result} is now the baseline and was removed")


@baseline_app.command("list")
def baseline_list(baselines: Path = _BASELINES_OPTION) -> None:
    """Show the stored baselines and candidates, by machine and suite."""
    from tgobench import baseline, system

    stored = baseline.list_stored(baselines)
    here = system.machine()["machine_id"]
    if not stored:
        typer.echo(f"no baselines in {baselines}; this machine is {here}")
        return
    rows = [("machine", "suite", "kind", "benchmarks", "file")]
    rows += [(s.machine_id + (" (this machine)" if s.machine_id == here else ""), s.suite,
              "candidate" if s.candidate else "baseline",
              str(s.benchmarks) if s.benchmarks is not None else f"unreadable: {s.problem}",
              str(s.path)) for s in stored]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4])


@app.command()
def ci(suite: str = typer.Option("nightly", "--suite", "-s",
                                 help="A shipped suite or a suite file."),
       output: Path = typer.Option(None, "-o", "--output", metavar="DIR",
                                   help="Directory for the results, report.html, summary.md and "
                                        "verdicts.json. Default: results/ci-SUITE-TIMESTAMP."),
       baselines: Path = _BASELINES_OPTION,
       slow_switch_ns: int = typer.Option(None, "--slow-switch-ns", metavar="N",
                                          help="Fault injection, to test the gate: the C runtime "
                                               "busy-waits N ns on every switch into a task "
                                               "(sets TGOBENCH_SLOW_SWITCH_NS)."),
       plain: bool = typer.Option(False, "--plain", help="Plain lines, no progress bar.")) -> None:
    """Run a suite, compare it with this machine's baseline and write the
    report, a Markdown summary and the verdicts; exit 1 on a regression or a
    failed benchmark, 0 otherwise, 2 on bad input."""
    from rich.console import Console

    from tgobench import ci as ci_mod
    from tgobench import compare as compare_mod
    from tgobench.errors import UserError

    console = Console(soft_wrap=True)
    try:
        ci_plan = ci_mod.plan(ci_mod.CiRequest(suite, output, baselines, slow_switch_ns))
        outcome = ci_mod.execute(ci_plan, _reporter(console, plain))
    except UserError as e:
        raise _fail(e) from None
    console.print()
    if outcome.comparison:
        console.print(compare_mod.render_table(outcome.comparison), markup=False, highlight=False)
    for notice in outcome.notices:
        console.print(f"notice: {notice}", markup=False, highlight=False)
    for path in outcome.files:
        console.print(f"wrote {path}", markup=False, highlight=False)
    console.print(ci_mod.headline(ci_plan, outcome), markup=False, highlight=False)
    raise typer.Exit(outcome.exit_status)
