"""The fault catalog: faults injected into a demo warehouse, each with its expected outcome.

Every fault runs the night after a clean, published one. An error must stop the night with a
line naming the table, the column and the rule, and leave what was published untouched; a
warning must set the rows aside in quarantine_rows and publish the night without them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl
import pytest
import sqlalchemy as sa

from leadscore import sql as sql_files
from leadscore import warehouse
from leadscore.cli import main
from tests.conftest import DEMO_END

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]
NIGHT = DEMO_END
PUBLISHED = [
    "lead_scores",
    "lead_score_history",
    "lead_routing",
    "account_scores",
    "model_registry",
]


def snapshot(url: str) -> dict[str, pl.DataFrame]:
    wh = warehouse.connect(url)
    return {t: wh.query(f"select * from {t}").sort(pl.all()) for t in PUBLISHED}


def sql(url: str, *statements: str) -> None:
    with warehouse.connect(url).engine.begin() as conn:
        # SQLite will not alter a table a view reads; a sync that changes a table drops them too.
        for view in reversed(sql_files.VIEWS):
            conn.execute(sa.text(f"drop view if exists {view}"))
        for statement in statements:
            conn.execute(sa.text(statement))


def relax(url: str, table: str) -> None:
    """Drop the demo's NOT NULL and type constraints, as a real source table may not have them."""
    sql(
        url,
        f"create table relaxed as select * from {table}",
        f"drop table {table}",
        f"alter table relaxed rename to {table}",
    )


def on_night(column: str) -> str:
    after = NIGHT + dt.timedelta(days=1)
    return f"{column} >= '{NIGHT.isoformat()}' and {column} < '{after.isoformat()}'"


def text_employee_count(url: str) -> None:
    if url.startswith("postgresql"):
        sql(url, "alter table crm_accounts alter column employee_count type text")
    sql(
        url,
        "update crm_accounts set employee_count = 'about fifty' "
        "where account_id = (select min(account_id) from crm_accounts)",
    )


def drop_share_of_night(fifths: int) -> Callable[[str], None]:
    def inject(url: str) -> None:
        # Deletes `fifths` of every five events of the night, in event order.
        sql(
            url,
            f"delete from product_events where event_id in (select event_id from "
            f"(select event_id, row_number() over (order by event_id) as n from product_events "
            f"where {on_night('occurred_at')}) numbered where n % 5 < {fifths})",
        )

    return inject


ERRORS: dict[str, tuple[Callable[[str], None], str]] = {
    "duplicate lead id": (
        lambda u: (
            relax(u, "crm_leads"),
            sql(
                u,
                "insert into crm_leads select * from crm_leads "
                "where lead_id = (select min(lead_id) from crm_leads)",
            ),
        ),
        "crm_leads.lead_id: key unique",
    ),
    "events dated years ahead": (
        lambda u: sql(
            u,
            "update product_events set occurred_at = '2031-01-01 00:00:00' "
            "where event_id = (select min(event_id) from product_events)",
        ),
        "product_events.occurred_at: no time after the real present",
    ),
    "opportunities pointing to missing leads": (
        lambda u: sql(u, "update crm_opportunities set lead_id = 'gone-' || lead_id"),
        "crm_opportunities.lead_id: reference match rate",
    ),
    "missing column": (
        lambda u: sql(u, "alter table crm_leads drop column title"),
        "crm_leads.title: missing column",
    ),
    "renamed column": (
        lambda u: sql(u, "alter table crm_accounts rename column employee_count to employees"),
        "crm_accounts.employee_count: missing column",
    ),
    "text in employee_count": (
        text_employee_count,
        "crm_accounts.employee_count: values are not Int64",
    ),
    "unknown status value": (
        lambda u: sql(
            u,
            "update crm_leads set status = 'zombie' where lead_id = (select min(lead_id) from "
            "crm_leads)",
        ),
        "crm_leads.status: allowed values",
    ),
    "no product events for the night": (
        lambda u: sql(u, f"delete from product_events where {on_night('occurred_at')}"),
        "product_events.occurred_at: volume",
    ),
    "60% drop in event volume": (drop_share_of_night(3), "product_events.occurred_at: volume"),
    "every email malformed": (
        lambda u: sql(u, "update crm_leads set email = 'not an email'"),
        "crm_leads.email: share of well-formed emails",
    ),
}


@pytest.mark.parametrize("fault", list(ERRORS))
def test_an_error_stops_the_night_and_keeps_what_was_published(baseline, fault, capsys):
    url = baseline()
    inject, expected = ERRORS[fault]
    before = snapshot(url)
    inject(url)
    capsys.readouterr()
    assert main(["run", "--date", NIGHT.isoformat(), "--url", url]) == 1
    err = capsys.readouterr().err
    assert expected in err, err
    assert "Traceback" not in err, "one readable line per failure, not a stack trace"
    after = snapshot(url)
    for table in PUBLISHED:
        assert after[table].equals(before[table]), f"{table} changed although the night failed"
    runs = warehouse.connect(url).query(
        "select status, validation from pipeline_runs where status = 'failed'"
    )
    assert runs.height == 1 and expected.split(":")[0].split(".")[1] in runs["validation"][0]


WARNINGS: dict[str, tuple[Callable[[str], None], str, str]] = {
    "event with no time": (
        lambda u: (
            relax(u, "product_events"),
            sql(
                u,
                "insert into product_events (event_id, user_id, event_name, occurred_at) "
                "select 'E-no-time', min(user_id), 'login', null from product_events",
            ),
        ),
        "product_events",
        "time not null (events)",
    ),
    "unknown event name": (
        lambda u: sql(
            u,
            "insert into product_events (event_id, user_id, event_name, occurred_at) "
            f"select 'E-new-feature', min(user_id), 'ai_assistant_used', '{NIGHT.isoformat()} "
            "10:00:00' "
            "from product_events",
        ),
        "product_events",
        "unknown event name",
    ),
    "one orphan opportunity": (
        lambda u: sql(
            u,
            "update crm_opportunities set lead_id = 'deleted-lead' "
            "where opportunity_id = (select min(opportunity_id) from crm_opportunities)",
        ),
        "crm_opportunities",
        "orphan reference",
    ),
}


@pytest.mark.parametrize("fault", list(WARNINGS))
def test_a_warning_quarantines_the_rows_and_the_night_goes_on(baseline, fault):
    url = baseline()
    inject, table, rule = WARNINGS[fault]
    inject(url)
    assert main(["run", "--date", NIGHT.isoformat(), "--url", url]) == 0
    wh = warehouse.connect(url)
    quarantined = wh.query("select source_table, rule, row_data from quarantine_rows")
    dates = wh.query("select distinct score_date from lead_scores")
    assert quarantined.height == 1 and quarantined.row(0)[:2] == (table, rule)
    assert [str(d)[:10] for d in dates["score_date"]] == [NIGHT.isoformat()]


def test_names_in_mixed_scripts_and_odd_unicode_pass(baseline):
    url = baseline()
    sql(
        url,
        "update crm_accounts set name = 'Ünïcødé 株式会社 شركة ' || char(8203) || ' Ltd'"
        if url.startswith("sqlite")
        else "update crm_accounts set name = 'Ünïcødé 株式会社 شركة ' || chr(8203) || ' Ltd'",
        "update crm_leads set title = 'مدير المبيعات / 销售总监 🚀' "
        "where lead_id = (select min(lead_id) from crm_leads)",
    )
    assert main(["run", "--date", NIGHT.isoformat(), "--url", url]) == 0
