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
    from tgobench.errors import UserError

    try:
        topo = topo_mod.read(sysfs_root)
    except UserError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
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
        path = report_mod.render_report([results.load(f) for f in files], output)
    except UserError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
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
    benchmark; exit 0 without regression, 1 with one, 2 on bad input."""
    from tgobench import compare as compare_mod
    from tgobench.errors import UserError

    try:
        if fail_on not in compare_mod.FAIL_ON:
            raise UserError(f"--fail-on {fail_on!r} is not known",
                            f"use one of {', '.join(compare_mod.FAIL_ON)}")
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
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(compare_mod.exit_status(comparison, fail_on))
