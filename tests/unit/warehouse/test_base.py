"""How the adapter prepares statements: contract identifiers quoted in, values always bound."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
import sqlalchemy as sa

from leadscore.warehouse import base


def quote(name: str) -> str:
    return f'"{name}"'


def test_placeholders_take_quoted_identifiers_and_only_those():
    text = "select {name_column} from {events} where occurred_at >= :window_start"
    filled = base._fill(text, {"events": "product_events", "name_column": "event_name"}, quote)
    # Identifiers are quoted by the dialect; the bind parameter stays a bind parameter.
    assert filled == 'select "event_name" from "product_events" where occurred_at >= :window_start'
    with pytest.raises(KeyError, match="events"):
        base._fill(text, {"name_column": "event_name"}, quote)


def test_list_parameters_expand_only_where_the_statement_uses_them():
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        two_events = "select 'login' as e union all select 'odd'"
        statement = f"select count(*) from ({two_events}) where e not in :known"
        params = {"known": ["login", "document_signed"], "unused": ["x"]}
        assert conn.execute(base._text(statement, params), params).scalar() == 1


def test_rows_are_read_in_chunks_and_a_text_value_in_a_later_chunk_keeps_the_column_text(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(base, "READ_CHUNK_ROWS", 3)
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        conn.exec_driver_sql("create table t (n integer, d text)")
        rows = [(i, f"2026-06-{i + 1:02d}") for i in range(7)] + [("seven", "2026-06-08")]
        conn.exec_driver_sql("insert into t values (?, ?)", rows)
        raw = base.result_to_frame(conn.execute(sa.text("select n, d from t order by d")))
        typed = base.result_to_frame(
            conn.execute(sa.text("select n, d from t order by d")), {"d": pl.Date}
        )
        none = base.result_to_frame(conn.execute(sa.text("select n, d from t where 0")))
    # As validation must see it: every value, the bad one as text, not a null.
    assert raw["n"].to_list() == [str(i) for i in range(7)] + ["seven"]
    assert typed.height == 8 and typed["d"].dtype == pl.Date
    assert typed["d"][-1] == dt.date(2026, 6, 8)
    assert none.height == 0 and none.columns == ["n", "d"]


def test_a_bulk_reads_batches_make_one_frame_of_few_chunks_a_column(monkeypatch):
    # The parts are cast as they come and put together GATHER_PARTS at a time into one chunk per
    # column (the steps reading the frame would otherwise gather many small parts again in every
    # filter and join), never all into one more copy of the whole result. Not `whole`, the
    # parts left over stay chunks of their own.
    import pyarrow as pa

    monkeypatch.setattr(base, "READ_CHUNK_ROWS", 2)
    arrow = pa.schema([("lead_id", pa.string()), ("events", pa.int64())])
    batches = [
        pa.record_batch([pa.array([f"L{i}", f"L{i + 1}"]), pa.array([i, i + 1])], schema=arrow)
        for i in range(0, 10, 2)
    ]
    schema = {"lead_id": pl.Categorical, "events": pl.Int32}

    def read(gather: int, whole: bool) -> pl.DataFrame:
        monkeypatch.setattr(base, "GATHER_PARTS", gather)
        return base.frame_of_batches(iter(batches), arrow, schema, whole)

    for gather, whole, chunks in (
        (8, True, 1),
        (8, False, 5),
        (5, False, 1),
        (2, True, 3),
        (2, False, 3),
        (1, True, 5),
    ):
        frame = read(gather, whole)
        assert frame.schema["lead_id"] == pl.Categorical and frame.schema["events"] == pl.Int32
        assert frame["lead_id"].cast(pl.String).to_list() == [f"L{i}" for i in range(10)]
        assert frame["events"].to_list() == list(range(10))
        assert [frame[c].n_chunks() for c in frame.columns] == [chunks, chunks], (gather, whole)
    empty = base.frame_of_batches(iter([]), arrow, schema)
    assert empty.height == 0 and [empty.schema[c] for c in schema] == list(schema.values())


def test_a_wide_results_parts_are_bounded_by_the_drivers_bytes(monkeypatch):
    # A part is made when its batches hold READ_CHUNK_BYTES, before READ_CHUNK_ROWS rows: the
    # training sample's 65 columns came 250,000 rows a part, its driver's batches held whole.
    import pyarrow as pa

    arrow = pa.schema([("lead_id", pa.string()), ("note", pa.string())])
    batches = [
        pa.record_batch(
            [pa.array([f"L{i}", f"L{i + 1}"]), pa.array(["x" * 1000] * 2)], schema=arrow
        )
        for i in range(0, 10, 2)
    ]
    monkeypatch.setattr(base, "READ_CHUNK_ROWS", 1_000)
    monkeypatch.setattr(base, "GATHER_PARTS", 100)
    whole = base.frame_of_batches(iter(batches), arrow, whole=False)
    assert whole.height == 10 and whole["lead_id"].n_chunks() == 1
    monkeypatch.setattr(base, "READ_CHUNK_BYTES", 3_000)
    parts = base.frame_of_batches(iter(batches), arrow, whole=False)
    assert parts["lead_id"].to_list() == whole["lead_id"].to_list()
    assert parts["lead_id"].n_chunks() == 3  # two batches a part (4 kB), the last one alone
