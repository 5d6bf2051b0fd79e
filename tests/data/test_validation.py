"""The validation suites catch each kind of bad input, and let odd but valid data through."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from leadscore import warehouse
from leadscore.contract import FRAME_TABLES, SOURCE_COLUMNS
from leadscore.settings import load_settings
from leadscore.tasks import validate
from tests.model.conftest import demo_tables

NOW = dt.datetime(2026, 7, 1, 6, 0)


@pytest.fixture(scope="module")
def clean() -> dict[str, pl.DataFrame]:
    tables = demo_tables(leads=400, days=120)
    return {t: tables[t] for t in FRAME_TABLES}


def run(tables: dict[str, pl.DataFrame]) -> validate.Report:
    typed = {t: warehouse.coerce(f, SOURCE_COLUMNS[t]) for t, f in tables.items()}
    rules = validate.load_rules(load_settings().validation_path)
    return validate.check_types(typed, tables).merge(
        validate.validate_frames(typed, NOW, rules, validate.Runner(None))
    )


def errors(report: validate.Report) -> set[tuple[str, str | None, str]]:
    return {(f.table, f.column, f.rule) for f in report.errors}


def test_clean_demo_data_passes(clean):
    report = run(clean)
    assert report.errors == [] and report.expectations > 20


def test_duplicate_lead_id(clean):
    leads = clean["crm_leads"]
    report = run({**clean, "crm_leads": pl.concat([leads, leads.head(1)])})
    assert ("crm_leads", "lead_id", "key unique") in errors(report)


def test_missing_and_renamed_columns(clean):
    report = run(
        {**clean, "crm_accounts": clean["crm_accounts"].rename({"employee_count": "employees"})}
    )
    assert ("crm_accounts", "employee_count", "missing column") in errors(report)


def test_orphan_opportunities_are_quarantined_not_fatal(clean):
    opps = clean["crm_opportunities"].with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit("no-such-lead"))
        .otherwise(pl.col("lead_id"))
        .alias("lead_id")
    )
    report = run({**clean, "crm_opportunities": opps})
    # One orphan among many is below the match-rate floor: a warning, and the row set aside.
    assert report.errors == []
    quarantined = report.quarantined()
    assert quarantined["row_key"].to_list() == [opps["opportunity_id"][0]]
    assert "no-such-lead" in quarantined["row_data"][0]


def test_every_email_malformed(clean):
    leads = clean["crm_leads"].with_columns(pl.lit("not an email").alias("email"))
    assert ("crm_leads", "email", "share of well-formed emails") in errors(
        run({**clean, "crm_leads": leads})
    )


def test_text_in_employee_count(clean):
    accounts = clean["crm_accounts"].with_columns(pl.col("employee_count").cast(pl.String))
    accounts = accounts.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.lit("about fifty"))
        .otherwise(pl.col("employee_count"))
        .alias("employee_count")
    )
    report = run({**clean, "crm_accounts": accounts})
    failure = next(f for f in report.errors if f.column == "employee_count")
    assert "about fifty" in failure.examples


def test_unknown_status(clean):
    leads = clean["crm_leads"].with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit("zombie"))
        .otherwise(pl.col("status"))
        .alias("status")
    )
    report = run({**clean, "crm_leads": leads})
    assert ("crm_leads", "status", "allowed values") in errors(report)


def test_timestamps_after_the_present(clean):
    leads = clean["crm_leads"].with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(dt.datetime(2031, 1, 1))
        .otherwise(pl.col("created_at"))
        .alias("created_at")
    )
    report = run({**clean, "crm_leads": leads})
    assert ("crm_leads", "created_at", "no time after the real present") in errors(report)


def test_names_in_mixed_scripts_and_odd_unicode_pass(clean):
    accounts = clean["crm_accounts"].with_columns(
        pl.lit("Ünïcødé 株式会社 شركة \u200b\u202e Ltd").alias("name")
    )
    assert run({**clean, "crm_accounts": accounts}).errors == []


def test_titles_mostly_missing_fail_the_null_rate(clean):
    # Nine titles in ten are missing; the limit is 60%.
    leads = clean["crm_leads"].with_columns(
        pl.when(pl.int_range(pl.len()) % 10 == 0).then(pl.col("title")).otherwise(None)
    )
    assert ("crm_leads", "title", "null rate above 60%") in errors(
        run({**clean, "crm_leads": leads})
    )


def test_tables_checked_one_at_a_time_find_what_the_whole_set_finds(clean):
    # A night reads and checks the CRM tables one at a time: references then resolve against
    # the key column of the table checked before (accounts, then leads), and nothing is missed.
    opps = clean["crm_opportunities"].with_columns(pl.lit("no-such-lead").alias("lead_id"))
    leads = clean["crm_leads"].with_columns(pl.lit("no-such-account").alias("account_id"))
    tables = {**clean, "crm_opportunities": opps, "crm_leads": leads}
    typed = {t: warehouse.coerce(f, SOURCE_COLUMNS[t]) for t, f in tables.items()}
    rules = validate.load_rules(load_settings().validation_path)
    whole = validate.validate_frames(typed, NOW, rules, validate.Runner(None))
    streamed = validate.validate_frames(iter(typed.items()), NOW, rules, validate.Runner(None))
    found = {(f.table, f.column, f.rule) for f in streamed.failures}
    assert found == {(f.table, f.column, f.rule) for f in whole.failures}
    assert ("crm_leads", "account_id", "reference match rate") in found
    assert ("crm_opportunities", "lead_id", "reference match rate") in found
    assert streamed.quarantined().height == whole.quarantined().height > 0


def test_gx_checks_one_row_of_counts_made_by_polars():
    # polars counts the rows that break each rule in one pass and GX checks that row, not the
    # table. The counts are the ones GX made on the table: a duplicated key counts every row
    # holding it (both "a"), a missing key is counted by "key not null" alone, and a lead that
    # names no account is not counted by the reference check (2 of the 3 that name one resolve).
    leads = pl.DataFrame(
        {
            "lead_id": ["a", "a", "b", None],
            "account_id": ["x", "gone", None, "x"],
            "title": ["CEO", None, None, None],
        }
    )
    rules = validate.load_rules(load_settings().validation_path)
    keys = {"crm_accounts": pl.DataFrame({"account_id": ["x"]})}
    checks = validate.frame_checks("crm_leads", leads.columns, NOW, rules, keys)
    facts = validate.frame_facts(leads, checks).row(0, named=True)
    found = {
        c.rule: (facts[f"bad_{i}"], facts[f"counted_{i}"], facts[f"passing_{i}"])
        for i, c in enumerate(checks)
    }
    assert found["key not null"] == (1, 4, 0.75)
    assert found["key unique"] == (2, 3, pytest.approx(1 / 3))
    assert found["reference match rate"] == (1, 3, pytest.approx(2 / 3))
    assert found["null rate above 60%"] == (3, 4, 0.25)
    report = validate.validate_frames({"crm_leads": leads}, NOW, rules, validate.Runner(None))
    unique = next(f for f in report.failures if f.rule == "key unique")
    assert (unique.column, unique.observed, unique.examples) == ("lead_id", "2 rows (66.7%)", ["a"])
    # Missing contract columns are named; the rules on the columns there are still run.
    assert ("crm_leads", "email", "missing column") in errors(report)


def test_the_counts_add_up_a_slice_at_a_time(monkeypatch):
    # polars counts FACT_ROWS rows at a time: the counts are those of the whole table, a key
    # repeated across slices included.
    leads = pl.DataFrame(
        {
            "lead_id": ["a", "b", "c", "a", None, "d", "e"],
            "account_id": ["x", "gone", None, "x", "x", "y", "gone"],
            "email": ["a@x.com", "nope", None, "b@y.org", "c@z.io", "@", "d@e.fr"],
            "title": ["CEO", None, None, None, "CTO", None, "VP"],
        }
    )
    rules = validate.load_rules(load_settings().validation_path)
    keys = {"crm_accounts": pl.DataFrame({"account_id": ["x", "y"]})}
    checks = validate.frame_checks("crm_leads", leads.columns, NOW, rules, keys)
    whole = validate.frame_facts(leads, checks)
    monkeypatch.setattr(validate, "FACT_ROWS", 2)
    sliced = validate.frame_facts(leads, checks)
    assert sliced.equals(whole)
    facts = sliced.row(0, named=True)
    found = {c.rule: (facts[f"bad_{i}"], facts[f"counted_{i}"]) for i, c in enumerate(checks)}
    assert found["key unique"] == (2, 6)
    assert found["reference match rate"] == (2, 6)
    assert found["share of well-formed emails"] == (2, 6)
    # A key given once per row is found clean on the whole column: its rows are never marked
    # (here marking would fail: the text is no number).
    check = validate.FrameCheck(
        "key unique", "lead_id", pl.col("lead_id").cast(pl.Int64), clean=pl.lit(True)
    )
    facts = validate.frame_facts(leads, [check]).row(0, named=True)
    assert (facts["bad_0"], facts["counted_0"], facts["passing_0"]) == (0, 6, 1.0)


def test_gx_keeps_no_table_once_it_is_checked(clean):
    # GX's context lives as long as the process and its pandas data source's engine kept every
    # batch it loaded (the CRM tables, as pandas frames) all night; the results are all a night
    # needs of a check, so nothing else may stay behind.
    typed = {t: warehouse.coerce(f, SOURCE_COLUMNS[t]) for t, f in clean.items()}
    rules = validate.load_rules(load_settings().validation_path)
    runner = validate.Runner(None)
    report = validate.validate_frames(typed, NOW, rules, runner)
    assert report.errors == [] and report.expectations > 20
    engine = runner.context.data_sources.all()["crm"].get_execution_engine()
    assert engine.batch_manager.batch_data_cache == {}
    assert engine.batch_manager.batch_cache == {}
