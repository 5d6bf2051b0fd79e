"""The warehouse adapter: what the job asks of a warehouse, the same for every dialect.

A night opens one `Warehouse` and hands it to the stages. Statements are files of `sql/`, run
with bind parameters; where a dialect needs its own text, `sql/<dialect>/<name>.sql` takes
precedence. What differs in how a dialect moves data (bulk append, staging before the publishing
transaction, the run lock, connection options) is a subclass in one module per dialect:
`sqlite.py`, `postgresql.py`.
"""

from __future__ import annotations

import abc
import contextlib
import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import polars as pl
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from leadscore import sql
from leadscore.settings import redact_url
from leadscore.warehouse.frames import Schema, coerce, empty, rows_to_frame

Params = Mapping[str, Any]


def cutoff(day: dt.date) -> str:
    """Bind value for "before the start of `day` UTC".

    A bare date string compares correctly on both dialects: PostgreSQL casts it to midnight
    UTC (the session time zone), and on SQLite '2026-07-01' sorts before every ISO timestamp
    of that day.
    """
    return day.isoformat()


def _fill(statement: str, identifiers: Mapping[str, str], quote: Callable[[str], str]) -> str:
    """Put quoted identifiers in a statement's `{placeholders}` (table and column names from the
    contract, never values: values are bind parameters)."""

    def one(match: re.Match[str]) -> str:
        if match[1] not in identifiers:
            raise KeyError(f"statement needs identifier {{{match[1]}}}")
        return quote(identifiers[match[1]])

    return PLACEHOLDER.sub(one, statement)


PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _text(statement: str, params: Params) -> sa.TextClause:
    """A text clause whose list-valued parameters expand (`event in :names`)."""
    clause = sa.text(statement)
    lists = [
        sa.bindparam(k, expanding=True)
        for k, v in params.items()
        if isinstance(v, list | tuple) and re.search(rf"(?<![:\w]):{k}\b", statement)
    ]
    return clause.bindparams(*lists) if lists else clause


