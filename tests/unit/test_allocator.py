"""The package asks polars' allocator to give freed memory back soon (leadscore/__init__.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from leadscore import ALLOCATOR


def conf_seen_by(code: str, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


PRINT = "import os; print(os.environ.get('_RJEM_MALLOC_CONF', 'unset'))"


def test_importing_leadscore_first_sets_the_decay_for_polars():
    # Imported before polars, the package sets the allocator's decay so that polars reads it.
    assert conf_seen_by(f"import leadscore; {PRINT}") == ALLOCATOR
    assert ALLOCATOR == "dirty_decay_ms:200,muzzy_decay_ms:0"


def test_a_users_own_setting_is_kept():
    assert conf_seen_by(f"import leadscore; {PRINT}", _RJEM_MALLOC_CONF="narenas:1") == "narenas:1"


def test_after_polars_is_loaded_its_own_setting_stays():
    # polars sets its allocator's default as it loads and has read it by then: the package's
    # setting could no longer apply, so it does not pretend to.
    polars_own = conf_seen_by(f"import polars; {PRINT}")
    assert polars_own != ALLOCATOR
    assert conf_seen_by(f"import polars, leadscore; {PRINT}") == polars_own
