"""Rows as the database returns them, into polars frames of the job's types (no database here)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

Schema = dict[str, pl.DataType]


def rows_to_frame(
    columns: list[str], rows: Sequence[Sequence[Any]], schema: Schema | None = None
) -> pl.DataFrame:
    """The rows of one query as a frame, cast to `schema` where it names a column."""
    if rows:
        try:
            frame = pl.DataFrame(rows, schema=columns, orient="row", infer_schema_length=None)
        except (TypeError, pl.exceptions.PolarsError):
            frame = pl.DataFrame([_series(c, [r[i] for r in rows]) for i, c in enumerate(columns)])
    else:
        frame = pl.DataFrame(
            {c: pl.Series(c, [], dtype=(schema or {}).get(c, pl.String)) for c in columns}
        )
    return coerce(frame, schema or {})


def empty(schema: Schema) -> pl.DataFrame:
    """A frame with no rows and the columns of `schema` (timestamps in microseconds, as read)."""
    return pl.DataFrame(
        schema={c: (pl.Datetime("us") if t == pl.Datetime else t) for c, t in schema.items()}
    )


def _series(name: str, values: list[Any]) -> pl.Series:
    """A column as read; one of mixed types (text in an integer column on SQLite) stays text,
    so that validation sees the bad values instead of nulls."""
    try:
        return pl.Series(name, values)
    except (TypeError, pl.exceptions.PolarsError):
        return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)


def coerce(frame: pl.DataFrame, schema: Schema) -> pl.DataFrame:
    """Cast columns to the job's types: timestamps to naive UTC, dates, booleans, numbers."""
    exprs = []
    # Timestamps stored as text are parsed as the usual "YYYY-MM-DD HH:MM:SS" first, a fifth of
    # the cost of every form `_parse_timestamp` reads; a column with any other form is parsed
    # again in full.
    plain: list[str] = []
    for name, kind in schema.items():
        if name not in frame.columns:
            continue
        col = pl.col(name)
        current = frame.schema[name]
        if kind == pl.Datetime:
            if isinstance(current, pl.Datetime):
                expr = (
                    col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
                    if current.time_zone
                    else col
                )
                expr = expr.dt.cast_time_unit("us")
            elif current == pl.String:
                expr = col.str.to_datetime(PLAIN_TIME, time_unit="us", strict=False)
                plain.append(name)
            else:
                expr = _parse_timestamp(col.cast(pl.String))
        elif kind == pl.Date:
            expr = (
                col.cast(pl.Date)
                if current in (pl.Date, pl.Datetime)
                else _parse_date(col.cast(pl.String))
            )
        elif kind == pl.Boolean and current != pl.Boolean:
            expr = col.cast(pl.Int64, strict=False).cast(pl.Boolean)
        else:
            expr = col.cast(kind, strict=False)
        exprs.append(expr.alias(name))
    if not exprs:
        return frame
    out = frame.with_columns(exprs)
    other_forms = [
        name for name in plain if (frame[name].is_not_null() & out[name].is_null()).any()
    ]
    if other_forms:
        again = frame.select(_parse_timestamp(pl.col(name)) for name in other_forms)
        out = out.with_columns(again.get_columns())
    return out


PLAIN_TIME = "%Y-%m-%d %H:%M:%S"


def _parse_timestamp(col: pl.Expr) -> pl.Expr:
    # SQLite text: "YYYY-MM-DD HH:MM:SS[.ffffff][+00:00]" or with a "T"; all read as UTC.
    # A UTC offset after the time ("+00:00", "+0000", "+00" as PostgreSQL writes it) is dropped.
    offset = r"(\d:\d\d(?:\.\d+)?)(?:Z|[+-]\d\d(?::?\d\d)?)$"
    text = col.str.replace("T", " ").str.replace(offset, "${1}")
    return text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", strict=False).fill_null(
        text.str.to_datetime("%Y-%m-%d", time_unit="us", strict=False)
    )


def _parse_date(col: pl.Expr) -> pl.Expr:
    # A date stored as text, or the date part of a timestamp stored as text.
    return col.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
