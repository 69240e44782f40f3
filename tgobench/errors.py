"""The one error type for user mistakes.

A UserError says what was wrong and how to fix it. Only the CLI turns it into
exit status 2 and one message; any other exception is a bug and keeps its
traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input, with the fix."""

    def __init__(self, problem: str, fix: str | None = None):
        super().__init__(problem)
        self.problem = problem
        self.fix = fix

    def __str__(self) -> str:
        return self.problem if not self.fix else f"{self.problem}\n  fix: {self.fix}"
