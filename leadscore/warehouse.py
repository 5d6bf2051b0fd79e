"""The edge between the job and the warehouse: connections, DDL, frame reads and bulk writes.

Everything else in the job takes and returns polars frames; only this module and the thin
`@task` wrappers talk to the database.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import sql
from leadscore.errors import LeadscoreError
from leadscore.settings import redact_url

# Timestamps are stored as UTC. SQLite keeps them as ISO-8601 text, which sorts like time.
SQLITE_TS_FORMAT = "%Y-%m-%d %H:%M:%S"


def connect(url: str) -> Engine:
    """An engine for `url`, checked with a round trip so a bad URL fails here with one line."""
    try:
        parsed = sa.engine.make_url(url)
    except Exception:
        raise LeadscoreError(f"warehouse URL {url!r} is not a database URL "
                             "(e.g. sqlite:///leadscore.db or postgresql+psycopg://user@host/db)") from None
    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise LeadscoreError(f"warehouse {redact_url(url)}: only sqlite and postgresql are supported")
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not Path(database).parent.exists():
            raise LeadscoreError(f"warehouse {url}: folder {Path(database).parent} does not exist")
        engine = sa.create_engine(parsed, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = sa.create_engine(parsed, connect_args={"connect_timeout": 10}, pool_pre_ping=True)
        sa.event.listen(engine, "connect", _postgres_session)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:
        raise LeadscoreError(f"cannot connect to warehouse {redact_url(url)}: "
                             f"{str(exc).splitlines()[0]}") from None
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets a reader keep seeing the previous night while the new one is being committed.
    cursor = dbapi_conn.cursor()
    cursor.execute("pragma journal_mode=wal")
    cursor.execute("pragma synchronous=normal")
    cursor.execute("pragma busy_timeout=30000")
    cursor.close()


def _postgres_session(dbapi_conn: Any, _record: Any) -> None:
    # Dates are cut at midnight UTC whatever the server's own time zone.
    with dbapi_conn.cursor() as cursor:
        cursor.execute("set time zone 'UTC'")
    dbapi_conn.commit()


def dialect(conn: Connection | Engine) -> str:
    return conn.dialect.name


def execute_ddl(conn: Connection, names: Sequence[str]) -> None:
    d = dialect(conn)
    for name in names:
        conn.exec_driver_sql(sql.load(f"create_{name}", d))


def init_db(engine: Engine) -> None:
    """Create the job's output tables and views; safe to run again."""
    with engine.begin() as conn:
        execute_ddl(conn, sql.OUTPUT_TABLES + sql.OUTPUT_INDEXES)
        for view in reversed(sql.VIEWS):
            conn.exec_driver_sql(f"drop view if exists {view}")
        missing = [t for t in ("crm_leads", "crm_accounts", "sdr_reps") if not has_table(conn, t)]
        if not missing:
            # The views join the CRM tables; without them they are created by the first run.
            execute_ddl(conn, sql.VIEWS)


def ensure_views(conn: Connection) -> None:
    inspector = sa.inspect(conn)
    existing = set(inspector.get_view_names())
    for view in sql.VIEWS:
        if view not in existing:
            conn.exec_driver_sql(sql.load(f"create_{view}", dialect(conn)))


def has_table(conn: Connection, name: str) -> bool:
    return sa.inspect(conn).has_table(name)


def table_columns(conn: Connection, name: str) -> list[str]:
    return [c["name"] for c in sa.inspect(conn).get_columns(name)]


def enforces_unique(conn: Connection, table: str, column: str) -> bool:
    """Whether the database itself keeps `column` of `table` unique (primary key or unique constraint)."""
    inspector = sa.inspect(conn)
    if inspector.get_pk_constraint(table).get("constrained_columns") == [column]:
        return True
    uniques = inspector.get_unique_constraints(table) + [i for i in inspector.get_indexes(table) if i.get("unique")]
    return any(u.get("column_names") == [column] for u in uniques)


