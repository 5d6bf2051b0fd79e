"""SQLite's output tables: stored in key order; a file of an earlier version is upgraded."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from leadscore import sql, warehouse
from leadscore.demo import DemoSpec, load_demo
from leadscore.tasks.extract import ACTIVITY_SCHEMA
from leadscore.warehouse import sqlite
from leadscore.warehouse.base import Session
from leadscore.warehouse.sqlite import SQLiteWarehouse
from leadscore.warehouse.sqlite_arrow import BATCH_ROWS


def stored(wh: warehouse.Warehouse, kind: str) -> dict[str, str]:
    with wh.session() as s:
        rows = s.conn.exec_driver_sql(
            f"select name, sql from sqlite_master where type = '{kind}'"
        ).fetchall()
    return {name: text or "" for name, text in rows}


def test_tables_read_by_date_are_stored_in_key_order(tmp_path):
    wh = warehouse.connect(f"sqlite:///{tmp_path / 'w.db'}")
    wh.init_db()
    tables = stored(wh, "table")
    for table in SQLiteWarehouse.CLUSTERED:
        assert tables[table].lower().endswith("without rowid"), table
    assert "without rowid" not in tables["pipeline_runs"].lower()


def test_a_file_of_an_earlier_version_is_upgraded_with_its_rows_views_and_indexes(tmp_path):
    wh = warehouse.connect(f"sqlite:///{tmp_path / 'w.db'}")
    load_demo(wh, DemoSpec(leads=30, days=20, seed=1, end_date=dt.date(2026, 6, 30)))
    # The tables as the version before this one created them: with a rowid.
    with wh.session() as s, s.transaction():
        for name in sql.OUTPUT_TABLES + sql.OUTPUT_INDEXES:
            s.conn.exec_driver_sql(sql.load(f"create_{name}"))
        s.create(sql.VIEWS)
        s.conn.exec_driver_sql(
            "insert into lead_activity_daily values ('L1', '2026-06-01', 'login', 2), "
            "('L2', '2026-05-01', 'document_created', 1)"
        )
    assert "without rowid" not in stored(wh, "table")["lead_activity_daily"].lower()

    wh.init_db()
    tables = stored(wh, "table")
    for table in SQLiteWarehouse.CLUSTERED:
        assert tables[table].lower().endswith("without rowid"), table
    assert not [t for t in tables if t.endswith("_with_rowid")]
    rows = wh.query("select * from lead_activity_daily order by activity_date")
    assert rows.rows() == [
        ("L2", "2026-05-01", "document_created", 1),
        ("L1", "2026-06-01", "login", 2),
    ]
    assert set(sql.VIEWS) <= set(stored(wh, "view"))
    assert set(sql.OUTPUT_INDEXES) <= set(stored(wh, "index"))
    wh.query("select count(*) from v_sdr_queue")  # the views read the new tables


def test_an_upgrade_stopped_half_way_leaves_the_earlier_tables_as_they_were(tmp_path, monkeypatch):
    wh = warehouse.connect(f"sqlite:///{tmp_path / 'w.db'}")
    with wh.session() as s, s.transaction():
        for name in sql.OUTPUT_TABLES:
            s.conn.exec_driver_sql(sql.load(f"create_{name}"))
        s.conn.exec_driver_sql(
            "insert into lead_activity_daily values ('L1', '2026-06-01', 'login', 2)"
        )
    create = Session.create

    def fail_on_the_second_table(self: Session, names: list[str]) -> None:
        if list(names) == ["lead_score_history"]:
            raise RuntimeError("killed")
        create(self, names)

    monkeypatch.setattr(Session, "create", fail_on_the_second_table)
    with pytest.raises(RuntimeError, match="killed"):
        wh.init_db()
    tables = stored(wh, "table")
    # The first table had been rebuilt inside the same transaction: rolled back with it.
    assert "without rowid" not in tables["lead_activity_daily"].lower()
    assert not [t for t in tables if t.endswith("_with_rowid")]
    assert wh.query("select count(*) as n from lead_activity_daily")["n"][0] == 1


# The days the reads below ask for: 2026-06-01 and 2026-06-02.
JUNE_1_2 = {"from_day": "2026-06-01", "to_day": "2026-06-03"}


@pytest.fixture
def bulk_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file read in bulk, however small (the night's default is from 256 MB up)."""
    monkeypatch.setattr(SQLiteWarehouse, "BULK_READ_BYTES", 0)


@pytest.fixture
def arrow_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, pl.DataFrame | None]]:
    """What each read through the child reader ran, and the frame it gave."""
    read: list[tuple[str, pl.DataFrame | None]] = []
    read_arrow = SQLiteWarehouse.read_arrow

    def spy(
        self: SQLiteWarehouse, statement: str, schema: dict | None = None, whole: bool = True
    ) -> pl.DataFrame | None:
        frame = read_arrow(self, statement, schema, whole)
        read.append((statement, frame))
        return frame

    monkeypatch.setattr(SQLiteWarehouse, "read_arrow", spy)
    return read


