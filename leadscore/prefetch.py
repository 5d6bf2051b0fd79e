"""Reads started early on a thread of their own, taken when the night needs them.

A night's reads from the warehouse wait on the warehouse (SQLite's engine, a bulk reader's child
process, PostgreSQL's server), not on Python: started before a step that needs neither their rows
nor what they read, they run on the second core while that step runs on the first (the activity
roll-up while validation checks the CRM tables; the earlier nights' tracks and routings while
the model trains). What a prefetched read returns is what the same read returns when it is made
at the time it is taken: it reads only what the night itself does not write before publishing.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, ParamSpec, TypeVar

from leadscore.run import logger

P = ParamSpec("P")
R = TypeVar("R")


class Prefetch(Generic[R]):
    """`read(*args, **kwargs)` running on a thread of its own from now on."""

    def __init__(self, read: Callable[P, R], *args: P.args, **kwargs: P.kwargs):
        self._read = lambda: read(*args, **kwargs)
        self._name = getattr(read, "__qualname__", repr(read))
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadscore-prefetch")
        self._future: Future[R] | None = pool.submit(self._read)
        pool.shutdown(wait=False)

    def result(self) -> R:
        """What the read returned (waiting for it). A read that failed is made again, here, once:
        a step's retries then retry it as they would a read of their own."""
        future, self._future = self._future, None
        if future is None:
            return self._read()
        try:
            return future.result()
        except Exception as exc:  # noqa: BLE001 (made again in this thread, which raises it)
            logger().warning(
                "prefetched read %s failed (%s: %s); reading again",
                self._name,
                type(exc).__name__,
                exc,
            )
            return self._read()