def cutoff(day: dt.date) -> str:
    """Bind value for "before the start of `day` UTC".

    A bare date string compares correctly on both dialects: PostgreSQL casts it to midnight
    UTC (the session time zone), and on SQLite '2026-07-01' sorts before every ISO timestamp
    of that day.
    """
    return day.isoformat()


def read_frame(conn: Connection, statement: str, params: dict[str, Any] | None = None,
               schema: dict[str, pl.DataType] | None = None) -> pl.DataFrame:
    """Run one query and return its rows as a polars frame with the given column types."""
    result = conn.execute(sa.text(statement), params or {})
    columns = list(result.keys())
    rows = result.fetchall()
    if rows:
        try:
            frame = pl.DataFrame(rows, schema=columns, orient="row", infer_schema_length=None)
        except (TypeError, pl.exceptions.PolarsError):
            frame = pl.DataFrame([_series(c, [r[i] for r in rows]) for i, c in enumerate(columns)])
    else:
        frame = pl.DataFrame({c: pl.Series(c, [], dtype=(schema or {}).get(c, pl.String)) for c in columns})
    return coerce(frame, schema or {})


def _series(name: str, values: list[Any]) -> pl.Series:
    """A column as read; one of mixed types (text in an integer column on SQLite) stays text,
    so that validation sees the bad values instead of nulls."""
    try:
        return pl.Series(name, values)
    except (TypeError, pl.exceptions.PolarsError):
        return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)


def read_optional(conn: Connection, table: str, statement: str, params: dict[str, Any],
                  schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Like read_frame, but an empty frame of `schema` when the job's own `table` is not there yet."""
    if not has_table(conn, table):
        return pl.DataFrame(schema={c: (pl.Datetime("us") if t == pl.Datetime else t) for c, t in schema.items()})
    return read_frame(conn, statement, params, schema)


def coerce(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Cast columns to the job's types: timestamps to naive UTC, dates, booleans, numbers."""
    exprs = []
    for name, kind in schema.items():
        if name not in frame.columns:
            continue
        col = pl.col(name)
        current = frame.schema[name]
        if kind == pl.Datetime:
            if isinstance(current, pl.Datetime):
                expr = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None) if current.time_zone else col
                expr = expr.dt.cast_time_unit("us")
            else:
                expr = _parse_timestamp(col.cast(pl.String))
        elif kind == pl.Date:
            expr = col.cast(pl.Date) if current in (pl.Date, pl.Datetime) else col.cast(pl.String).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
        elif kind == pl.Boolean and current != pl.Boolean:
            expr = col.cast(pl.Int64, strict=False).cast(pl.Boolean)
        else:
            expr = col.cast(kind, strict=False)
        exprs.append(expr.alias(name))
    return frame.with_columns(exprs) if exprs else frame


def _parse_timestamp(col: pl.Expr) -> pl.Expr:
    # SQLite text: "YYYY-MM-DD HH:MM:SS[.ffffff][+00:00]" or with a "T"; all read as UTC.
    text = col.str.replace("T", " ").str.replace(r"(Z|[+-]\d\d:?\d\d)$", "")
    return text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", strict=False).fill_null(
        text.str.to_datetime("%Y-%m-%d", time_unit="us", strict=False))


