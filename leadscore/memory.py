"""Give freed memory back to the operating system.

Python, pandas and numpy allocate through the C library's malloc, Arrow through its own pool:
both keep what a large frame freed for reuse, so a night's resident memory would stay at its
highest point (a million leads' CRM tables: ~0.2 GB kept after they are let go). A night calls
`release` between the steps that let go of large frames.

A frame let go is not always freed when its last name goes: after each step, the garbage holds
cycles of Prefect's task machinery (its calls, which hold a task's arguments, and the frames and
tracebacks of the exceptions it catches) and of GX's, which only the cycle collector frees, and
it seldom runs a full collection. So `release` collects first. A full collection looks at every
object the process holds (with Prefect and GX loaded, ~0.3 s), so a night first freezes what it
holds before its steps run (`settled`): those objects are left out of every collection after it,
which then looks only at what the night made (a few milliseconds). On PostgreSQL's 1M-lead later
night, the leads table validation had read (62 MB of Arrow's pool) was still held when the
features step started; collected, the step peaked at ~1,800 MB instead of ~1,980.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
from collections.abc import Callable, Iterator

import pyarrow as pa


def _find_malloc_trim() -> Callable[[int], int] | None:
    # glibc only; elsewhere (macOS, musl) there is nothing to call and nothing is lost.
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None


_MALLOC_TRIM = _find_malloc_trim()


@contextlib.contextmanager
def settled() -> Iterator[None]:
    """Inside: what the process holds on entry (its modules, Prefect's and GX's objects) is left
    out of every collection (what is garbage then is collected first). On leaving it is
    collectable again: a backfill's nights, or a test's, each leave an engine and a GX context
    that must not stay held (with their connections) for the rest of the process."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def release() -> None:
    """Free the frames that only cycles still hold, and return the free memory of Arrow's pool
    and of the C heap to the operating system."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
