"""Between steps a night frees the frames it let go of, also those only cycles still hold."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import polars as pl
import pytest

from leadscore import memory


class Holder:
    """An object that a cycle holds (as Prefect's task run objects hold a task's parameters)."""

    other: Holder
    frame: pl.DataFrame


@pytest.fixture
def no_automatic_collection() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def cycle_holding_a_frame() -> weakref.ref[Holder]:
    a, b = Holder(), Holder()
    a.other, b.other = b, a
    a.frame = pl.DataFrame({"x": range(1000)})
    return weakref.ref(a)


def test_release_frees_a_frame_that_only_a_cycle_holds(no_automatic_collection):
    held = cycle_holding_a_frame()
    assert held() is not None  # nothing but the collector frees a cycle
    memory.release()
    assert held() is None


def test_after_settle_the_objects_held_before_are_left_out_and_new_cycles_still_freed(
    no_automatic_collection,
):
    before = cycle_holding_a_frame()
    memory.settle()
    # What was garbage when the night settled is freed then, not frozen for good.
    assert before() is None and gc.get_freeze_count() > 0
    held = cycle_holding_a_frame()
    memory.release()
    assert held() is None