def _sqlite_values(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    exprs = []
    for name, kind in frame.schema.items():
        if isinstance(kind, pl.Datetime):
            exprs.append(pl.col(name).dt.strftime(SQLITE_TS_FORMAT))
        elif kind == pl.Date:
            exprs.append(pl.col(name).dt.strftime("%Y-%m-%d"))
        elif kind == pl.Boolean:
            exprs.append(pl.col(name).cast(pl.Int8))
        else:
            exprs.append(pl.col(name))
    return frame.select(exprs).rows()


def write_frame(conn: Connection, table: str, frame: pl.DataFrame) -> int:
    """Append `frame` to `table` in bulk (COPY on PostgreSQL, executemany on SQLite)."""
    if frame.is_empty():
        return 0
    columns = ", ".join(frame.columns)
    if dialect(conn) == "postgresql":
        buffer = io.BytesIO()
        prepared = frame.with_columns(
            pl.col(c).dt.strftime("%Y-%m-%d %H:%M:%S%.6f+00")
            for c, k in frame.schema.items() if isinstance(k, pl.Datetime))
        prepared.write_csv(buffer, include_header=False, null_value="\\N", quote_style="necessary")
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor:
            with cursor.copy(f"copy {table} ({columns}) from stdin (format csv, null '\\N')") as copy:
                copy.write(buffer.getvalue())
    else:
        marks = ", ".join("?" for _ in frame.columns)
        statement = f"insert into {table} ({columns}) values ({marks})"
        for chunk in frame.iter_slices(200_000):
            conn.exec_driver_sql(statement, _sqlite_values(chunk))
    return frame.height


class Staging:
    """Frames bound for tables of one publishing transaction.

    PostgreSQL: `stage` COPYs each frame into a temporary table on the publishing connection,
    before the transaction starts; the transaction then only moves rows inside the server
    (`insert ... select`): it is short, and a row the server refuses fails the night before
    anything is deleted. SQLite (one writer; readers keep the previous night through WAL):
    `insert` writes the frame inside the transaction.
    """

    def __init__(self, conn: Connection):
        self.conn = conn
        self.postgres = dialect(conn) == "postgresql"
        self.frames: dict[str, pl.DataFrame] = {}

    def stage(self, key: str, like: str, frame: pl.DataFrame) -> None:
        """Hold `frame` under `key`, typed like table `like`."""
        self.frames[key] = frame
        if self.postgres and not frame.is_empty():
            self.conn.exec_driver_sql(f"drop table if exists stage_{key}")
            self.conn.exec_driver_sql(f"create temporary table stage_{key} (like {like})")
            write_frame(self.conn, f"stage_{key}", frame)

    def insert(self, table: str, key: str) -> int:
        """Append the frame staged under `key` to `table`; the number of rows."""
        frame = self.frames[key]
        if frame.is_empty():
            return 0
        if not self.postgres:
            return write_frame(self.conn, table, frame)
        columns = ", ".join(frame.columns)
        self.conn.exec_driver_sql(f"insert into {table} ({columns}) select {columns} from stage_{key}")
        return frame.height

    def drop(self) -> None:
        """Drop the staging tables (they would otherwise live as long as the pooled connection)."""
        if self.postgres:
            with self.conn.begin():
                for key, frame in self.frames.items():
                    if not frame.is_empty():
                        self.conn.exec_driver_sql(f"drop table if exists stage_{key}")


@contextlib.contextmanager
def run_lock(engine: Engine, url: str) -> Iterator[None]:
    """Hold the one-night-at-a-time lock for this warehouse, or refuse at once.

    PostgreSQL: a session advisory lock on a connection of its own, released by the server if
    the job dies; keyed by the schema, as two schemas of one database are two warehouses.
    SQLite: an flock on a file beside the database, released by the kernel.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            got = conn.execute(sa.text("select pg_try_advisory_lock(:k, hashtext(current_schema()))"),
                               {"k": LOCK_KEY}).scalar()
            if not got:
                raise LeadscoreError(
                    f"another leadscore run holds the lock on {redact_url(url)}; refusing to start")
            try:
                conn.commit()
                yield
            finally:
                conn.execute(sa.text("select pg_advisory_unlock(:k, hashtext(current_schema()))"), {"k": LOCK_KEY})
                conn.commit()
    else:
        database = engine.url.database or "memory"
        path = Path(f"{database}.lock") if database != ":memory:" else Path(os.devnull)
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise LeadscoreError(
                f"another leadscore run holds the lock on {database} ({path}); refusing to start") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


# An arbitrary constant (a 32-bit int, the lock's first key), the same for every process of the job.
LOCK_KEY = 531_233_726
