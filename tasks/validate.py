"""Validate: Great Expectations suites over the night's inputs; an error stops the night.

The CRM tables arrive as polars frames and are handed to GX as pandas (GX cannot read polars:
this is the one place the job converts). The event tables are too large to pull: GX checks
them in the warehouse through SQL assets, over the rows of the night's window only.

`great_expectations` is imported inside the functions that run it: the import costs seconds,
and every other command of the CLI should not pay for it.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from leadscore.contract import ALLOWED_VALUES, EVENT_TABLES, KEYS, SOURCE_COLUMNS, TIME_COLUMNS
from leadscore.errors import Failure



@dataclass
class Report:
    """What validation ran and found; stored in pipeline_runs and shown in the artifact."""

    expectations: int = 0
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def errors(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == "error"]

    @property
    def warnings(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == "warning"]

    def merge(self, other: Report) -> Report:
        return Report(self.expectations + other.expectations, self.failures + other.failures,
                      self.seconds + other.seconds)

    def summary(self) -> dict[str, Any]:
        return {
            "expectations": self.expectations,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "seconds": round(self.seconds, 2),
            "failures": [f.as_dict() for f in self.failures],
        }


def _expectations(table: str, columns: list[str], now: dt.datetime) -> list[Any]:
    import great_expectations.expectations as gxe

    expected = list(SOURCE_COLUMNS[table])
    out: list[Any] = [gxe.ExpectTableColumnsToMatchSet(column_set=expected, exact_match=False,
                                                      meta={"rule": "expected columns present"})]
    present = set(columns)
    key = KEYS.get(table)
    if key in present:
        out += [gxe.ExpectColumnValuesToNotBeNull(column=key, meta={"rule": "key not null"}),
                gxe.ExpectColumnValuesToBeUnique(column=key, meta={"rule": "key unique"})]
    time_col = TIME_COLUMNS.get(table)
    if time_col in present:
        out += [gxe.ExpectColumnValuesToNotBeNull(column=time_col, meta={"rule": "time not null"}),
                gxe.ExpectColumnMaxToBeBetween(column=time_col, max_value=now, strict_max=False,
                                               meta={"rule": "no time after the real present"})]
    for (t, column), allowed in ALLOWED_VALUES.items():
        if t == table and column in present:
            out.append(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=allowed,
                                                       meta={"rule": "allowed values"}))
    return out


def _failures(table: str, results: Any) -> tuple[int, list[Failure]]:
    failures = []
    for result in results.results:
        if result.success:
            continue
        config = result.expectation_config
        kwargs = config.kwargs
        detail = result.result or {}
        column = kwargs.get("column")
        observed = detail.get("observed_value")
        examples = detail.get("partial_unexpected_list") or []
        rule = (config.meta or {}).get("rule", config.type)
        if config.type == "expect_table_columns_to_match_set":
            missing = sorted(set(kwargs["column_set"]) - set(observed or []))
            for name in missing:
                failures.append(Failure(table, name, "missing column", observed=f"columns: {', '.join(observed or [])}"))
            continue
        if config.type == "expect_column_values_to_be_unique":
            observed = f"{detail.get('unexpected_count')} duplicated values"
        elif "unexpected_count" in detail:
            observed = f"{detail.get('unexpected_count')} rows"
        if result.exception_info and result.exception_info.get("raised_exception"):
            observed = str(result.exception_info.get("exception_message", ""))[:200]
        failures.append(Failure(table, column, rule, observed=observed, examples=list(examples)[:5]))
    return len(results.results), failures


def gx_context() -> Any:
    """An in-memory GX context that draws no progress bars (a nightly log does not want them)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def validate_frames(tables: dict[str, pl.DataFrame], now: dt.datetime) -> Report:
    """Run each CRM table's suite on its frame (converted to pandas here, and only here)."""
    import great_expectations as gx

    start = time.perf_counter()
    context = gx_context()
    source = context.data_sources.add_pandas("crm")
    report = Report()
    for table, frame in tables.items():
        batch_definition = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("night")
        suite = gx.ExpectationSuite(name=table, expectations=_expectations(table, frame.columns, now))
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame.to_pandas()})
        count, failures = _failures(table, batch.validate(suite))
        report = report.merge(Report(count, failures))
    report.seconds = time.perf_counter() - start
    return report


