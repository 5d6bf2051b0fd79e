"""Errors a user can act on. The CLI prints them as one line each, without a traceback."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class LeadscoreError(Exception):
    """A problem with the input or the environment that the user can fix."""


@dataclass
class Failure:
    """One failed check: which table and column, which rule, what was seen."""

    table: str
    column: str | None
    rule: str
    observed: Any = None
    severity: str = "error"
    examples: list[Any] = field(default_factory=list)

    def line(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        text = f"{where}: {self.rule}"
        if self.observed is not None:
            text += f" (observed: {self.observed})"
        if self.examples:
            text += f"; e.g. {', '.join(map(str, self.examples[:3]))}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "column": self.column,
            "rule": self.rule,
            "observed": _plain(self.observed),
            "severity": self.severity,
            "examples": [_plain(e) for e in self.examples[:5]],
        }


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


class ValidationFailed(LeadscoreError):
    """The night's data broke an error-level expectation: nothing is published."""

    def __init__(self, failures: list[Failure], summary: dict[str, Any] | None = None):
        self.failures = failures
        self.summary = summary or {}
        super().__init__("validation failed:\n" + "\n".join(f.line() for f in failures))
