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