def validate_events(url: str, columns: dict[str, list[str]], window_start: dt.date, run_date: dt.date,
                    now: dt.datetime, freshness_hours: int) -> Report:
    """Check the event tables in the warehouse: columns, and keys and times of the night's rows."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    start = time.perf_counter()
    report = Report()
    # Column names are checked without GX: a missing one would make every SQL check below fail.
    for table in EVENT_TABLES:
        expected = list(SOURCE_COLUMNS[table])
        report.expectations += 1
        for name in expected:
            if name not in columns[table]:
                report.failures.append(Failure(table, name, "missing column",
                                               observed=f"columns: {', '.join(columns[table])}"))
    if report.errors:
        report.seconds = time.perf_counter() - start
        return report

    context = gx_context()
    if url.startswith("sqlite"):
        source = context.data_sources.add_sqlite("warehouse", connection_string=url)
    else:
        source = context.data_sources.add_postgres("warehouse", connection_string=url)
    end = run_date + dt.timedelta(days=1)
    fresh_after = dt.datetime.combine(end, dt.time()) - dt.timedelta(hours=freshness_hours)
    for table, name_column in EVENT_TABLES.items():
        owner = "user_id" if table == "product_events" else "lead_id"
        # The window bounds are dates the job computed, never user input: safe to inline, and GX
        # query assets take no bind parameters.
        query = (f"select event_id, {owner}, {name_column}, occurred_at from {table} "
                 f"where (occurred_at >= '{window_start.isoformat()}' and occurred_at < '{end.isoformat()}') "
                 f"or occurred_at is null")
        window = source.add_query_asset(f"{table}_window", query=query).add_batch_definition_whole_table("night")
        suite = gx.ExpectationSuite(name=f"{table}_window", expectations=[
            gxe.ExpectColumnValuesToNotBeNull(column="occurred_at", meta={"rule": "time not null"}),
            gxe.ExpectColumnValuesToNotBeNull(column="event_id", meta={"rule": "key not null"}),
            gxe.ExpectColumnValuesToBeUnique(column="event_id", meta={"rule": "key unique"}),
            gxe.ExpectColumnValuesToNotBeNull(column=owner, meta={"rule": "reference not null"}),
        ])
        count, failures = _failures(table, window.get_batch().validate(suite))
        report = report.merge(Report(count, failures))
        newest = source.add_query_asset(
            f"{table}_newest",
            query=f"select max(occurred_at) as newest, count(*) as n from {table} where occurred_at < '{end.isoformat()}'",
        ).add_batch_definition_whole_table("night")
        future = source.add_query_asset(
            f"{table}_future", query=f"select count(*) as n from {table} where occurred_at > '{_ts(now)}'",
        ).add_batch_definition_whole_table("night")
        count_newest, newest_failures = _failures(table, newest.get_batch().validate(gx.ExpectationSuite(
            name=f"{table}_newest", expectations=[
                gxe.ExpectColumnValuesToBeBetween(column="newest", min_value=_ts(fresh_after),
                                                  meta={"rule": f"freshness: newest event within {freshness_hours}h "
                                                                f"of the end of {run_date}"}),
                gxe.ExpectColumnValuesToNotBeNull(column="newest", meta={"rule": "freshness: no events at all"}),
            ])))
        count_future, future_failures = _failures(table, future.get_batch().validate(gx.ExpectationSuite(
            name=f"{table}_future", expectations=[
                gxe.ExpectColumnValuesToBeBetween(column="n", max_value=0,
                                                  meta={"rule": "no time after the real present"}),
            ])))
        for f in newest_failures + future_failures:
            f.column = "occurred_at"
        report = report.merge(Report(count_newest + count_future, newest_failures + future_failures))
    report.seconds = time.perf_counter() - start
    return report


def _ts(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def check_types(tables: dict[str, pl.DataFrame], raw: dict[str, pl.DataFrame]) -> Report:
    """Values the contract's types could not hold (text in employee_count): nulls that appeared in casting."""
    report = Report()
    for table, frame in tables.items():
        for column, kind in SOURCE_COLUMNS[table].items():
            if column not in frame.columns or kind == pl.String:
                continue
            report.expectations += 1
            lost = raw[table][column].is_not_null() & frame[column].is_null()
            if lost.any():
                examples = raw[table].filter(lost)[column].head(3).cast(pl.String).to_list()
                report.failures.append(Failure(table, column, f"values are not {kind}",
                                               observed=f"{int(lost.sum())} rows", examples=examples))
    return report
