"""PostgreSQL: the real warehouse. Sessions run in UTC; bulk writes use COPY."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import polars as pl
import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from leadscore.errors import LeadscoreError
from leadscore.warehouse.base import WRITE_CHUNK_ROWS, Params, Session, Warehouse

# An arbitrary constant (a 32-bit int, the lock's first key), the same for every process of the job.
LOCK_KEY = 531_233_726


class PostgresWarehouse(Warehouse):
    """Publishing COPYs each frame into a temporary table on the publishing connection before the
    transaction starts; the transaction then only moves rows inside the server (`insert ...
    select`): it is short, and a row the server refuses fails the night before anything is deleted.
    """

    dialect = "postgresql"

    @classmethod
    def create_engine(cls, url: sa.URL) -> Engine:
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        engine = sa.create_engine(url, connect_args={"connect_timeout": 10}, pool_pre_ping=True)
        sa.event.listen(engine, "connect", _utc_session)
        return engine

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """A session advisory lock on a connection of its own, released by the server if the job
        dies; keyed by the schema, as two schemas of one database are two warehouses."""
        with self.engine.connect() as conn:
            session = Session(self, conn)
            if not session.scalar("select_try_advisory_lock", {"key": LOCK_KEY}):
                raise LeadscoreError(
                    f"another leadscore run holds the lock on {self.display_url}; refusing to start"
                )
            try:
                conn.commit()
                yield
            finally:
                session.scalar("select_advisory_unlock", {"key": LOCK_KEY})
                conn.commit()

    def adbc_connect(self) -> Any:
        import adbc_driver_postgresql.dbapi as adbc

        # libpq's own URI: the same host, database and options (search_path) as the engine's.
        uri = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return adbc.connect(uri)

    def inline(self, conn: Connection, clause: sa.TextClause, params: Params) -> str | None:
        """The values written in by psycopg on the client (as its `ClientCursor` does), so that
        they stay untyped literals that PostgreSQL types from their context, as with `execute`.
        Read through ADBC as Arrow: 15M rows in ~20 s and ~0.5 GB, against ~45 s and a Python
        object per value row by row."""
        # Lists expand into one placeholder per value, which needs every value bound; the others
        # are bound without a type, so that they stay untyped, as in `execute` (a typed text
        # value is written with a cast to varchar, which a date column will not compare with).
        compiled = clause.bindparams(
            *(
                sa.bindparam(k, v, type_=sa.types.NullType())
                for k, v in params.items()
                if not isinstance(v, list | tuple)
            ),
            **{k: v for k, v in params.items() if isinstance(v, list | tuple)},
        ).compile(dialect=self.engine.dialect, compile_kwargs={"render_postcompile": True})
        raw = conn.connection.driver_connection
        return psycopg.ClientCursor(raw).mogrify(compiled.string, compiled.params)

    def append(self, conn: Connection, table: str, frame: pl.DataFrame) -> int:
        """COPY the frame as CSV (timestamps with their UTC offset; a category as its text); text
        is quoted and nulls are not, so a text value `\\N` stays text. The CSV is made
        `WRITE_CHUNK_ROWS` rows at a time, in one COPY."""
        columns = ", ".join(self.quote(c) for c in frame.columns)
        times = [
            pl.col(c).dt.strftime("%Y-%m-%d %H:%M:%S%.6f+00")
            for c, k in frame.schema.items()
            if isinstance(k, pl.Datetime)
        ]
        raw = conn.connection.driver_connection
        with (
            raw.cursor() as cursor,
            cursor.copy(
                f"copy {self.quote(table)} ({columns}) from stdin (format csv, null '\\N')"
            ) as copy,
        ):
            for part in frame.iter_slices(WRITE_CHUNK_ROWS):
                buffer = io.BytesIO()
                part.with_columns(times).write_csv(
                    buffer, include_header=False, null_value="\\N", quote_style="non_numeric"
                )
                copy.write(buffer.getvalue())
        return frame.height

    def stage(self, conn: Connection, key: str, like: str, frame: pl.DataFrame) -> None:
        staging = self.quote(f"stage_{key}")
        conn.exec_driver_sql(f"drop table if exists {staging}")
        conn.exec_driver_sql(f"create temporary table {staging} (like {self.quote(like)})")
        self.append(conn, f"stage_{key}", frame)

    def insert_staged(self, conn: Connection, table: str, key: str, frame: pl.DataFrame) -> int:
        self.insert_select(conn, table, frame.columns, self.quote(f"stage_{key}"))
        return frame.height

    def drop_staged(self, conn: Connection, keys: list[str]) -> None:
        # Temporary tables would otherwise live as long as the pooled connection.
        for key in keys:
            conn.exec_driver_sql(f"drop table if exists {self.quote(f'stage_{key}')}")

    def before_work(self, conn: Connection) -> None:
        # For this transaction only. JIT compiles each generated statement's hundreds of CASE
        # branches anew (3-4 s a statement, more than it saves); sorts and hashes of a million
        # work rows spill to disk at the 4 MB default (tonight's rows: 72 s -> 52 s with both).
        conn.exec_driver_sql("set local jit = off")
        conn.exec_driver_sql(f"set local work_mem = '{WORK_MEM}'")

    def written(self, conn: Connection, table: str) -> None:
        # A table made by `create table as` has no statistics until autovacuum comes by: the
        # planner guesses a few thousand rows and picks nested loops and merge joins over the
        # night's million-row work tables (measured: 72 s instead of 47 s for tonight's rows).
        conn.exec_driver_sql(f"analyze {self.quote(table)}")

    # ---- generated SQL (leadscore.sqlgen)
    def sql_float(self, value: float) -> str:
        return f"cast('{value!r}' as double precision)"

    def sql_date(self, day: dt.date) -> str:
        return f"date '{day.isoformat()}'"

    def sql_timestamp(self, moment: dt.datetime) -> str:
        return f"timestamptz '{moment.isoformat(sep=' ')}+00'"

    def sql_seconds_between(self, later: str, earlier: str) -> str:
        return f"cast(trunc(extract(epoch from ({later} - {earlier}))) as bigint)"

    def sql_day(self, moment: str) -> str:
        return f"cast({moment} at time zone 'UTC' as date)"

    def sql_month_start(self, moment: str) -> str:
        return f"cast(date_trunc('month', {moment} at time zone 'UTC') as date)"

    def sql_days_between(self, later: str, earlier: str) -> str:
        return f"({later} - {earlier})"

    def sql_matches(self, text: str, pattern: str) -> str:
        # PostgreSQL's regular expressions spell a word boundary \y.
        spelled = pattern.replace("\\b", "\\y")
        return f"({text} ~ {spelled})"

    def sql_position(self, text: str, part: str) -> str:
        return f"strpos({text}, {part})"

    def sql_without_whitespace(self, text: str) -> str:
        return f"regexp_replace({text}, '\\s', '', 'g')"

    def sql_strip(self, text: str) -> str:
        return f"regexp_replace({text}, '^\\s+|\\s+$', '', 'g')"

    def sql_binary(self, text: str) -> str:
        return f'({text} collate "C")'


# Memory a sort or hash of the job's work statements may take before it spills to disk.
WORK_MEM = "256MB"


def _utc_session(dbapi_conn: Any, _record: Any) -> None:
    # Dates are cut at midnight UTC whatever the server's own time zone.
    with dbapi_conn.cursor() as cursor:
        cursor.execute("set time zone 'UTC'")
    dbapi_conn.commit()


WAREHOUSE = PostgresWarehouse
