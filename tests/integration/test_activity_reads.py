"""A later night holds every lead's recent daily counts and reads the older days for the training
sample's leads only; its feature rows are those of a night that holds every day of every lead."""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl
from polars.testing import assert_frame_equal

from leadscore import warehouse
from leadscore.cli import main
from leadscore.contract import SOURCE_COLUMNS
from leadscore.settings import load_settings
from leadscore.tasks import extract, features
from leadscore.warehouse import coerce

RUN_DATE = dt.date(2026, 6, 29)


def test_older_days_are_read_for_the_sample_and_give_the_same_rows(warehouse_url, monkeypatch):
    argv = ["demo-data", "--leads", "1500", "--days", "200", "--end-date", "2026-06-30"]
    assert main([*argv, "--url", warehouse_url]) == 0
    # Caps well below the ~10,000 snapshot rows, so that the sample leaves leads out.
    settings = load_settings(
        warehouse_url=warehouse_url, max_training_rows=1500, max_holdout_rows=500
    )
    wh = warehouse.connect(warehouse_url)
    sources = extract.read_sources(wh)
    tables = {t: coerce(sources.read(t), SOURCE_COLUMNS[t]) for t in sources.tables}
    since = features.first_activity_day(RUN_DATE, settings)

    # Before any roll-up every day is fresh, aggregated from the events: the whole history.
    whole = extract.read_inputs(wh, tables, RUN_DATE, since, settings)
    assert whole.activity.older is None
    assert whole.activity.daily["activity_date"].min() < features.recent_activity_day(RUN_DATE)
    # The roll-up as that night would leave it.
    with wh.session() as s, s.transaction():
        s.create(["lead_activity_daily", "activity_rollup_state"])
        s.append("lead_activity_daily", whole.activity.fresh)
        s.append("activity_rollup_state", pl.DataFrame({"id": [1], "rolled_through": [RUN_DATE]}))

    reads: list[tuple[set[str], pl.DataFrame]] = []
    read = extract.OlderCounts.read

    def spy(self, lead_ids, first, last):  # type: ignore[no-untyped-def]
        rows = read(self, lead_ids, first, last)
        reads.append((set(lead_ids.cast(pl.String).to_list()), rows))
        return rows

    monkeypatch.setattr(extract.OlderCounts, "read", spy)
    later = extract.read_inputs(wh, tables, RUN_DATE, since, settings)
    # Held for every lead: the recent days only.
    assert later.activity.daily["activity_date"].min() >= features.recent_activity_day(RUN_DATE)

    expected = features.build_night(whole, RUN_DATE, settings)
    got = features.build_night(later, RUN_DATE, settings)
    for name in ("training", "today", "week_ago"):
        assert_frame_equal(getattr(got, name), getattr(expected, name), categorical_as_str=True)

    # Read, once: the older days of the sampled leads (training and holdout), and nothing else.
    sampled = set(expected.training["lead_id"].to_list())
    assert len(reads) == 1 and all(r.height > 0 for _, r in reads)
    asked = set().union(*(leads for leads, _ in reads))
    assert asked == sampled
    older = pl.concat([r for _, r in reads]).with_columns(pl.col("lead_id").cast(pl.String))
    assert set(older["lead_id"].to_list()) <= sampled
    assert older["activity_date"].max() < features.recent_activity_day(RUN_DATE)
    every_lead = whole.activity.daily.filter(
        pl.col("activity_date") < features.recent_activity_day(RUN_DATE)
    )
    assert older.unique().height < every_lead.height
    assert (
        dataclasses.replace(later.activity, older=None)
        .covering(pl.Series(["x"]), dt.date(2026, 1, 1), RUN_DATE)
        .equals(later.activity.daily)
    )
    wh.dispose()
