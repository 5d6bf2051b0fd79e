"""leadscore: nightly lead rescoring for B2B software companies."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

# Polars' allocator (jemalloc), as polars sets it up, keeps the pages a frame freed for a second or
# so, and then only marks them free (they stay in the process's resident memory until the system
# runs short). A night builds and drops frames of hundreds of MB a few seconds apart, so one step's
# freed rows were still resident while the next step built its own. Pages given back at once cost
# the other way: a step that frees and allocates again within a few milliseconds (a snapshot's
# engagement rows, one after another) faults them back in and has them zeroed each time. Kept
# 200 ms, then given back (not merely marked free), a 1M-lead later night peaked at 1,874 MB in
# 106 s; with polars' setting 1,943 MB in 104 s; given back at once 1,819 MB in 123 s (the
# features step alone 13 s, 11 s and 20 s; benchmarks/RESULTS.md). Polars reads this once, when it
# is first imported, so it is set here, before any module of this package imports polars; a value
# the user set is kept, and a process that imported polars before leadscore keeps polars' own.
ALLOCATOR = "dirty_decay_ms:200,muzzy_decay_ms:0"
if "polars" not in sys.modules:
    os.environ.setdefault("_RJEM_MALLOC_CONF", ALLOCATOR)

# The one place the version is written; pyproject.toml reads it from here.
__version__ = "0.2.0"


@functools.cache
def code_version() -> str:
    """What code is running: the package version, plus the git commit when it runs from a
    checkout of this repository (`0.2.0+g1a2b3c4d5e6f`, `.dirty` with uncommitted changes)."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(here), *args], capture_output=True, text=True, timeout=10, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    try:
        top = git("rev-parse", "--show-toplevel")
        # An installed copy may sit inside someone else's repository: only ours counts.
        if not top or Path(top).resolve() / "leadscore" != here:
            return __version__
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):  # no git on the machine
        return __version__
    if not commit:
        return __version__
    return f"{__version__}+g{commit}" + (".dirty" if dirty else "")
