"""The exception tree. Every error a user can cause is a ReconcilerError; the CLI prints it on one line.

    ReconcilerError              exit 1, one line on stderr
    ├── ProjectError             the project cannot be loaded (carries every Problem found)
    ├── CollectorError           a collector cannot start at all (bad configuration)
    ├── RegisterError            the register cannot be opened or written
    └── UsageError               a command-line argument that makes no sense

Failures of one target (an unreachable host, an API error) are not exceptions: they are FactSets with
an error, and the CI becomes `unknown`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the project, located as precisely as we can."""

    file: str
    message: str
    line: int | None = None
    document: int | None = None
    path: str | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        if self.document is not None:
            where += f" (document {self.document + 1})"
        key = f" at '{self.path}'" if self.path else ""
        return f"{where}{key}: {self.message}"


class ReconcilerError(Exception):
    """Base of every error the user can cause or fix."""


class ProjectError(ReconcilerError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        count = len(problems)
        head = str(problems[0]) if problems else "invalid project"
        more = f" (and {count - 1} more problem{'s' if count > 2 else ''}; run 'reconcile validate')"
        super().__init__(head + (more if count > 1 else ""))


class CollectorError(ReconcilerError):
    pass


class RegisterError(ReconcilerError):
    pass


class UsageError(ReconcilerError):
    pass