def test_a_bulk_read_gives_the_frame_the_row_reader_gives(
    tmp_path, monkeypatch, bulk_reads, arrow_reads
):
    wh = warehouse.connect(f"sqlite:///{tmp_path / 'w.db'}")
    wh.init_db()
    rows = [
        ("L1", "2026-06-01", "login", 2),
        ("L'2", "2026-06-02", "document_created", 1),
        ("L3", "2026-05-31", "login", 7),
    ]
    with wh.session() as s, s.transaction():
        s.conn.exec_driver_sql("insert into lead_activity_daily values (?, ?, ?, ?)", rows)
    bulk = wh.read("select_lead_activity_daily", JUNE_1_2, ACTIVITY_SCHEMA)
    # Through the child, the values written in as literals.
    [(statement, arrow)] = arrow_reads
    assert "'2026-06-01'" in statement and arrow is not None and arrow.height == 2
    monkeypatch.setattr(SQLiteWarehouse, "BULK_READ_BYTES", 10**15)
    by_row = wh.read("select_lead_activity_daily", JUNE_1_2, ACTIVITY_SCHEMA)
    assert bulk.sort("lead_id").equals(by_row.sort("lead_id"))
    assert bulk.height == 2 and dict(bulk.schema) == ACTIVITY_SCHEMA
    assert wh.read_table("lead_activity_daily").height == 3


def test_a_column_of_mixed_types_is_read_row_by_row_so_validation_sees_the_odd_value(
    tmp_path, bulk_reads
):
    wh = warehouse.connect(f"sqlite:///{tmp_path / 'w.db'}")
    rows = BATCH_ROWS + 10  # the odd value after the driver's first batch, which typed the column
    with wh.session() as s, s.transaction():
        s.conn.exec_driver_sql("create table t (n integer)")
        values = [(i,) for i in range(rows)] + [("many",)]
        s.conn.exec_driver_sql("insert into t values (?)", values)
    assert wh.read_arrow("select n from t") is None  # the driver refuses the mixed column
    frame = wh.read_table("t")
    assert frame.height == rows + 1 and "many" in frame["n"].to_list()


def test_mixed_types_within_the_first_batch_are_read_in_bulk_as_their_text(tmp_path, bulk_reads):
    wh = warehouse.connect(f"sqlite:///{tmp_path / 'w.db'}")
    with wh.session() as s, s.transaction():
        s.conn.exec_driver_sql("create table t (n integer)")
        s.conn.exec_driver_sql("insert into t values (?)", [(7,), ("seven",), (None,)])
    frame = wh.read_arrow("select n from t")
    assert frame is not None and frame["n"].to_list() == ["7", "seven", None]


def test_a_column_null_in_its_first_thousands_of_rows_is_read_in_bulk(tmp_path, bulk_reads):
    # A CRM table sorted so that its first rows lack an optional key (opportunities without a
    # lead): the driver once typed such a column as integer and refused its first text.
    wh = warehouse.connect(f"sqlite:///{tmp_path / 'w.db'}")
    with wh.session() as s, s.transaction():
        s.conn.exec_driver_sql("create table t (id integer, lead_id text)")
        values = [(i, None if i < 5000 else f"L{i}") for i in range(6000)]
        s.conn.exec_driver_sql("insert into t values (?, ?)", values)
    frame = wh.read_arrow("select id, lead_id from t")
    assert frame is not None and frame.schema["lead_id"] == pl.String
    assert frame["lead_id"].null_count() == 5000 and frame["lead_id"][5999] == "L5999"


def test_inside_a_transaction_reads_see_its_own_writes(tmp_path, bulk_reads):
    wh = warehouse.connect(f"sqlite:///{tmp_path / 'w.db'}")
    wh.init_db()
    with wh.session() as s, s.transaction():
        s.conn.exec_driver_sql(
            "insert into lead_activity_daily values ('L1', '2026-06-01', 'login', 2)"
        )
        assert s.read("select_lead_activity_daily", JUNE_1_2, ACTIVITY_SCHEMA).height == 1


def test_each_bulk_read_takes_a_child_started_before_it(tmp_path, bulk_reads):
    """A bulk read starts the next read's child (its imports are most of its start), and a child
    that was started and never given a statement exits when its input closes."""
    path = str(tmp_path / "w.db")
    wh = warehouse.connect(f"sqlite:///{path}")
    wh.init_db()
    first = wh.read("select_lead_activity_daily", JUNE_1_2, ACTIVITY_SCHEMA)
    spare = sqlite._SPARE_READERS[path]
    assert spare.poll() is None  # started, waiting for its statement
    again = wh.read("select_lead_activity_daily", JUNE_1_2, ACTIVITY_SCHEMA)
    assert again.equals(first)
    assert spare.wait(timeout=30) == 0  # the second read was the spare's
    assert sqlite._SPARE_READERS[path] is not spare
    left = sqlite._SPARE_READERS.pop(path)
    left.stdin.close()
    assert left.wait(timeout=30) == 0


def test_a_bulk_read_writes_a_list_of_values_in_as_literals(tmp_path, bulk_reads, arrow_reads):
    # `event in :names`: a list expands into one literal per value, typed by the values.
    wh = warehouse.connect(f"sqlite:///{tmp_path / 'w.db'}")
    wh.init_db()
    rows = [("L1", "2026-06-01", "login", 2), ("L2", "2026-06-02", "document_created", 1)]
    with wh.session() as s, s.transaction():
        s.conn.exec_driver_sql("insert into lead_activity_daily values (?, ?, ?, ?)", rows)
    params = {"from_day": "2026-05-01", "to_day": "2026-07-01", "engaged_events": ["login"]}
    first = wh.read("select_first_engaged", params, {"lead_id": pl.String, "engaged_on": pl.Date})
    [(statement, _)] = arrow_reads
    assert "'login'" in statement
    assert first["lead_id"].to_list() == ["L1"]