def _storage(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """An extension column as the values it stores."""
    return pa.chunked_array(
        [chunk.storage for chunk in column.chunks], type=column.type.storage_type
    )


def frame_of_batches(
    batches: Iterable[pa.RecordBatch],
    arrow_schema: pa.Schema,
    schema: Schema | None = None,
    whole: bool = True,
) -> pl.DataFrame:
    """A bulk reader's Arrow batches as one frame, made `READ_CHUNK_ROWS` rows at a time (fewer
    when the driver's batches hold `READ_CHUNK_BYTES` first) and each part cast to `schema` when
    given: the driver's text is never held whole (the 15M-row roll-up
    holds its lead as a category, 60 MB, not 0.4 GB of text). Each part is copied out of the
    driver's buffers, which hold room to grow or a whole stream message (300,000 training rows:
    576 MB resident instead of 654 MB). Types Arrow keeps opaque (PostgreSQL's numeric) go on as
    their text.

    `whole`: the parts left over (fewer than `GATHER_PARTS`) are put together too, so that a
    result of up to 2M rows is one chunk a column. A frame a night keeps and works on (the CRM
    tables of a local night) wants that: the steps that read it otherwise made contiguous copies
    of their own, held beside it (PostgreSQL's 1M-lead later night: +0.2 GB). A frame read to be
    checked and let go, or read once into a fit (the warehouse night's), is better left in
    parts: putting it together copied it whole once more, the peak of that night's process."""

    def frame(part: list[pa.RecordBatch]) -> pl.DataFrame:
        table = pa.Table.from_batches(part, arrow_schema)
        columns = [
            _storage(c) if isinstance(c.type, pa.BaseExtensionType) else c for c in table.columns
        ]
        out = pl.from_arrow(pa.table(columns, names=table.column_names).combine_chunks())
        assert isinstance(out, pl.DataFrame)
        return coerce(out, schema) if schema else out

    chunks: list[pl.DataFrame] = []  # each GATHER_PARTS parts, put together in one chunk
    parts: list[pl.DataFrame] = []
    pending: list[pa.RecordBatch] = []
    rows = 0

    def gather() -> None:
        chunks.append(parts[0] if len(parts) == 1 else pl.concat(parts, rechunk=True))
        parts.clear()

    held = 0  # the driver's bytes in `pending`
    for batch in batches:
        pending.append(batch)
        rows += batch.num_rows
        held += batch.nbytes
        if rows >= READ_CHUNK_ROWS or held >= READ_CHUNK_BYTES:
            parts.append(frame(pending))
            pending, rows, held = [], 0, 0
            if len(parts) == GATHER_PARTS:
                gather()
    if pending or not (parts or chunks):
        parts.append(frame(pending))
    if whole and len(parts) > 1:
        gather()
    chunks.extend(parts)
    # Few chunks a column, as the steps that read a frame want (they would gather many small
    # parts again in each filter, join and group-by), but never the whole result copied into one
    # more: put together at the end, the 15M-row roll-up was held twice (PostgreSQL's later night
    # peaked there, at 2,033 MB). Gathered GATHER_PARTS parts at a time, the copy is of those.
    return chunks[0] if len(chunks) == 1 else pl.concat(chunks, rechunk=False)


class Session:
    """One connection of the warehouse: reads, statements, and frames staged for one transaction."""

    def __init__(self, warehouse: Warehouse, conn: Connection):
        self.warehouse = warehouse
        self.conn = conn
        self.staged: dict[str, pl.DataFrame | str] = {}

    def read(
        self,
        name: str,
        params: Params | None = None,
        schema: Schema | None = None,
        identifiers: Mapping[str, str] | None = None,
    ) -> pl.DataFrame:
        """Run the named statement and return its rows, cast to `schema`."""
        params = params or {}
        clause = _text(self.warehouse.statement(name, identifiers), params)
        if schema:
            frame = self.warehouse.read_bulk(self.conn, clause, dict(params), schema)
            if frame is not None:
                return frame
        with self.reading():
            return result_to_frame(self.conn.execute(clause, dict(params)), schema)

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Around a read: a transaction SQLAlchemy begins for it (it begins one at the first
        statement) ends with it, so that the connection is outside one again, as before: a
        transaction the caller opens next can begin, and the reads after it may take the bulk
        reader, which only reads outside one."""
        outside = not self.conn.in_transaction()
        try:
            yield
        finally:
            if outside and self.conn.in_transaction():
                self.conn.rollback()  # a read: nothing to keep

    def scalar(self, name: str, params: Params | None = None) -> Any:
        params = params or {}
        return self.conn.execute(
            _text(self.warehouse.statement(name), params), dict(params)
        ).scalar()

    def execute(self, name: str, **params: Any) -> None:
        self.conn.execute(_text(self.warehouse.statement(name), params), params)

    def create(self, names: Sequence[str]) -> None:
        """Run the `create_<name>` statements (idempotent DDL)."""
        for name in names:
            self.conn.exec_driver_sql(self.warehouse.statement(f"create_{name}"))

    def create_outputs(self) -> None:
        """The job's output tables and their indexes, as this version of the job stores them
        (idempotent: tables written by an earlier version are brought up to date)."""
        self.create(sql.OUTPUT_TABLES + sql.OUTPUT_INDEXES)
        self.warehouse.upgrade(self)

    def ensure_views(self) -> None:
        existing = set(sa.inspect(self.conn).get_view_names())
        self.create([v for v in sql.VIEWS if v not in existing])

    def has_table(self, name: str) -> bool:
        # Without `reading`, every `read_if_exists` read row by row (1M rows: ~5 s).
        with self.reading():
            return sa.inspect(self.conn).has_table(name)

    def append(self, table: str, frame: pl.DataFrame) -> int:
        """Append `frame` to `table` in bulk; the number of rows."""
        return self.warehouse.append(self.conn, table, frame) if not frame.is_empty() else 0

    def stage(self, key: str, like: str, rows: pl.DataFrame | str) -> None:
        """Hold `rows` under `key` for `insert_staged` in a later transaction: a frame (typed
        like table `like`), or the name of a table in the warehouse holding them already."""
        self.staged[key] = rows
        if isinstance(rows, pl.DataFrame) and not rows.is_empty():
            self.warehouse.stage(self.conn, key, like, rows)

    def insert_staged(self, table: str, key: str) -> int:
        """Append the rows staged under `key` to `table`; the number of rows."""
        rows = self.staged[key]
        if isinstance(rows, str):
            columns = [
                c for c in self.warehouse.columns(table) if c in self.warehouse.columns(rows)
            ]
            return self.warehouse.insert_select(self.conn, table, columns, rows)
        return (
            self.warehouse.insert_staged(self.conn, table, key, rows) if not rows.is_empty() else 0
        )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.conn.begin():
            yield self


class Warehouse(abc.ABC):
    """A warehouse of one dialect, opened once per night (see `leadscore.warehouse.connect`)."""

    dialect: ClassVar[str]

    def __init__(self, url: str, engine: Engine):
        self.url = url
        self.engine = engine

    @classmethod
    @abc.abstractmethod
    def create_engine(cls, url: sa.URL) -> Engine:
        """An engine with the dialect's connection options; may refuse the URL with a
        LeadscoreError."""

    @property
    def display_url(self) -> str:
        """The URL without its password, for messages and the run record."""
        return redact_url(self.url)

    def statement(self, name: str, identifiers: Mapping[str, str] | None = None) -> str:
        """The text of statement `name` in this dialect, its `{placeholders}` filled with
        `identifiers`."""
        text = sql.load(name, self.dialect)
        return _fill(text, identifiers, self.quote) if identifiers else text

    # ---- short reads and writes, each on a connection of its own
    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A connection for several statements; frames staged on it are dropped when it closes."""
        with self.engine.connect() as conn:
            session = Session(self, conn)
            try:
                yield session
            finally:
                if session.staged:
                    with conn.begin():
                        self.drop_staged(
                            conn,
                            [
                                k
                                for k, f in session.staged.items()
                                if isinstance(f, pl.DataFrame) and not f.is_empty()
                            ],
                        )

    def read(
        self,
        name: str,
        params: Params | None = None,
        schema: Schema | None = None,
        identifiers: Mapping[str, str] | None = None,
    ) -> pl.DataFrame:
        """Run the named statement (see `Session.read`)."""
        with self.session() as s:
            return s.read(name, params, schema, identifiers)

    def read_if_exists(
        self, table: str, name: str, params: Params | None = None, schema: Schema | None = None
    ) -> pl.DataFrame:
        """Like `read`, but an empty frame of `schema` while the job's own `table` does not exist
        yet."""
        with self.session() as s:
            return s.read(name, params, schema) if s.has_table(table) else empty(schema or {})

    def read_table(
        self, table: str, schema: Schema | None = None, whole: bool = True
    ) -> pl.DataFrame:
        """Every row and column of `table`, as stored: through the dialect's columnar (Arrow)
        reader where it has one, else row by row (also when the columnar reader refuses a
        column that holds values of mixed types, so validation still sees them). `whole`: as
        `frame_of_batches` takes it."""
        frame = self.read_columnar(table, whole)
        if frame is not None:
            return coerce(frame, schema or {})
        with self.engine.connect() as conn:
            result = conn.execute(sa.select(sa.literal_column("*")).select_from(sa.table(table)))
            return result_to_frame(result, schema)

    def read_columnar(self, table: str, whole: bool = True) -> pl.DataFrame | None:
        """`table` read through ADBC; None where the dialect has no driver or it cannot read it."""
        return self.read_arrow(f"select * from {self.quote(table)}", whole=whole)

    def read_arrow(
        self, statement: str, schema: Schema | None = None, whole: bool = True
    ) -> pl.DataFrame | None:
        """A statement without parameters run on an ADBC connection of its own, its result
        streamed as Arrow into a frame (`frame_of_batches`, cast to `schema` when given); None
        where the dialect has no driver or the driver refuses it (the row reader then runs it,
        and raises what is wrong)."""
        try:
            connection = self.adbc_connect()
            if connection is None:
                return None
            with connection, connection.cursor() as cursor:
                cursor.execute(statement)
                reader = cursor.fetch_record_batch()
                return frame_of_batches(reader, reader.schema, schema, whole)
        except Exception:  # noqa: BLE001 (mixed types in a column, no driver: the row reader decides)
            return None

    def adbc_connect(self) -> Any:
        """A DB-API connection of the dialect's ADBC driver, or None where it has none."""
        return None

    def read_bulk(
        self, conn: Connection, clause: sa.TextClause, params: Params, schema: Schema
    ) -> pl.DataFrame | None:
        """The rows of `clause` in bulk, typed by `schema`: the statement with its values written
        in (`inline`) read by the dialect's columnar reader (`read_arrow`). None to read them
        row by row on `conn`: where the dialect has no bulk reader, and on a connection inside
        a transaction (the bulk reader reads on a connection of its own, which would not see
        the transaction's writes)."""
        if conn.in_transaction():
            return None
        names = clause.compile().params
        statement = self.inline(conn, clause, {k: v for k, v in params.items() if k in names})
        return None if statement is None else self.read_arrow(statement, schema)

    def inline(self, conn: Connection, clause: sa.TextClause, params: Params) -> str | None:
        """`clause` with the values of `params` (those it uses) written in as SQL literals, for
        the bulk reader; None where the dialect has none (the default)."""
        return None

    def query(
        self, statement: str, params: Params | None = None, schema: Schema | None = None
    ) -> pl.DataFrame:
        """Any SQL text, for tests, benchmarks and a person at a prompt; the job runs named
        statements."""
        params = params or {}
        with self.engine.connect() as conn:
            result = conn.execute(_text(statement, params), dict(params))
            return result_to_frame(result, schema)

    def read_sql(
        self, statement: str, schema: Schema | None = None, whole: bool = True
    ) -> pl.DataFrame:
        """Generated SQL text without parameters (see `leadscore.sqlgen`), its rows cast to
        `schema`: through ADBC where the dialect reads in bulk, else row by row. `whole`: as
        `frame_of_batches` takes it."""
        frame = self.read_arrow(statement, schema, whole) if self.dialect != "sqlite" else None
        if frame is not None:
            return frame
        with self.engine.connect() as conn:
            return result_to_frame(conn.exec_driver_sql(statement), schema)

    def scalar(self, name: str, params: Params | None = None) -> Any:
        with self.session() as s:
            return s.scalar(name, params)

    def has_table(self, name: str) -> bool:
        with self.engine.connect() as conn:
            return sa.inspect(conn).has_table(name)

    def columns(self, table: str) -> list[str]:
        with self.engine.connect() as conn:
            return [c["name"] for c in sa.inspect(conn).get_columns(table)]

    def enforces_unique(self, table: str, column: str) -> bool:
        """Whether the database itself keeps `column` of `table` unique (primary key or unique
        constraint)."""
        with self.engine.connect() as conn:
            inspector = sa.inspect(conn)
            if inspector.get_pk_constraint(table).get("constrained_columns") == [column]:
                return True
            uniques = inspector.get_unique_constraints(table) + [
                i for i in inspector.get_indexes(table) if i.get("unique")
            ]
        return any(u.get("column_names") == [column] for u in uniques)

    def create(self, names: Sequence[str]) -> None:
        """Run the `create_<name>` statements in one transaction."""
        with self.session() as s, s.transaction():
            s.create(names)

    def write(self, table: str, frame: pl.DataFrame) -> int:
        """Append `frame` to `table` in a transaction of its own."""
        with self.session() as s, s.transaction():
            return s.append(table, frame)

    def init_db(self) -> None:
        """Create the job's output tables and views; safe to run again."""
        with self.session() as s, s.transaction():
            s.create_outputs()
            for view in reversed(sql.VIEWS):
                s.execute(f"drop_{view}")
            # The views join the CRM tables; without them they are created by the first run.
            if all(s.has_table(t) for t in ("crm_leads", "crm_accounts", "sdr_reps")):
                s.create(sql.VIEWS)

    def dispose(self) -> None:
        self.engine.dispose()

    # ---- what each dialect does its own way
    @abc.abstractmethod
    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Hold the one-night-at-a-time lock of this warehouse, or refuse at once with a
        LeadscoreError."""

    @abc.abstractmethod
    def append(self, conn: Connection, table: str, frame: pl.DataFrame) -> int:
        """Append a non-empty frame to `table` in bulk, inside the caller's transaction."""

    def stage(self, conn: Connection, key: str, like: str, frame: pl.DataFrame) -> None:  # noqa: B027
        """Move a frame bound for table `like` as close to it as the dialect can, before the
        publishing transaction starts. By default nothing: `insert_staged` appends it."""

    def insert_staged(self, conn: Connection, table: str, key: str, frame: pl.DataFrame) -> int:
        """Inside the publishing transaction: append what was staged under `key` to `table`."""
        return self.append(conn, table, frame)

    def insert_select(self, conn: Connection, table: str, columns: list[str], source: str) -> int:
        """`insert into table (columns) select columns from source`; `source` already quoted.
        The number of rows inserted."""
        listed = ", ".join(self.quote(c) for c in columns)
        result = conn.exec_driver_sql(
            f"insert into {self.quote(table)} ({listed}) select {listed} from {source}"
        )
        return result.rowcount

    def drop_staged(self, conn: Connection, keys: list[str]) -> None:  # noqa: B027 (see stage)
        """Free what `stage` held (by default nothing)."""

    def upgrade(self, s: Session) -> None:  # noqa: B027 (optional hook)
        """Inside a transaction, after the output tables are created: rebuild any that an earlier
        version of the job stored differently in this dialect (by default nothing)."""

    def before_work(self, conn: Connection) -> None:  # noqa: B027 (optional hook)
        """In the transaction of a work-table statement, before it runs: settings for large
        generated statements (by default nothing)."""

    def written(self, conn: Connection, table: str) -> None:  # noqa: B027 (optional hook)
        """A work table was just created from a query: tell the planner what it holds (by
        default nothing)."""

    def quote(self, identifier: str) -> str:
        return self.engine.dialect.identifier_preparer.quote(identifier)

    # ---- SQL the warehouse compute path generates (leadscore.sqlgen); portable by default
    @abc.abstractmethod
    def sql_float(self, value: float) -> str:
        """A literal that is exactly this double."""

    @abc.abstractmethod
    def sql_date(self, day: dt.date) -> str:
        """A date literal."""

    @abc.abstractmethod
    def sql_timestamp(self, moment: dt.datetime) -> str:
        """A timestamp literal (naive UTC), comparable with the tables' timestamps."""

    @abc.abstractmethod
    def sql_seconds_between(self, later: str, earlier: str) -> str:
        """Whole seconds from `earlier` to `later` (timestamps), truncated toward zero."""

    @abc.abstractmethod
    def sql_days_between(self, later: str, earlier: str) -> str:
        """Days from date `earlier` to date `later`, an integer."""

    @abc.abstractmethod
    def sql_matches(self, text: str, pattern: str) -> str:
        """Whether `text` matches the regular expression `pattern` (a SQL string literal of a
        pattern in Python syntax) anywhere."""

    @abc.abstractmethod
    def sql_position(self, text: str, part: str) -> str:
        """Where `part` first starts in `text`, counted from 1; 0 where it does not occur."""

    @abc.abstractmethod
    def sql_without_whitespace(self, text: str) -> str:
        """`text` with every whitespace character removed."""

    @abc.abstractmethod
    def sql_day(self, moment: str) -> str:
        """The UTC date of a timestamp."""

    @abc.abstractmethod
    def sql_month_start(self, moment: str) -> str:
        """The first day of the UTC month of a timestamp, a date."""

    def sql_strip(self, text: str) -> str:
        return f"trim({text})"

    def sql_lower(self, text: str) -> str:
        return f"lower({text})"

    def sql_upper(self, text: str) -> str:
        return f"upper({text})"

    def sql_greatest(self, a: str, b: str) -> str:
        return f"greatest({a}, {b})"

    def sql_bool(self, value: bool) -> str:
        return "true" if value else "false"

    def sql_generated(self, statement: str) -> str:
        """A generated statement as this dialect runs it. Both dialects here take it as is; an
        engine without `with ... as materialized` (it plans CTEs itself) would drop the word."""
        return statement

    def sql_integer(self, number: str) -> str:
        """A number truncated toward zero, as an integer (Python's int())."""
        return f"cast(trunc({number}) as bigint)"

    def sql_binary(self, text: str) -> str:
        """Text that sorts by its bytes (as polars sorts strings), whatever the collation."""
        return text


# Rows become a frame this many at a time: Python holds one chunk of row tuples, never the whole
# result (15M rows of four columns as tuples: ~6 GB; as frames: ~0.4 GB).
READ_CHUNK_ROWS = 250_000
# ... or fewer, when a bulk reader's batches of a wide result (the training sample's 65 columns)
# hold this many bytes.
READ_CHUNK_BYTES = 16 * 2**20
# A bulk read's parts are put together this many at a time (`frame_of_batches`): a frame of up to
# 2M rows is one chunk a column, the 15M-row roll-up eight (in its parts, up to 2M rows more).
GATHER_PARTS = 8
# Frames are written this many rows at a time: the values as the warehouse takes them (text,
# CSV) are made for one chunk, never for the whole frame (a first night's 15M daily rows).
WRITE_CHUNK_ROWS = 1_000_000


def result_to_frame(result: sa.CursorResult[Any], schema: Schema | None = None) -> pl.DataFrame:
    """A query's rows as one frame, built chunk by chunk and cast to `schema`.

    A column that is text in one chunk and numbers in another (mixed values on SQLite) becomes
    text in all, as it would have read in one piece.
    """
    columns = list(result.keys())
    frames = [rows_to_frame(columns, rows, schema) for rows in result.partitions(READ_CHUNK_ROWS)]
    if not frames:
        return rows_to_frame(columns, [], schema)
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical_relaxed")
