"""tgobench: a benchmarking and regression suite for coroutine schedulers."""

__version__ = "0.1.0"
