"""The tgobench command line: each command parses, calls one library
function, renders the outcome and maps UserError to exit status 2."""

from __future__ import annotations

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
