"""Validate: Great Expectations suites over the night's inputs and outputs.

An error stops the night before anything is published; a warning sets the offending rows aside
in `quarantine_rows` and the night goes on without them (rules and thresholds:
`leadscore/validation.toml`).

Entry points: `check_sources` (the night's inputs, before anything is computed from them) and
`check_output` (tonight's scores and routing, before they are published). Both run in the night's
`Runner`, which keeps what they found for pipeline_runs and builds the night's Data Docs.

Every table is checked the same way: where its rows are, one pass counts the rows that break
each rule, and GX checks that one row of counts. The CRM tables arrive as polars frames and
polars counts (`frame_facts`); the event tables are too large to pull, and the warehouse counts
the night's window. GX reads the row as pandas (it cannot read polars: the one place the job
converts).

`great_expectations` is imported inside the functions that run it: the import costs seconds,
and the rest of the CLI should not pay for it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from leadscore import memory
from leadscore.contract import (
    ALLOWED_VALUES,
    EMAIL_RE,
    EVENT_TABLES,
    KEYS,
    KNOWN_EVENTS,
    SOURCE_COLUMNS,
    TIME_COLUMNS,
    email_key,
)
from leadscore.errors import Failure, LeadscoreError, ValidationFailed
from leadscore.prefetch import Prefetch
from leadscore.settings import Settings, read_toml
from leadscore.tasks.extract import Sources
from leadscore.warehouse import Warehouse, coerce

# The event tables' newest and oldest times, as naive UTC whatever the dialect returns.
TIMES = {"newest": pl.Datetime, "oldest": pl.Datetime}
QUARANTINE_SCHEMA = {
    "source_table": pl.String,
    "row_key": pl.String,
    "rule": pl.String,
    "row_data": pl.String,
}


@dataclass(frozen=True)
class Rules:
    """Thresholds and severities, from the validation file."""

    thresholds: dict[str, Any]
    null_rate_max: dict[str, float]
    severities: dict[str, str]

    def severity(self, rule: str) -> str:
        return self.severities.get(rule, "error")

    def on(self, rule: str) -> bool:
        return self.severity(rule) != "off"


def load_rules(path: Path) -> Rules:
    data = read_toml(path, "validation")
    severities = data.get("severity", {})
    bad = {k: v for k, v in severities.items() if v not in {"error", "warning", "off"}}
    if bad:
        raise LeadscoreError(
            f"validation file {path}: severity must be error, warning or off: {bad}"
        )
    thresholds = data.get("thresholds", {})
    for key in (
        "reference_match_min",
        "well_formed_email_min",
        "oldest",
        "volume_drop_max",
        "freshness_hours",
    ):
        if key not in thresholds:
            raise LeadscoreError(f"validation file {path}: [thresholds] has no {key}")
    return Rules(thresholds, data.get("null_rate_max", {}), severities)


@dataclass
class Report:
    """What validation ran and found; stored in pipeline_runs and shown in the artifact."""

    expectations: int = 0
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    quarantine: list[pl.DataFrame] = field(default_factory=list)
    docs: str | None = None

    @property
    def errors(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == "error"]

    @property
    def warnings(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == "warning"]

    def merge(self, other: Report) -> Report:
        return Report(
            self.expectations + other.expectations,
            self.failures + other.failures,
            self.seconds + other.seconds,
            self.quarantine + other.quarantine,
            self.docs or other.docs,
        )

    def quarantined(self) -> pl.DataFrame:
        frames = [f.select(list(QUARANTINE_SCHEMA)) for f in self.quarantine if f.height]
        return pl.concat(frames) if frames else pl.DataFrame(schema=QUARANTINE_SCHEMA)

    def summary(self) -> dict[str, Any]:
        return {
            "expectations": self.expectations,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "quarantined_rows": sum(f.height for f in self.quarantine),
            "seconds": round(self.seconds, 2),
            "data_docs": self.docs,
            "failures": [f.as_dict() for f in self.failures],
        }


class Runner:
    """A GX context for one night: every suite of the night runs here, and the night's Data Docs
    are built once, from all of them, when the night ends (`build_docs`).

    Building the docs after each checkpoint re-rendered every earlier page each time: most of a
    small night's validation time. A step that is retried adds its sources and suites again
    under the same names, replacing the first attempt's.
    """

    def __init__(self, docs_dir: str | None):
        import great_expectations as gx

        # What each check of the night found, by check: a retried step replaces its own.
        self.found: dict[str, Report] = {}
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        # GX draws a progress bar per metric; a nightly log does not want them.
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.docs_dir = docs_dir
        if docs_dir:
            self.context.add_data_docs_site(
                "night",
                {
                    "class_name": "SiteBuilder",
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": docs_dir,
                    },
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )

    def data_source(self, kind: str, name: str, **options: Any) -> Any:
        """A data source of this night (`kind`: pandas, sqlite, postgres), new or replacing one of
        that name."""
        if name in self.context.data_sources.all():
            self.context.data_sources.delete(name)
        return getattr(self.context.data_sources, f"add_{kind}")(name, **options)

    def run(
        self,
        name: str,
        batch_definition: Any,
        expectations: list[Any],
        batch_parameters: dict | None,
        table: str,
        rules: Rules,
    ) -> Report:
        gx = self.gx
        for store, key in (
            (self.context.checkpoints, f"{name}_checkpoint"),
            (self.context.validation_definitions, name),
            (self.context.suites, name),
        ):
            with contextlib.suppress(Exception):  # not there yet: the usual case
                store.delete(key)
        suite = self.context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(data=batch_definition, suite=suite, name=name)
        )
        checkpoint = self.context.checkpoints.add(
            gx.Checkpoint(
                name=f"{name}_checkpoint",
                validation_definitions=[definition],
                actions=[],
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
            )
        )
        try:
            result = checkpoint.run(batch_parameters=batch_parameters)
        finally:
            self.forget_batches(batch_definition.data_asset.datasource.name)
        report = Report()
        for validation in result.run_results.values():
            count, failures = _failures(table, validation, rules)
            report = report.merge(Report(count, failures))
        return report

    def forget_batches(self, source: str) -> None:
        """Drop the batches and metrics GX keeps of the checkpoints run on data source `source`.

        A data source's execution engine keeps every batch it loaded (for a pandas source, the
        frame itself) and the metrics computed on it, and GX keeps its context for the life of
        the process: at a million leads the night's CRM tables, as pandas frames, stayed in
        memory all night (~0.2 GB). The docs are built from the results, not from the batches.
        """
        engine = self.context.data_sources.all()[source].get_execution_engine()
        engine.batch_manager.reset_batch_cache()
        engine.batch_manager.batch_data_cache.clear()
        if isinstance(getattr(engine, "_metric_cache", None), dict):
            engine._metric_cache.clear()

    def keep(self, check: str, report: Report) -> Report:
        """Keep what `check` found tonight (replacing an earlier attempt's); returns `report`."""
        self.found[check] = report
        return report

    @property
    def report(self) -> Report:
        """Everything the night's checks found so far."""
        merged = Report(docs=self.index)
        for report in self.found.values():
            merged = merged.merge(report)
        return merged

    def build_docs(self) -> str | None:
        """Write the night's Data Docs (every suite run so far); their index page, or None.

        Docs are a diagnosis aid: failing to write them is logged, never a reason to stop a night.
        """
        if not self.docs_dir:
            return None
        try:
            self.context.build_data_docs(site_names=["night"])
        except Exception as exc:  # noqa: BLE001 (a full disk or read-only folder must not fail the night)
            logging.getLogger(__name__).warning(
                "Data Docs not written to %s: %s", self.docs_dir, exc
            )
            return None
        return self.index

    @property
    def index(self) -> str | None:
        return str(Path(self.docs_dir) / "index.html") if self.docs_dir else None


def _failures(table: str, results: Any, rules: Rules) -> tuple[int, list[Failure]]:
    failures = []
    for result in results.results:
        if result.success:
            continue
        config = result.expectation_config
        kwargs, detail = config.kwargs, result.result or {}
        column = (config.meta or {}).get("column", kwargs.get("column"))
        observed = detail.get("observed_value")
        rule = (config.meta or {}).get("rule", config.type)
        severity = rules.severity(rule)
        if config.type == "expect_table_columns_to_match_set":
            for name in sorted(set(kwargs["column_set"]) - set(observed or [])):
                failures.append(
                    Failure(
                        table,
                        name,
                        "missing column",
                        severity=severity,
                        observed=f"columns: {', '.join(observed or [])}",
                    )
                )
            continue
        if (config.meta or {}).get("counts"):
            # A check on a one-row aggregate: what was seen is the aggregate's value, or what
            # the check that made the aggregate says it counted.
            values = detail.get("partial_unexpected_list") or []
            observed = config.meta.get("observed") or (
                f"{config.meta['counts']} = {values[0]}" if values else observed
            )
            detail = {}
        elif "unexpected_percent" in detail and detail.get("unexpected_count") is not None:
            observed = f"{detail['unexpected_count']} rows ({detail['unexpected_percent']:.1f}%)"
        if result.exception_info and result.exception_info.get("raised_exception"):
            observed = str(result.exception_info.get("exception_message", ""))[:200]
        examples = (
            (config.meta or {}).get("examples") or detail.get("partial_unexpected_list") or []
        )
        failures.append(
            Failure(
                table,
                column,
                rule,
                observed=observed,
                severity=severity,
                examples=list(examples)[:5],
            )
        )
    return len(results.results), failures


def check_sources(
    wh: Warehouse,
    sources: Sources,
    run_date: dt.date,
    settings: Settings,
    runner: Runner,
    keep: tuple[str, ...] | None = None,
) -> dict[str, pl.DataFrame]:
    """Check the night's inputs; the CRM tables typed, without the rows warnings set aside (only
    the tables in `keep`, when given: the others are let go once checked).

    Raises ValidationFailed (nothing is published) when an error-level check fails.
    """
    rules = load_rules(settings.validation_path)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    types = [Report()]
    kept: dict[str, pl.DataFrame] = {}

    def typed() -> Iterator[tuple[str, pl.DataFrame]]:
        # One table at a time: read, typed, checked, then only kept if asked for. When every
        # table is kept (a local night), the next table is read while this one is checked: the
        # reading waits on the warehouse, the checking on Python.
        ahead = keep is None
        reads = iter(sources.tables)
        following = next(reads, None)
        upcoming = Prefetch(sources.read, following) if ahead and following else None
        while following is not None:
            table, following = following, next(reads, None)
            # A table let go once checked stays in the reader's parts (not copied into one).
            whole = keep is None or table in keep
            raw = upcoming.result() if upcoming is not None else sources.read(table, whole)
            upcoming = Prefetch(sources.read, following) if ahead and following else None
            frame = coerce(raw, SOURCE_COLUMNS[table])
            types.append(check_types({table: frame}, {table: raw}))
            del raw
            if keep is None or table in keep:
                kept[table] = frame
            yield table, frame
            del frame
            memory.release()

    frames = validate_frames(typed(), now, rules, runner)
    report = functools.reduce(Report.merge, types).merge(frames)
    report = report.merge(
        validate_events(
            wh,
            sources.event_columns,
            run_date,
            now,
            rules,
            runner,
            settings.late_event_days,
            sources.enforced_keys,
        )
    )
    runner.keep("inputs", report)
    if report.errors:
        raise ValidationFailed(report.errors, report.summary())
    return drop_quarantined(kept, report.quarantined())


def check_output(
    scores: pl.DataFrame | str,
    routing: pl.DataFrame,
    scorable: int,
    settings: Settings,
    runner: Runner,
    wh: Warehouse | None = None,
) -> Report:
    """Check tonight's scores (a frame, or a work table of `wh`) and routing before they are
    published; raises ValidationFailed."""
    facts = output_facts(scores) if isinstance(scores, pl.DataFrame) else stored_facts(wh, scores)
    report = runner.keep(
        "output",
        validate_output(facts, scorable, routing, load_rules(settings.validation_path), runner),
    )
    if report.errors:
        raise ValidationFailed(report.errors, report.summary())
    return report


# ---- the CRM tables, as frames


@dataclass(frozen=True)
class FrameCheck:
    """One rule on one CRM table: which rows break it, counted by polars in one pass.

    `bad` is true on a row that breaks the rule and null on a row the rule does not count (a
    reference check does not count a row that gives no reference). `mostly`: the share of the
    counted rows that must pass (None: every one must).
    """

    rule: str
    column: str
    bad: pl.Expr
    mostly: float | None = None
    # For a rule whose verdict on a row depends on the other rows (a repeated key): an aggregate
    # true when no row can break it, which costs far less than marking each row (a million keys'
    # distinct count: ~1 MB; each row's repeats: ~190 MB). When it holds, no row is bad and the
    # rule counts the rows where `column` is given.
    clean: pl.Expr | None = None


# Rows a slice when the CRM tables' rules are counted (`frame_facts`).
FACT_ROWS = 250_000

# The references a CRM table's rows make to the table checked before it: column -> table.
REFERENCES = {
    "crm_leads": {"account_id": "crm_accounts"},
    "crm_opportunities": {"lead_id": "crm_leads"},
}


def frame_checks(
    table: str,
    columns: Iterable[str],
    now: dt.datetime,
    rules: Rules,
    keys: Mapping[str, pl.DataFrame],
) -> list[FrameCheck]:
    """The rules `table` is held to, on the columns it has (`keys`: the key column of each table
    checked before it, for the reference checks)."""
    present = set(columns)
    col = pl.col

    def counted_if_given(column: str, bad: pl.Expr) -> pl.Expr:
        return pl.when(col(column).is_null()).then(None).otherwise(bad)

    checks: list[FrameCheck] = []
    key = KEYS.get(table)
    if key in present:
        checks += [
            FrameCheck("key not null", key, col(key).is_null()),
            FrameCheck(
                "key unique",
                key,
                counted_if_given(key, col(key).is_duplicated()),
                clean=col(key).drop_nulls().n_unique() == col(key).count(),
            ),
        ]
    time_col = TIME_COLUMNS.get(table)
    if time_col in present:
        oldest = dt.datetime.fromisoformat(str(rules.thresholds["oldest"]))
        checks += [
            FrameCheck("time not null", time_col, col(time_col).is_null()),
            FrameCheck("no time after the real present", time_col, col(time_col) > now),
            FrameCheck(f"no time before {oldest.date()}", time_col, col(time_col) < oldest),
        ]
    for (t, column), allowed in ALLOWED_VALUES.items():
        if t == table and column in present:
            checks.append(
                FrameCheck(
                    "allowed values",
                    column,
                    counted_if_given(column, ~col(column).cast(pl.String).is_in(allowed)),
                )
            )
    match = float(rules.thresholds["reference_match_min"])
    for column, parent in REFERENCES.get(table, {}).items():
        if column in present and parent in keys:
            found = col(column).is_in(keys[parent].to_series().implode())
            checks.append(
                FrameCheck("reference match rate", column, counted_if_given(column, ~found), match)
            )
    if table == "crm_leads" and "email" in present:
        well_formed = email_key(col("email")).str.contains(EMAIL_RE)
        checks.append(
            FrameCheck(
                "share of well-formed emails",
                "email",
                counted_if_given("email", ~well_formed),
                float(rules.thresholds["well_formed_email_min"]),
            )
        )
    for name, limit in rules.null_rate_max.items():
        t, column = name.split(".")
        if t == table and column in present:
            checks.append(
                FrameCheck(
                    f"null rate above {limit:.0%}", column, col(column).is_null(), 1 - float(limit)
                )
            )
    return [c for c in checks if rules.on(c.rule)]


def frame_facts(frame: pl.DataFrame, checks: list[FrameCheck]) -> pl.DataFrame:
    """One row: for check i, `bad_i` (the rows breaking it), `counted_i` (the rows it counts) and
    `passing_i` (the share of counted rows that pass; 1.0 when none is counted). GX then checks
    this row, not the table.

    polars counts the rows `FACT_ROWS` at a time, every check in one pass over each slice, and
    adds the counts up: what a check builds for its rows (each e-mail's normalized text) is held
    for one slice, not for the table (at a million leads all at once cost ~0.3 GB more than the
    table, the peak of the warehouse night's process). A check that needs the whole column (a
    repeated key) is counted on it, and marks its rows only where its `clean` test fails."""
    bad = dict.fromkeys(range(len(checks)), 0)
    counted = dict.fromkeys(range(len(checks)), 0)

    def count(rows: pl.DataFrame, which: list[int]) -> None:
        if not which:
            return
        got = rows.select(
            *(checks[i].bad.cast(pl.Int64).sum().alias(f"bad_{i}") for i in which),
            *(checks[i].bad.is_not_null().sum().alias(f"counted_{i}") for i in which),
        ).row(0, named=True)
        for i in which:
            bad[i] += got[f"bad_{i}"] or 0
            counted[i] += got[f"counted_{i}"] or 0

    whole, sliced = [], []
    for i, check in enumerate(checks):
        if check.clean is None:
            sliced.append(i)
        elif frame.select(check.clean).item():
            counted[i] = frame.get_column(check.column).count()
        else:
            whole.append(i)
    count(frame, whole)
    for offset in range(0, frame.height, FACT_ROWS):
        count(frame.slice(offset, FACT_ROWS), sliced)
    counts = pl.DataFrame(
        [pl.Series(f"bad_{i}", [n], pl.Int64) for i, n in bad.items()]
        + [pl.Series(f"counted_{i}", [n], pl.Int64) for i, n in counted.items()]
    )
    return counts.with_columns(
        pl.when(pl.col(f"counted_{i}") > 0)
        .then(1 - pl.col(f"bad_{i}") / pl.col(f"counted_{i}"))
        .otherwise(1.0)
        .alias(f"passing_{i}")
        for i in range(len(checks))
    )


def fact_expectations(
    facts: pl.DataFrame, frame: pl.DataFrame, checks: list[FrameCheck]
) -> list[Any]:
    """GX's expectations on `frame_facts`' row; a broken check's meta carries what was seen (the
    rows, as GX would count them) and a few offending values, taken from `frame`."""
    import great_expectations.expectations as gxe

    out = []
    for i, check in enumerate(checks):
        bad, counted = facts[f"bad_{i}"][0], facts[f"counted_{i}"][0]
        meta: dict[str, Any] = {"rule": check.rule, "column": check.column}
        if bad:
            meta["observed"] = f"{bad} rows ({100 * bad / counted:.1f}%)"
            offending = frame.filter(check.bad).get_column(check.column)
            # As text where not plain (a time): the meta is stored with the suite, as JSON.
            if not offending.dtype.is_numeric() and offending.dtype != pl.Boolean:
                offending = offending.cast(pl.String)
            meta["examples"] = offending.unique(maintain_order=True).head(5).to_list()
        if check.mostly is None:
            out.append(
                gxe.ExpectColumnValuesToBeBetween(
                    column=f"bad_{i}", max_value=0, meta={**meta, "counts": f"bad_{i}"}
                )
            )
        else:
            out.append(
                gxe.ExpectColumnValuesToBeBetween(
                    column=f"passing_{i}",
                    min_value=check.mostly,
                    meta={**meta, "counts": f"passing_{i}"},
                )
            )
    return out


def missing_columns(table: str, columns: list[str], severity: str = "error") -> Report:
    """The contract's columns `table` lacks, checked without GX (the CRM tables' other rules run
    on the columns there are; the event tables' SQL checks cannot run without them)."""
    report = Report(expectations=1)
    for name in SOURCE_COLUMNS[table]:
        if name not in columns:
            report.failures.append(
                Failure(
                    table,
                    name,
                    "missing column",
                    observed=f"columns: {', '.join(columns)}",
                    severity=severity,
                )
            )
    return report


def validate_frames(
    tables: Mapping[str, pl.DataFrame] | Iterable[tuple[str, pl.DataFrame]],
    now: dt.datetime,
    rules: Rules,
    runner: Runner,
) -> Report:
    """Run each CRM table's suite.

    polars counts, in one pass over a table, the rows that break each rule (`frame_facts`); GX
    checks that one row, as it checks the event tables' counts made by the warehouse. Handing GX
    the tables themselves (as pandas) took 10-15 s and ~0.3 GB more at a million leads, every
    night; this takes well under a second.

    `tables`: every CRM table, or (table, frame) pairs produced one at a time in `FRAME_TABLES`
    order; a reference check then reads the key column of the table checked before it (accounts
    before leads, leads before opportunities), and only that column is held.
    """
    start = time.perf_counter()
    source = runner.data_source("pandas", "crm")
    report = Report(docs=runner.index)
    if isinstance(tables, Mapping):
        keys = {t: f.select(KEYS[t]) for t, f in tables.items() if KEYS.get(t) in f.columns}
        pairs: Iterable[tuple[str, pl.DataFrame]] = tables.items()
    else:
        keys, pairs = {}, tables
    for table, frame in pairs:
        if KEYS.get(table) in frame.columns:
            keys.setdefault(table, frame.select(KEYS[table]))
        if rules.on("missing column"):
            report = report.merge(
                missing_columns(table, frame.columns, rules.severity("missing column"))
            )
        checks = frame_checks(table, frame.columns, now, rules, keys)
        facts = frame_facts(frame, checks)
        batch_definition = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe(
            "night"
        )
        report = report.merge(
            runner.run(
                table,
                batch_definition,
                fact_expectations(facts, frame, checks),
                {"dataframe": facts.to_pandas()},
                table,
                rules,
            )
        )
        if (
            table == "crm_opportunities"
            and "lead_id" in frame.columns
            and "crm_leads" in keys
            and rules.on("orphan reference")
        ):
            leads = keys["crm_leads"].to_series().implode()
            orphans = frame.filter(
                pl.col("lead_id").is_not_null() & ~pl.col("lead_id").is_in(leads)
            )
            if orphans.height:
                report.failures.append(
                    Failure(
                        table,
                        "lead_id",
                        "orphan reference",
                        severity=rules.severity("orphan reference"),
                        observed=f"{orphans.height} rows",
                        examples=orphans["lead_id"].head(3).to_list(),
                    )
                )
                if rules.severity("orphan reference") == "warning":
                    report.quarantine.append(quarantine_frame(orphans, table, "orphan reference"))
    report.seconds = time.perf_counter() - start
    return report


def quarantine_frame(rows: pl.DataFrame, table: str, rule: str) -> pl.DataFrame:
    key = KEYS.get(table)
    return rows.select(
        pl.lit(table).alias("source_table"),
        (
            pl.col(key).cast(pl.String) if key in rows.columns else pl.lit(None, dtype=pl.String)
        ).alias("row_key"),
        pl.lit(rule).alias("rule"),
        pl.struct(pl.all()).struct.json_encode().alias("row_data"),
    )


def drop_quarantined(
    tables: dict[str, pl.DataFrame], quarantined: pl.DataFrame
) -> dict[str, pl.DataFrame]:
    """The night goes on without the rows set aside."""
    out = dict(tables)
    for (table,), rows in quarantined.group_by("source_table"):
        if table in out and KEYS.get(table) in out[table].columns:
            out[table] = out[table].filter(~pl.col(KEYS[table]).is_in(rows["row_key"].implode()))
    return out


def check_types(tables: dict[str, pl.DataFrame], raw: dict[str, pl.DataFrame]) -> Report:
    """Values the contract's types cannot hold (text in employee_count): nulls that appeared in
    casting."""
    report = Report()
    for table, frame in tables.items():
        for column, kind in SOURCE_COLUMNS[table].items():
            if column not in frame.columns or kind == pl.String:
                continue
            report.expectations += 1
            lost = raw[table][column].is_not_null() & frame[column].is_null()
            if lost.any():
                examples = raw[table].filter(lost)[column].head(3).cast(pl.String).to_list()
                report.failures.append(
                    Failure(
                        table,
                        column,
                        f"values are not {kind}",
                        observed=f"{int(lost.sum())} rows",
                        examples=examples,
                    )
                )
    return report


# ---- the event tables, in the warehouse


def validate_events(
    wh: Warehouse,
    columns: dict[str, list[str]],
    run_date: dt.date,
    now: dt.datetime,
    rules: Rules,
    runner: Runner,
    window_days: int,
    enforced_keys: frozenset[str] = frozenset(),
) -> Report:
    """Check the event tables where they are: columns, keys, times, references, freshness, volume.

    The warehouse computes, per table, one row of aggregates over the night's window (one scan)
    and a few index lookups; GX checks that row. Handing GX the SQL itself (a query asset) made
    it run the query again for each metric of each expectation: 45 s instead of 7 s on 10M events.

    `enforced_keys`: tables whose event_id the warehouse itself keeps unique (a primary key or a
    unique constraint): counting distinct ids there would re-check the database's own guarantee,
    and it is the costliest part of the scan.
    """
    import great_expectations.expectations as gxe

    start = time.perf_counter()
    report = Report(docs=runner.index)
    # Column names first, without GX: with one missing, every SQL check below would fail.
    for table in EVENT_TABLES:
        report = report.merge(missing_columns(table, columns[table]))
    if report.errors:
        report.seconds = time.perf_counter() - start
        return report

    source = runner.data_source("pandas", "warehouse_aggregates")
    end = run_date + dt.timedelta(days=1)
    params = {
        "window_start": (run_date - dt.timedelta(days=window_days - 1)).isoformat(),
        "window_end": end.isoformat(),
        "run_date": run_date.isoformat(),
        "week_start": (run_date - dt.timedelta(days=7)).isoformat(),
        "now": now.strftime("%Y-%m-%d %H:%M:%S"),
        "known_events": KNOWN_EVENTS,
    }
    fresh_after = dt.datetime.combine(end, dt.time()) - dt.timedelta(
        hours=float(rules.thresholds["freshness_hours"])
    )
    oldest = str(rules.thresholds["oldest"])
    drop = float(rules.thresholds["volume_drop_max"])
    for table, name_column in EVENT_TABLES.items():
        owner = "user_id" if table == "product_events" else "lead_id"
        names = {
            "events": table,
            "owner": owner,
            "name_column": name_column,
            "parent": "product_users" if table == "product_events" else "crm_leads",
        }
        duplicates = (
            pl.DataFrame({"duplicate_keys": [0]})
            if table in enforced_keys
            else wh.read("select_event_duplicate_keys", params, identifiers=names)
        )
        counts = [
            "rows_in_window",
            "today",
            "no_key",
            "duplicate_keys",
            "no_owner",
            "unknown_names",
            "no_time",
            "future",
        ]
        row = pl.concat(
            [
                wh.read("select_event_window_checks", params, identifiers=names),
                duplicates,
                wh.read("select_event_time_checks", params, TIMES, identifiers=names),
            ],
            how="horizontal",
        )
        row = row.with_columns(
            # Sums come back as NUMERIC from PostgreSQL: one form for GX.
            pl.col(counts).cast(pl.Float64).fill_null(0).cast(pl.Int64),
            pl.col("owner_found_share", "trailing_mean").cast(pl.Float64),
        )
        row = row.with_columns(
            pl.when(pl.col("trailing_mean") > 0)
            .then(pl.col("today") / pl.col("trailing_mean"))
            .otherwise(1.0)
            .alias("volume_ratio")
        )

        def none_of(count: str, rule: str, column: str) -> Any:
            return gxe.ExpectColumnValuesToBeBetween(
                column=count, max_value=0, meta={"rule": rule, "column": column, "counts": count}
            )

        expectations = [
            none_of("no_time", "time not null (events)", "occurred_at"),
            none_of("no_key", "key not null", "event_id"),
            none_of("duplicate_keys", "key unique", "event_id"),
            none_of("no_owner", "reference not null", owner),
            none_of("unknown_names", "unknown event name", name_column),
            gxe.ExpectColumnValuesToBeBetween(
                column="owner_found_share",
                min_value=float(rules.thresholds["reference_match_min"]),
                meta={
                    "rule": "reference match rate",
                    "column": owner,
                    "counts": "owner_found_share",
                },
            ),
            gxe.ExpectColumnValuesToNotBeNull(
                column="newest",
                meta={
                    "counts": "newest",
                    "rule": "freshness: no events at all",
                    "column": "occurred_at",
                },
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="newest",
                min_value=fresh_after,
                meta={
                    "counts": "newest",
                    "rule": (
                        f"freshness: newest event more than {rules.thresholds['freshness_hours']}h "
                        f"before the end of {run_date}"
                    ),
                    "column": "occurred_at",
                },
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="oldest",
                min_value=dt.datetime.fromisoformat(oldest),
                meta={
                    "counts": "oldest",
                    "rule": f"no time before {oldest}",
                    "column": "occurred_at",
                },
            ),
            none_of("future", "no time after the real present", "occurred_at"),
            gxe.ExpectColumnValuesToBeBetween(
                column="volume_ratio",
                min_value=1 - drop,
                meta={
                    "counts": "volume_ratio",
                    "rule": (
                        f"volume: {run_date}'s events fell more than {drop:.0%} below the "
                        "trailing 7-day mean"
                    ),
                    "column": "occurred_at",
                },
            ),
        ]
        expectations = [e for e in expectations if rules.on(e.meta["rule"])]
        asset = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("night")
        report = report.merge(
            runner.run(
                f"{table}_night", asset, expectations, {"dataframe": row.to_pandas()}, table, rules
            )
        )
        report.quarantine += _event_quarantine(wh, table, names, params, report, rules)
        _event_examples(wh, table, names, params, report)
    report.seconds = time.perf_counter() - start
    return report


def _event_quarantine(
    wh: Warehouse,
    table: str,
    names: dict[str, str],
    params: dict[str, Any],
    report: Report,
    rules: Rules,
) -> list[pl.DataFrame]:
    """The rows behind tonight's event warnings, to be set aside."""
    out = []
    failed = {f.rule for f in report.warnings if f.table == table}
    if "time not null (events)" in failed:
        out.append(
            quarantine_frame(
                wh.read("select_events_without_time", params, identifiers=names),
                table,
                "time not null (events)",
            )
        )
    if "unknown event name" in failed:
        rows = wh.read("select_events_with_unknown_names", params, identifiers=names)
        out.append(
            quarantine_frame(
                rows.with_columns(pl.col("occurred_at").cast(pl.String)),
                table,
                "unknown event name",
            )
        )
    return out


def _event_examples(
    wh: Warehouse, table: str, names: dict[str, str], params: dict[str, Any], report: Report
) -> None:
    """A few offending values for the failures that name them (only run when a check failed)."""
    statements = {
        "key unique": "select_event_duplicate_key_examples",
        "unknown event name": "select_event_unknown_name_examples",
    }
    for failure in report.failures:
        if failure.table == table and failure.rule in statements and not failure.examples:
            failure.examples = wh.read(statements[failure.rule], params, identifiers=names)[
                "example"
            ].to_list()


# ---- the night's output, before it is published


# What the output checks look at: one row of counts over tonight's scores, computed where the
# scores are (polars or the warehouse), checked by the same expectations.
FACTS_SCHEMA = {
    "scored_rows": pl.Int64,
    "lead_ids": pl.Int64,
    "no_probability": pl.Int64,
    "probability_outside": pl.Int64,
    "parts_gap": pl.Float64,
    "negative_scores": pl.Int64,
}


def output_facts(scores: pl.DataFrame) -> pl.DataFrame:
    p = pl.col("close_probability")
    gap = (pl.col("fit_score") + pl.col("engagement_score") - pl.col("score")).abs().round(6)
    return scores.select(
        pl.len().alias("scored_rows"),
        pl.col("lead_id").n_unique().alias("lead_ids"),
        (p.is_null() | p.is_nan()).sum().alias("no_probability"),
        ((p < 0) | (p > 1)).sum().alias("probability_outside"),
        gap.max().fill_null(0.0).alias("parts_gap"),
        (pl.col("score") < 0).sum().alias("negative_scores"),
    ).cast(FACTS_SCHEMA)


def stored_facts(wh: Warehouse, table: str) -> pl.DataFrame:
    """`output_facts` of the scores in work table `table`, computed by the warehouse."""
    gap = "abs(fit_score + engagement_score - score)"
    return (
        wh.query(
            f"""select count(*) as scored_rows, count(distinct lead_id) as lead_ids,
    sum(case when close_probability is null then 1 else 0 end) as no_probability,
    sum(case when close_probability < 0 or close_probability > 1 then 1 else 0 end)
        as probability_outside,
    coalesce(max({gap}), 0.0) as parts_gap,
    sum(case when score < 0 then 1 else 0 end) as negative_scores
from {table}"""
        )
        .with_columns(pl.all().fill_null(0))
        .cast(FACTS_SCHEMA)
    )


def validate_output(
    facts: pl.DataFrame, scorable: int, routing: pl.DataFrame, rules: Rules, runner: Runner
) -> Report:
    """One row per scorable lead, probabilities in [0, 1], parts adding up, one team per routed
    lead. `facts`: `output_facts` of the scores."""
    import great_expectations.expectations as gxe

    start = time.perf_counter()
    source = runner.data_source("pandas", "output")
    checked = facts.with_columns(
        (pl.col("scored_rows") - pl.col("lead_ids")).alias("repeated_leads")
    )

    def at_most(
        count: str, limit: float, rule: str, column: str, least: float | None = None
    ) -> Any:
        return gxe.ExpectColumnValuesToBeBetween(
            column=count,
            min_value=least,
            max_value=limit,
            meta={"rule": rule, "column": column, "counts": count},
        )

    expectations = [
        at_most("scored_rows", scorable, "one row per scorable lead", "lead_id", least=scorable),
        at_most("repeated_leads", 0, "one row per scorable lead", "lead_id"),
        at_most("no_probability", 0, "probability is a number", "close_probability"),
        at_most("probability_outside", 0, "probability in [0, 1]", "close_probability"),
        at_most("parts_gap", 1e-6, "fit + engagement = score", "score"),
        at_most("negative_scores", 0, "score >= 0", "score"),
    ]
    asset = source.add_dataframe_asset("lead_scores").add_batch_definition_whole_dataframe("night")
    report = runner.run(
        "lead_scores_output",
        asset,
        expectations,
        {"dataframe": checked.to_pandas()},
        "lead_scores",
        rules,
    )
    if routing.height:
        routed = source.add_dataframe_asset("lead_routing").add_batch_definition_whole_dataframe(
            "night"
        )
        report = report.merge(
            runner.run(
                "lead_routing_output",
                routed,
                [
                    gxe.ExpectColumnValuesToBeUnique(
                        column="lead_id", meta={"rule": "each routed lead in exactly one team"}
                    ),
                    gxe.ExpectColumnValuesToNotBeNull(
                        column="team", meta={"rule": "each routed lead in exactly one team"}
                    ),
                    gxe.ExpectColumnValuesToNotBeNull(
                        column="rep_id", meta={"rule": "routed to a rep"}
                    ),
                ],
                {"dataframe": routing.to_pandas()},
                "lead_routing",
                rules,
            )
        )
    report.seconds = time.perf_counter() - start
    return report
