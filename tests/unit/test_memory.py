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
        gc.unfreeze()
        gc.enable()


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


def test_settled_leaves_out_what_was_held_before_and_frees_it_after(no_automatic_collection):
    garbage = cycle_holding_a_frame()
    engine = Holder()  # held when the night starts (its warehouse engine), a cycle of its own
    engine.other = engine
    engine_left = weakref.ref(engine)
    with memory.settled():
        # What was garbage when the night settled is freed then, not frozen for good.
        assert garbage() is None and gc.get_freeze_count() > 0
        held = cycle_holding_a_frame()
        del engine
        memory.release()
        # What the night made is freed; what it held on entry is left out, even let go.
        assert held() is None and engine_left() is not None
    # After the night, the engine (and its connections) is collected as anything else.
    assert gc.get_freeze_count() == 0
    memory.release()
    assert engine_left() is None
