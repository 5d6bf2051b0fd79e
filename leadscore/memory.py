"""Give freed memory back to the operating system.

Python, pandas and numpy allocate through the C library's malloc, Arrow through its own pool:
both keep what a large frame freed for reuse, so a night's resident memory would stay at its
highest point (a million leads' CRM tables: ~0.2 GB kept after they are let go). A night calls
`release` between the steps that let go of large frames.

Frames are freed when their last reference goes, so no garbage collection is forced here: with
Prefect and GX loaded a full `gc.collect()` takes ~0.2 s, which a night of a dozen steps would
pay a dozen times.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

import pyarrow as pa


def _find_malloc_trim() -> Callable[[int], int] | None:
    # glibc only; elsewhere (macOS, musl) there is nothing to call and nothing is lost.
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None


_MALLOC_TRIM = _find_malloc_trim()


def release() -> None:
    """Return the free memory of Arrow's pool and of the C heap to the operating system."""
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
