"""SQLite: the embedded default warehouse. Timestamps are ISO-8601 text in UTC."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import itertools
import math
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from leadscore import sql
from leadscore.errors import LeadscoreError
from leadscore.run import logger
from leadscore.warehouse.base import (
    WRITE_CHUNK_ROWS,
    Params,
    Session,
    Warehouse,
    frame_of_batches,
)
from leadscore.warehouse.frames import Schema

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


class SQLiteWarehouse(Warehouse):
    """One writer at a time; readers keep seeing the previous night through WAL until the commit.

    Publishing stages each frame before the transaction starts: Arrow's SQLite driver (ADBC)
    writes it in bulk into a staging file of its own beside the warehouse
    (`<file>.staging-<key>`), closes it, and only then is that file attached to the publishing
    connection; inside the transaction each table takes its rows with one `insert ... select`
    (1M rows: ~1 s to stage, ~2 s to insert, against ~10 s through Python).

    ADBC never opens the warehouse file itself: it links its own copy of the SQLite library, and
    two copies in one process do not see each other's POSIX locks (closing one copy's last
    connection checkpoints and deletes the WAL under the other's open connections; SQLite's
    "How To Corrupt" page, section 2.2.1). Tables are read through Python's `sqlite3`.
    """

    dialect = "sqlite"
    # Files smaller than this are read row by row (see `read_arrow`).
    BULK_READ_BYTES = 256 * 2**20
    # Output tables the night reads by date range, stored WITHOUT ROWID (in key order; see
    # `statement`): through a rowid table's separate key index every row of a range is a
    # random lookup (the 1M-lead demo's 15M-row roll-up: 20 s for a range, 1.3 s for a scan).
    CLUSTERED = ("lead_activity_daily", "lead_score_history", "lead_lifecycle", "account_scores")

    def statement(self, name: str, identifiers: Mapping[str, str] | None = None) -> str:
        """As everywhere, but the `CLUSTERED` tables are created WITHOUT ROWID (the portable DDL
        stays the one definition of their columns and keys)."""
        text = super().statement(name, identifiers)
        if name.startswith("create_") and name.removeprefix("create_") in self.CLUSTERED:
            return f"{text} without rowid"
        return text

    @classmethod
    def create_engine(cls, url: sa.URL) -> Engine:
        database = url.database or ""
        if database and database != ":memory:" and not Path(database).parent.exists():
            raise LeadscoreError(f"warehouse {url}: folder {Path(database).parent} does not exist")
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _pragmas)
        return engine

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """An flock on a file beside the database, released by the kernel if the job dies."""
        database = self.engine.url.database or "memory"
        path = Path(f"{database}.lock") if database != ":memory:" else Path(os.devnull)
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LeadscoreError(
                    f"another leadscore run holds the lock on {database} ({path}); refusing to "
                    "start"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def append(self, conn: Connection, table: str, frame: pl.DataFrame) -> int:
        """One prepared insert, executed for every row in chunks (executemany)."""
        columns = ", ".join(self.quote(c) for c in frame.columns)
        marks = ", ".join("?" for _ in frame.columns)
        statement = f"insert into {self.quote(table)} ({columns}) values ({marks})"
        for chunk in frame.iter_slices(200_000):
            conn.exec_driver_sql(statement, list(_values(chunk).iter_rows()))
        return frame.height

    def read_arrow(
        self, statement: str, schema: Schema | None = None, whole: bool = True
    ) -> pl.DataFrame | None:
        """A statement without parameters read through ADBC in a child process
        (`leadscore.warehouse.sqlite_arrow`), as Arrow: the 1M-lead demo's 15M-row roll-up in
        ~10 s instead of ~40 s row by row. The batches become frames a part at a time
        (`frame_of_batches`), each cast to `schema` when given, so the text the driver gives is
        never held whole. None (the row reader then runs it) for an in-memory warehouse, a file
        smaller than `BULK_READ_BYTES` (the child's start would cost more than it saves), or a
        statement the driver refuses (a column holding values of mixed types)."""
        database = self.engine.url.database or ""
        if not database or database == ":memory:" or not Path(database).exists():
            return None
        if Path(database).stat().st_size < self.BULK_READ_BYTES:
            return None
        child = self._reader(database)
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(statement.encode())
        child.stdin.close()

        # Copied out of the stream's messages (`frame_of_batches`): a column polars took without
        # copying would keep each message whole, its text too (the 15M-row roll-up: 1.6 GB
        # instead of 1.0).
        frame: pl.DataFrame | None = None
        try:
            reader = pa.ipc.open_stream(child.stdout)
            frame = frame_of_batches(reader, reader.schema, schema, whole)
        except pa.ArrowInvalid:  # the child stopped: the driver refused the statement
            frame = None
        finally:
            child.stdout.close()
            failed = child.wait() != 0
        return None if failed else frame

    def _reader(self, database: str) -> subprocess.Popen[bytes]:
        """A child reader of `database` that has started (its imports take ~0.5 s), and the
        next read's started now: a night makes a dozen bulk reads, most of them small."""
        with _READERS_LOCK:
            child = _SPARE_READERS.pop(database, None)
            if child is None or child.poll() is not None:
                child = _start_reader(database)
            _SPARE_READERS[database] = _start_reader(database)
        return child

    def inline(self, conn: Connection, clause: sa.TextClause, params: Params) -> str | None:
        """The values written in by SQLAlchemy's literal rendering. A list is bound with its
        values, so that it takes their type: a list of no type has no literal form."""
        bound = clause.bindparams(
            *(
                sa.bindparam(k, list(v), expanding=True)
                if isinstance(v, list | tuple)
                else sa.bindparam(k, v)
                for k, v in params.items()
            )
        )
        return bound.compile(
            dialect=self.engine.dialect,
            compile_kwargs={"literal_binds": True, "render_postcompile": True},
        ).string

    def upgrade(self, s: Session) -> None:
        """Rebuild the `CLUSTERED` tables an earlier version stored with a rowid (once, in the
        caller's transaction). The views reading them are dropped and made again around it."""
        conn = s.conn
        stored = dict(
            conn.exec_driver_sql(
                "select name, sql from sqlite_master where type = 'table'"
            ).fetchall()
        )
        old = [t for t in self.CLUSTERED if "without rowid" not in stored[t].lower()]
        if not old:
            return
        # Python's sqlite3 opens the transaction at the first insert, update or delete: DDL
        # before it would commit on its own, and a rebuild stopped half way would stay half done.
        if not conn.connection.dbapi_connection.in_transaction:
            conn.exec_driver_sql("begin immediate")
        views = set(sa.inspect(conn).get_view_names())
        for view in reversed(sql.VIEWS):
            if view in views:
                conn.exec_driver_sql(f"drop view {view}")
        for table in old:
            start = time.perf_counter()
            conn.exec_driver_sql(f"alter table {table} rename to {table}_with_rowid")
            s.create([table])
            columns = ", ".join(
                self.quote(row[1]) for row in conn.exec_driver_sql(f"pragma table_info({table})")
            )
            conn.exec_driver_sql(
                f"insert into {table} ({columns}) select {columns} from {table}_with_rowid"
            )
            conn.exec_driver_sql(f"drop table {table}_with_rowid")
            logger().info(
                "%s stored in key order (WITHOUT ROWID) in %.1f s: a one-time upgrade",
                table,
                time.perf_counter() - start,
            )
        s.create(sql.OUTPUT_INDEXES)
        s.create([v for v in sql.VIEWS if v in views])

    def staging_path(self, key: str) -> Path | None:
        database = self.engine.url.database or ""
        if not database or database == ":memory:":
            return None
        return Path(f"{database}.staging-{key}")

    def stage(self, conn: Connection, key: str, like: str, frame: pl.DataFrame) -> None:
        path = self.staging_path(key)
        if path is None:  # an in-memory warehouse: insert_staged appends the frame itself
            return
        import adbc_driver_sqlite.dbapi as adbc

        path.unlink(missing_ok=True)
        with adbc.connect(str(path)) as staging, staging.cursor() as cursor:
            cursor.adbc_ingest("staged", _batches(frame), mode="create")
            staging.commit()
        # Attached once ADBC has closed it, before the transaction's first write (SQLite
        # attaches nothing inside a transaction); from here only this connection opens it.
        conn.exec_driver_sql(f"attach database ? as {_schema(key)}", (str(path),))

    def insert_staged(self, conn: Connection, table: str, key: str, frame: pl.DataFrame) -> int:
        if self.staging_path(key) is None:
            return self.append(conn, table, frame)
        self.insert_select(conn, table, frame.columns, f"{_schema(key)}.staged")
        return frame.height

    def drop_staged(self, conn: Connection, keys: list[str]) -> None:
        attached = {row[1] for row in conn.exec_driver_sql("pragma database_list")}
        for key in keys:
            path = self.staging_path(key)
            if path is None:
                continue
            if _schema(key) in attached:
                conn.exec_driver_sql(f"detach database {_schema(key)}")
            path.unlink(missing_ok=True)

    # ---- generated SQL (leadscore.sqlgen). SQLite has no regular expressions and an ASCII-only
    # lower(): the job registers Python's on each connection (see `_functions`), so text is
    # handled as the local path's polars handles it.
    def sql_float(self, value: float) -> str:
        # SQLite's own decimal parser is not exact for every double (about 1 in 6,000): the
        # literal is an integer mantissa times a power of two, which is.
        if value == int(value) and abs(value) < 2**53:
            return f"{int(value)}.0"
        mantissa, exponent = math.frexp(value)
        return f"({int(mantissa * 2**53)} * pow(2.0, {exponent - 53}))"

    def sql_date(self, day: dt.date) -> str:
        return f"'{day.isoformat()}'"

    def sql_timestamp(self, moment: dt.datetime) -> str:
        return f"'{moment.strftime(TIMESTAMP_FORMAT)}'"

    def sql_seconds_between(self, later: str, earlier: str) -> str:
        # julianday() resolves milliseconds; integer division truncates toward zero.
        return (
            f"(cast(round((julianday({later}) - julianday({earlier})) * 86400000) as integer)"
            " / 1000)"
        )

    def sql_day(self, moment: str) -> str:
        return f"date({moment})"

    def sql_month_start(self, moment: str) -> str:
        return f"date({moment}, 'start of month')"

    def sql_days_between(self, later: str, earlier: str) -> str:
        return f"cast(round(julianday({later}) - julianday({earlier})) as integer)"

    def sql_matches(self, text: str, pattern: str) -> str:
        return f"({text} regexp {pattern})"

    def sql_position(self, text: str, part: str) -> str:
        return f"instr({text}, {part})"

    def sql_without_whitespace(self, text: str) -> str:
        return f"leadscore_strip_all_whitespace({text})"

    def sql_strip(self, text: str) -> str:
        return f"leadscore_strip({text})"

    def sql_lower(self, text: str) -> str:
        return f"leadscore_lower({text})"

    def sql_upper(self, text: str) -> str:
        return f"leadscore_upper({text})"

    def sql_greatest(self, a: str, b: str) -> str:
        return f"max({a}, {b})"

    def sql_bool(self, value: bool) -> str:
        return "1" if value else "0"


# One started child reader per database file, waiting for its statement (`_reader`); one that
# is never given one sees its standard input close with this process and exits.
_SPARE_READERS: dict[str, subprocess.Popen[bytes]] = {}
_READERS_LOCK = threading.Lock()


def _start_reader(database: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        # Isolated (-I), as a script: it imports neither leadscore nor its dependencies.
        [sys.executable, "-I", str(Path(__file__).with_name("sqlite_arrow.py")), database],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp(pattern: str | None, text: str | None) -> bool | None:
    if pattern is None or text is None:
        return None
    return _regex(pattern).search(text) is not None


def _on_text(function: Callable[[str], str]) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        return function(value) if isinstance(value, str) else value

    return apply


WHITESPACE = re.compile(r"\s")


def _functions(dbapi_conn: Any) -> None:
    """The text functions the generated SQL uses, as Python (and polars) define them."""
    dbapi_conn.create_function("regexp", 2, _regexp, deterministic=True)
    dbapi_conn.create_function("leadscore_lower", 1, _on_text(str.lower), deterministic=True)
    dbapi_conn.create_function("leadscore_upper", 1, _on_text(str.upper), deterministic=True)
    dbapi_conn.create_function("leadscore_strip", 1, _on_text(str.strip), deterministic=True)
    dbapi_conn.create_function(
        "leadscore_strip_all_whitespace",
        1,
        _on_text(lambda v: WHITESPACE.sub("", v)),
        deterministic=True,
    )


def _schema(key: str) -> str:
    """The name a staged frame's file is attached under."""
    return f"leadscore_staged_{key}"


def _batches(frame: pl.DataFrame) -> Any:
    """The frame as Arrow batches of values as SQLite holds them (`_values`), made
    `WRITE_CHUNK_ROWS` rows at a time as the driver takes them: a first night's 15M fresh daily
    rows, as text, were a whole second copy of the frame (~1 GB at a million leads)."""
    parts = (_values(part).to_arrow() for part in frame.iter_slices(WRITE_CHUNK_ROWS))
    first = next(parts)
    batches = itertools.chain(first.to_batches(), (b for part in parts for b in part.to_batches()))
    return pa.RecordBatchReader.from_batches(first.schema, batches)


def _values(frame: pl.DataFrame) -> pl.DataFrame:
    """Timestamps and dates as ISO text, booleans as 0/1, categories as their text: how the
    SQLite tables hold them."""
    exprs = []
    for name, kind in frame.schema.items():
        if isinstance(kind, pl.Categorical):
            exprs.append(pl.col(name).cast(pl.String))
        elif isinstance(kind, pl.Datetime):
            exprs.append(pl.col(name).dt.strftime(TIMESTAMP_FORMAT))
        elif kind == pl.Date:
            exprs.append(pl.col(name).dt.strftime("%Y-%m-%d"))
        elif kind == pl.Boolean:
            exprs.append(pl.col(name).cast(pl.Int8))
        else:
            exprs.append(pl.col(name))
    return frame.select(exprs)


def _pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets a reader keep seeing the previous night while the new one is being committed.
    cursor = dbapi_conn.cursor()
    cursor.execute("pragma journal_mode=wal")
    cursor.execute("pragma synchronous=normal")
    cursor.execute("pragma busy_timeout=30000")
    cursor.close()
    _functions(dbapi_conn)


WAREHOUSE = SQLiteWarehouse
