"""`python -m tgobench`: the same command line as `tgobench`."""

from tgobench.cli import app

app(prog_name="tgobench")
