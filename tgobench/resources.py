"""Where the package's data lives: suites, report templates, the Go driver's
source. Installed, they sit inside the package; in a checkout, at the root."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def data_dir(name: str) -> Path:
    """The directory `name` ("suites", "templates") of the package."""
    installed = _PACKAGE / name
    if installed.is_dir():
        return installed
    in_checkout = {"suites": _CHECKOUT / "suites",
                   "templates": _CHECKOUT / "reports" / "templates"}.get(name)
    if in_checkout is not None and in_checkout.is_dir():
        return in_checkout
    raise FileNotFoundError(f"tgobench data directory {name!r} is missing from {_PACKAGE}")
