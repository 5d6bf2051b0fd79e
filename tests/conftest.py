"""Shared fixtures: a fresh warehouse per test, on SQLite and on PostgreSQL.

PostgreSQL tests use the local server (127.0.0.1:5432, database `test`, or
LEADSCORE_TEST_POSTGRES_URL), one schema per test. Where no server answers they are skipped on a
developer machine, but fail in CI (CI=true) or with LEADSCORE_REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from leadscore import sql

PG_URL = os.environ.get(
    "LEADSCORE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_PG = bool(os.environ.get("CI")) or os.environ.get("LEADSCORE_REQUIRE_POSTGRES") == "1"
# Which dialects the integration tests run on: "sqlite,postgresql" unless narrowed.
DIALECTS = [
    d for d in os.environ.get("LEADSCORE_TEST_DIALECTS", "sqlite,postgresql").split(",") if d
]
DEMO_END = dt.date(2026, 6, 30)
# The drip tracks of the lead-scoring practice (and "none": no drip while sales has the lead),
# which the default tracks file must give and a demo night must fill.
PRACTICE_TRACKS = frozenset(
    {
        "none",
        "welcome",
        "user_onboarding",
        "lead_nurture",
        "product_engagement",
        "customer_onboarding",
        "upsell",
        "renewal",
    }
)


def _postgres_available() -> str | None:
    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 (the reason goes in the skip or failure message)
        return str(exc).splitlines()[0]


@pytest.fixture(params=DIALECTS)
def warehouse_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A URL to an empty warehouse of each dialect."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'warehouse.db'}"
        return
    problem = _postgres_available()
    if problem:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required here but unreachable at {PG_URL}: {problem}")
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {problem}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"create schema {schema}"))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"drop schema {schema} cascade"))
        admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def data_docs_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Nights run by tests write their Data Docs under pytest's temporary folder, not the repo."""
    previous = os.environ.get("LEADSCORE_DATA_DOCS_DIR")
    os.environ["LEADSCORE_DATA_DOCS_DIR"] = str(tmp_path_factory.mktemp("data_docs"))
    yield
    if previous is None:
        del os.environ["LEADSCORE_DATA_DOCS_DIR"]
    else:
        os.environ["LEADSCORE_DATA_DOCS_DIR"] = previous


# The tests' demos are small (500-3,000 leads: a few dozen won deals in the training
# snapshots, below the production minimum of 120): their nights fit a model, as a warehouse with
# enough history does, unless a test restores the production minimums (tests of the fallback).
TEST_MINIMUMS = {"LEADSCORE_MIN_WON_DEALS": "5", "LEADSCORE_MIN_TRAINING_LEADS": "50"}


@pytest.fixture(scope="session", autouse=True)
def small_demos_fit_a_model() -> Iterator[None]:
    previous = {name: os.environ.get(name) for name in TEST_MINIMUMS}
    os.environ.update(TEST_MINIMUMS)
    yield
    for name, value in previous.items():
        if value is None:
            del os.environ[name]
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API for the whole session (instead of one per flow call)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


# Every table a night reads or writes: what a copy of a warehouse must hold.
WAREHOUSE_TABLES = sql.SOURCE_TABLES + sql.OUTPUT_TABLES


@pytest.fixture(scope="session", params=DIALECTS)
def baseline(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, prefect_harness: None
) -> Iterator[Callable[[], str]]:
    """A small demo warehouse with the night before DEMO_END published, once per dialect.

    Returns a factory: each call gives the URL of a fresh copy to break or rerun.
    """
    from leadscore.cli import main

    folder = tmp_path_factory.mktemp("baseline")
    schema = f"base_{uuid.uuid4().hex[:10]}"
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'base.db'}"
    else:
        problem = _postgres_available()
        if problem:
            if REQUIRE_PG:
                pytest.fail(f"PostgreSQL is required here but unreachable at {PG_URL}: {problem}")
            pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {problem}")
        with sa.create_engine(PG_URL).begin() as conn:
            conn.execute(sa.text(f"create schema {schema}"))
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    assert (
        main(
            [
                "demo-data",
                "--leads",
                "800",
                "--days",
                "220",
                "--end-date",
                DEMO_END.isoformat(),
                "--url",
                url,
            ]
        )
        == 0
    )
    assert main(["run", "--date", (DEMO_END - dt.timedelta(days=1)).isoformat(), "--url", url]) == 0
    copies: list[str] = []

    def copy() -> str:
        if request.param == "sqlite":
            target = folder / f"copy_{len(copies)}.db"
            for suffix in ("", "-wal", "-shm"):
                source = Path(f"{folder / 'base.db'}{suffix}")
                if source.exists():
                    shutil.copy(source, f"{target}{suffix}")
            copies.append(str(target))
            return f"sqlite:///{target}"
        name = f"c_{uuid.uuid4().hex[:10]}"
        with sa.create_engine(PG_URL).begin() as conn:
            conn.execute(sa.text(f"create schema {name}"))
            for table in WAREHOUSE_TABLES:
                if sa.inspect(conn).has_table(table, schema=schema):
                    conn.execute(
                        sa.text(f"create table {name}.{table} as select * from {schema}.{table}")
                    )
        copies.append(name)
        copy_url = f"{PG_URL}?options=-csearch_path%3D{name}"
        from leadscore import warehouse

        with warehouse.connect(copy_url).session() as s, s.transaction():
            s.ensure_views()  # a table copy does not carry the views
        return copy_url

    yield copy
    if request.param == "postgresql":
        with sa.create_engine(PG_URL).begin() as conn:
            for name in [schema, *copies]:
                conn.execute(sa.text(f"drop schema {name} cascade"))
