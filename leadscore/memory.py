"""Give freed memory back to the operating system.

Python, pandas and numpy allocate through the C library's malloc, Arrow through its own pool:
both keep what a large frame freed for reuse, so a night's resident memory would stay at its
highest point (a million leads' CRM tables: ~0.2 GB kept after they are let go). A night calls
`release` between the steps that let go of large frames.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

import pyarrow as pa


def _malloc_trim() -> None:
    # glibc only; elsewhere (macOS, musl) there is nothing to call and nothing is lost.
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)


def release() -> None:
    """Collect what nothing references, then return free memory to the operating system."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    _malloc_trim()
