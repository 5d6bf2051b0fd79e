"""Crash points for the kill-and-rerun tests.

`LEADSCORE_CRASH_AT=<point>` makes the process SIGKILL itself when it reaches that point, as an
out-of-memory kill or a lost worker would: no exception handler, no cleanup. Unset (always, in
production), a crash point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

# The steps of a night (each at its start), then three points inside publishing: rows staged,
# the transaction begun, and just before its commit.
POINTS = [
    "extract",
    "validate",
    "activity",
    "features",
    "train",
    "score",
    "route",
    "validate_output",
    "data_docs",
    "publish",
    "publish:staged",
    "publish:started",
    "publish:before-commit",
]


def crash_point(name: str) -> None:
    if os.environ.get("LEADSCORE_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
