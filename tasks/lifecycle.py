"""Lifecycle: every lead's lifecycle stage and nurture track tonight, and the funnel by channel.

Both are computed inside the warehouse, in the transaction that publishes the night, from what
the night publishes (lead_score_history, lead_routing, lead_activity_daily and the night's
quarantined keys) and the source tables as that night saw them. So the same SQL serves both
compute paths, a rerun reads exactly what the first run read, and a backfill of a date gives the
rows its nightly run gave.

The track rules are data: `leadscore/tracks.toml` (ordered rules, first match, like routing),
compiled to one SQL `case`. Entry points: `load_tracks` (at flow start: a bad file fails before
any work), `replace_night` (inside the publishing transaction), `funnel_losses` (the report).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from leadscore.contract import KNOWN_EVENTS, PRODUCT_EVENTS
from leadscore.errors import LeadscoreError
from leadscore.settings import read_toml
from leadscore.sqlgen import FeatureSql, seniority_case, text, text_list
from leadscore.tasks import features as F
from leadscore.warehouse import Session, Warehouse

# Lifecycle stages, in precedence: a lead is in the first that holds.
STAGES = (
    "customer",  # its own deal was won
    "opportunity",  # it has an open deal
    "closed_lost",  # its deal was lost
    "disqualified",  # an SDR said no
    "sales_qualified",  # an SDR said yes; no deal yet
    "sdr_working",  # an SDR is qualifying it
    "sdr_ready",  # SDR-ready tonight, not yet worked
    "nurture",  # an SDR said maybe, not now
    "product_user",  # signed up to the product
    "lead",  # none of these yet
)
# The B2B journey stage of each lifecycle stage; a lead of a customer account, not with sales,
# is in "expand".
JOURNEY = {
    "customer": "expand",
    "opportunity": "convert",
    "sales_qualified": "convert",
    "sdr_working": "convert",
    "sdr_ready": "convert",
    "closed_lost": "nurture",
    "nurture": "nurture",
    "product_user": "nurture",
    "lead": "capture",
    "disqualified": "out",
}
STATUSES = ("open", "working", "nurture", "qualified", "disqualified")
# What a rule may test: fact -> kind (text: a list of values; flag: true/false; days: bounds).
FACTS = {
    "stage": "text",
    "status": "text",
    "sdr_ready": "flag",
    "signed_up": "flag",
    "account_customer": "flag",
    "days_since_created": "days",
    "days_since_signup": "days",
    "documents_90d": "days",
    "product_actions_90d": "days",
    "days_since_product_activity": "days",
    "days_since_won": "days",
    "days_since_account_won": "days",
    "days_to_renewal": "days",
}
# What a reason may name besides the facts.
REASON_FIELDS = {*FACTS, "score", "persona", "vertical", "lead_source"}
TEXT_VALUES = {"stage": STAGES, "status": STATUSES}
SEGMENT_PARTS = ("persona", "vertical")
RULE_KEYS = {"name", "track", "reason", *FACTS}
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
NO_TRACK = "none"
# The funnel's steps, in order: a lead that reached a step counts as having passed every earlier
# one (a lead can skip a step: an outbound lead may get a deal without signing up).
STEPS = ("leads", "signed_up", "engaged", "sdr_ready", "routed", "qualified", "opportunity", "won")
LIFECYCLE_COLUMNS = [
    "lead_id",
    "score_date",
    "lifecycle_stage",
    "journey_stage",
    "nurture_track",
    "track_rule",
    "segment",
    "persona",
    "vertical",
    "lead_source",
    "reason",
    "entered_on",
    "previous_track",
    "track_change",
]
FUNNEL_COLUMNS = [
    "run_date",
    "lead_source",
    "cohort_month",
    *STEPS,
    *[f"{step}_rate" for step in STEPS[1:]],
    *[f"days_to_{step}" for step in STEPS[1:]],
]


@dataclass(frozen=True)
class Rule:
    name: str
    track: str
    reason: str
    # fact -> tuple of values (text), bool (flag) or (lowest, highest) with None for no bound.
    conditions: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Tracks:
    """The tracks file, checked."""

    rules: list[Rule]
    segment_by: tuple[str, ...] = SEGMENT_PARTS
    contract_days: int = 365
    personas: dict[str, str] = field(default_factory=dict)
    engaged_events: tuple[str, ...] = ()
    cohort_months: int = 24


def load_tracks(path: Path) -> Tracks:
    """Read and check the tracks file; a mistake names the file, the rule and the key."""
    data = read_toml(path, "tracks")

    def fail(problem: str) -> LeadscoreError:
        return LeadscoreError(f"tracks file {path}: {problem}")

    unknown = set(data) - {
        "segment_by",
        "contract_days",
        "personas",
        "funnel",
        "rules",
    }
    if unknown:
        raise fail(f"unknown key(s) {', '.join(sorted(unknown))}")
    segment_by = tuple(data.get("segment_by", SEGMENT_PARTS))
    bad = [p for p in segment_by if p not in SEGMENT_PARTS]
    if bad:
        raise fail(f"segment_by: {bad[0]!r} is not one of {', '.join(SEGMENT_PARTS)}")
    contract_days = data.get("contract_days", 365)
    if not _whole(contract_days) or contract_days < 1:
        raise fail(f"contract_days: {contract_days!r} is not a positive whole number of days")
    personas = data.get("personas") or {}
    levels = {level for level, _ in F.SENIORITY_PATTERNS} | {"individual", "unknown"}
    for level, persona in personas.items():
        if level not in levels:
            raise fail(f"[personas]: {level!r} is not a seniority ({', '.join(sorted(levels))})")
        if not isinstance(persona, str) or not NAME_RE.match(persona):
            raise fail(f"[personas] {level}: {persona!r} is not a lower-case name")
    funnel = data.get("funnel") or {}
    engaged = tuple(funnel.get("engaged_events", ()))
    unknown_events = [e for e in engaged if e not in KNOWN_EVENTS]
    if unknown_events:
        raise fail(f"[funnel] engaged_events: {unknown_events[0]!r} is not a contract event")
    cohort_months = funnel.get("cohort_months", 24)
    if not _whole(cohort_months) or cohort_months < 1:
        raise fail(f"[funnel] cohort_months: {cohort_months!r} is not a positive whole number")
    raw_rules = data.get("rules") or []
    if not raw_rules:
        raise fail("no [[rules]]")
    rules = [_rule(fail, i, raw) for i, raw in enumerate(raw_rules, 1)]
    if rules[-1].conditions:
        raise fail(f"{rules[-1].name}: the last rule must have no condition (the catch-all)")
    return Tracks(rules, segment_by, contract_days, personas, engaged, cohort_months)


def _whole(value: Any) -> bool:
    """A whole number as TOML gives it (true and false are not numbers)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _rule(fail: Any, i: int, raw: dict[str, Any]) -> Rule:
    label = str(raw.get("name", f"rule {i}"))
    unknown = set(raw) - RULE_KEYS
    if unknown:
        raise fail(f"{label}: unknown key(s) {', '.join(sorted(unknown))}")
    track = raw.get("track")
    if not isinstance(track, str) or not NAME_RE.match(track):
        raise fail(f'{label}: track {track!r} is not a lower-case name (or "none")')
    reason = raw.get("reason", "")
    if not isinstance(reason, str) or not reason:
        raise fail(f"{label}: no reason (the plain words shown with the track)")
    for name in PLACEHOLDER_RE.findall(reason):
        if name not in REASON_FIELDS:
            known = ", ".join(sorted(REASON_FIELDS))
            raise fail(f"{label}: reason names {{{name}}}, not one of {known}")
    conditions: dict[str, Any] = {}
    for fact, value in raw.items():
        if fact not in FACTS:
            continue
        kind = FACTS[fact]
        if kind == "flag":
            if not isinstance(value, bool):
                raise fail(f"{label}: {fact} must be true or false, not {value!r}")
            conditions[fact] = value
        elif kind == "text":
            values = value if isinstance(value, list) else [value]
            bad = [v for v in values if v not in TEXT_VALUES[fact]]
            if bad or not values:
                raise fail(
                    f"{label}: {fact} {bad[0] if bad else value!r} is not one of "
                    + ", ".join(TEXT_VALUES[fact])
                )
            conditions[fact] = tuple(values)
        else:
            if not isinstance(value, dict) or not value or set(value) - {"min", "max"}:
                raise fail(f"{label}: {fact} takes min and/or max, e.g. {{ max = 14 }}")
            bounds = (value.get("min"), value.get("max"))
            if not all(b is None or _whole(b) for b in bounds):
                raise fail(f"{label}: {fact} bounds must be whole numbers, not {value!r}")
            if None not in bounds and bounds[0] > bounds[1]:
                raise fail(f"{label}: {fact} min {bounds[0]} is above max {bounds[1]}")
            conditions[fact] = bounds
    return Rule(label, track, reason, conditions)


# ---- SQL
def _condition(fact: str, value: Any) -> str:
    if isinstance(value, bool):
        return f"f.{fact} = {1 if value else 0}"
    if isinstance(value, tuple) and value and isinstance(value[0], str):
        return f"f.{fact} in ({text_list(value)})"
    lowest, highest = value
    parts = [f"f.{fact} is not null"]
    if lowest is not None:
        parts.append(f"f.{fact} >= {int(lowest)}")
    if highest is not None:
        parts.append(f"f.{fact} <= {int(highest)}")
    return " and ".join(parts)


def _reason(template: str) -> str:
    """The reason template as a SQL text expression: literal pieces and the named facts."""
    pieces: list[str] = []
    at = 0
    for match in PLACEHOLDER_RE.finditer(template):
        if match.start() > at:
            pieces.append(text(template[at : match.start()]))
        pieces.append(f"coalesce(cast(f.{match.group(1)} as text), 'unknown')")
        at = match.end()
    if at < len(template):
        pieces.append(text(template[at:]))
    return " || ".join(pieces) if pieces else "''"


class LifecycleSql:
    """The statements of one night (`run_date`), read inside the publishing transaction."""

    def __init__(self, wh: Warehouse, run_date: dt.date, tracks: Tracks, horizon_days: int):
        self.wh = wh
        self.day = run_date
        self.tracks = tracks
        self.horizon_days = horizon_days
        self.end = F.snapshot_cutoff(run_date)
        quarantine = (
            "(select source_table, row_key from quarantine_rows "
            f"where run_date = {wh.sql_date(run_date)}) night_quarantine"
        )
        # Only its source CTEs (the tables as of the night, without tonight's quarantined rows)
        # and its e-mail key are read here, so the work tables it would name are left empty.
        self.feature_sql = FeatureSql(wh, run_date, quarantine, "", "", "", "")

    def days_since(self, moment: str) -> str:
        """Whole days from `moment` (a timestamp before the night's end) to the night's end."""
        seconds = self.wh.sql_seconds_between(self.wh.sql_timestamp(self.end), moment)
        return self.wh.sql_integer(f"{seconds} / 86400.0")

    def _common(self) -> str:
        """CTEs both statements read: the sources as of the night, each lead's product sign-up."""
        wh = self.wh
        end = wh.sql_timestamp(self.end)
        key = self.feature_sql.email_key
        kept = self.feature_sql.kept("product_users", "user_id")
        return f"""{self.feature_sql.sources().strip()},
signups as (
    select {key("email")} as email_key, min(signed_up_at) as signed_up_at
    from product_users
    where signed_up_at < {end} and {kept}
    group by {key("email")}
),
lead_deals as (
    select lead_id,
        min(case when stage = 'closed_won' then closed_at end) as won_at,
        max(case when stage = 'open' then 1 else 0 end) as open_deal,
        max(case when stage = 'closed_lost' then 1 else 0 end) as lost_deal,
        min(created_at) as created_at
    from opportunities
    where lead_id is not null
    group by lead_id
)"""

    def lifecycle_statement(self) -> str:
        """SELECT of tonight's lead_lifecycle rows (`LIFECYCLE_COLUMNS`)."""
        wh, t = self.wh, self.tracks
        day = wh.sql_date(self.day)
        recent_from = wh.sql_timestamp(self.end - dt.timedelta(days=self.horizon_days))
        first_activity = wh.sql_date(self.day - dt.timedelta(days=F.LOOKBACK_DAYS - 1))
        actions = [e for e in PRODUCT_EVENTS if e != "login"]
        key = self.feature_sql.email_key
        since = self.days_since
        stage = (
            "case "
            + " ".join(
                f"when {cond} then {text(name)}"
                for cond, name in [
                    ("f.won_at is not null", "customer"),
                    ("f.open_deal = 1", "opportunity"),
                    ("f.lost_deal = 1", "closed_lost"),
                    ("f.status = 'disqualified'", "disqualified"),
                    ("f.status = 'qualified'", "sales_qualified"),
                    ("f.status = 'working'", "sdr_working"),
                    ("f.sdr_ready = 1", "sdr_ready"),
                    ("f.status = 'nurture'", "nurture"),
                    ("f.signed_up = 1", "product_user"),
                ]
            )
            + " else 'lead' end"
        )
        journey = (
            "case when f.account_customer = 1 and f.stage in "
            "('lead', 'product_user', 'nurture', 'closed_lost') then 'expand' "
            + " ".join(f"when f.stage = {text(s)} then {text(j)}" for s, j in JOURNEY.items())
            + " end"
        )
        rule_no = (
            "case "
            + " ".join(
                f"when {' and '.join(_condition(k, v) for k, v in r.conditions.items()) or '1 = 1'}"
                f" then {i}"
                for i, r in enumerate(t.rules)
            )
            + " end"
        )

        def by_rule(values: list[str]) -> str:
            return (
                "case f.rule_no "
                + " ".join(f"when {i} then {v}" for i, v in enumerate(values))
                + " end"
            )

        persona = "'user'"
        if t.personas:
            persona = (
                "case f.seniority "
                + " ".join(
                    f"when {text(level)} then {text(p)}" for level, p in sorted(t.personas.items())
                )
                + " else 'user' end"
            )
        segment = " || '/' || ".join(f"f.{p}" for p in t.segment_by) or "'default'"
        contract = t.contract_days
        return f"""
with {self._common()},
scored as (
    select lead_id, score, sdr_ready from lead_score_history where score_date = {day}
),
last_status as (
    select lead_id, status, changed_at from (
        select lead_id, status, changed_at,
            row_number() over (partition by lead_id order by changed_at desc) as newest
        from status_changes
    ) c
    where newest = 1
),
account_deals as (
    select account_id, min(closed_at) as won_at from opportunities
    where stage = 'closed_won' group by account_id
),
previous as (
    select lead_id, nurture_track, segment, entered_on from lead_lifecycle
    where score_date = (select max(score_date) from lead_lifecycle where score_date < {day})
),
members as (
    select lead_id from scored
    union
    select lead_id from last_status where changed_at >= {recent_from}
    union
    select lead_id from opportunities
    where lead_id is not null and (created_at >= {recent_from} or closed_at >= {recent_from})
    union
    select lead_id from previous where nurture_track <> {text(NO_TRACK)}
),
activity as (
    select lead_id,
        sum(case when event = 'document_created' then events else 0 end) as documents,
        sum(case when event in ({text_list(actions)}) then events else 0 end) as actions,
        max(case when event in ({text_list(PRODUCT_EVENTS)}) then activity_date end) as last_on
    from lead_activity_daily
    where activity_date >= {first_activity} and activity_date <= {day}
    group by lead_id
),
member_leads as materialized (
    select l.lead_id, l.account_id, l.lead_source, l.created_at,
        {wh.sql_lower(wh.sql_strip("l.title"))} as title_key,
        {key("l.email")} as email_key
    from members m
    join leads l on l.lead_id = m.lead_id
),
facts as materialized (
    select l.lead_id, l.lead_source,
        {seniority_case(wh, "l.title_key")} as seniority,
        coalesce({wh.sql_lower("a.industry")}, 'unknown') as vertical,
        coalesce(c.status, 'open') as status,
        {wh.sql_integer("s.score + 0.5")} as score,
        case when s.sdr_ready then 1 else 0 end as sdr_ready,
        case when u.signed_up_at is null then 0 else 1 end as signed_up,
        case when ad.won_at is null then 0 else 1 end as account_customer,
        {since("l.created_at")} as days_since_created,
        {since("u.signed_up_at")} as days_since_signup,
        coalesce(x.documents, 0) as documents_90d,
        coalesce(x.actions, 0) as product_actions_90d,
        {wh.sql_days_between(day, "x.last_on")} as days_since_product_activity,
        {since("d.won_at")} as days_since_won,
        {since("ad.won_at")} as days_since_account_won,
        d.won_at, d.open_deal, d.lost_deal
    from member_leads l
    left join accounts a on a.account_id = l.account_id
    left join scored s on s.lead_id = l.lead_id
    left join last_status c on c.lead_id = l.lead_id
    left join signups u on u.email_key = l.email_key
    left join activity x on x.lead_id = l.lead_id
    left join lead_deals d on d.lead_id = l.lead_id
    left join account_deals ad on ad.account_id = l.account_id
),
staged as materialized (
    select f.*, {stage} as stage, {persona} as persona,
        {contract} - {wh.sql_integer(f"mod(f.days_since_account_won, {contract})")}
            as days_to_renewal
    from facts f
),
ruled as materialized (
    select f.*, {rule_no} as rule_no from staged f
),
tracked as (
    select f.*,
        {by_rule([text(r.track) for r in t.rules])} as nurture_track,
        {by_rule([text(r.name) for r in t.rules])} as track_rule,
        {by_rule([_reason(r.reason) for r in t.rules])} as rule_reason,
        {segment} as segment,
        {journey} as journey_stage
    from ruled f
),
final as (
    select f.lead_id, {day} as score_date, f.stage as lifecycle_stage, f.journey_stage,
        f.nurture_track, f.track_rule, f.segment, f.persona, f.vertical, f.lead_source,
        f.rule_reason || ' → ' || case when f.nurture_track = {text(NO_TRACK)}
            then 'no drip track' else replace(f.nurture_track, '_', ' ') end as reason,
        case when p.nurture_track = f.nurture_track then p.entered_on else {day} end
            as entered_on,
        p.nurture_track as previous_track,
        case
            when f.nurture_track <> {text(NO_TRACK)}
                and (p.nurture_track is null or p.nurture_track = {text(NO_TRACK)}) then 'joined'
            when f.nurture_track <> {text(NO_TRACK)}
                and (p.nurture_track <> f.nurture_track or p.segment <> f.segment) then 'moved'
            when f.nurture_track = {text(NO_TRACK)} and p.nurture_track <> {text(NO_TRACK)}
                then 'left'
            else 'unchanged'
        end as track_change
    from tracked f
    left join previous p on p.lead_id = f.lead_id
)
select {", ".join(LIFECYCLE_COLUMNS)} from final"""

    def funnel_statement(self) -> str:
        """SELECT of tonight's funnel_daily rows (`FUNNEL_COLUMNS`): leads of the cohorts of the
        last `cohort_months` months, by channel and month of creation."""
        wh, t = self.wh, self.tracks
        day = wh.sql_date(self.day)
        first = self.day.replace(day=1)
        for _ in range(t.cohort_months - 1):
            first = (first - dt.timedelta(days=1)).replace(day=1)
        key = self.feature_sql.email_key
        engaged = text_list(t.engaged_events) if t.engaged_events else "''"
        dates = ["created_on", *[f"{s}_on" for s in STEPS[1:]]]
        furthest = (
            "case "
            + " ".join(
                f"when {dates[i]} is not null then {i}" for i in range(len(STEPS) - 1, 0, -1)
            )
            + " else 0 end"
        )
        reached = ",\n        ".join(
            f"sum(case when furthest >= {i} then 1 else 0 end) as {s}" for i, s in enumerate(STEPS)
        )
        gaps = "\n    union all\n    ".join(
            f"select lead_source, cohort_month, {text(s)} as step, "
            f"{wh.sql_days_between(dates[i], dates[i - 1])} as days from steps "
            f"where {dates[i]} is not null and {dates[i - 1]} is not null"
            for i, s in enumerate(STEPS)
            if i
        )
        medians = ",\n        ".join(
            f"max(case when step = {text(s)} then median_days end) as days_to_{s}"
            for s in STEPS[1:]
        )
        rates = ",\n    ".join(
            f"case when c.{STEPS[i - 1]} > 0 then "
            f"cast(c.{s} as double precision) / c.{STEPS[i - 1]} end as {s}_rate"
            for i, s in enumerate(STEPS)
            if i
        )
        return f"""
with {self._common()},
cohort as (
    select lead_id, lead_source, email,
        {wh.sql_month_start("created_at")} as cohort_month,
        {wh.sql_day("created_at")} as created_on
    from leads
    where created_at >= {wh.sql_timestamp(dt.datetime.combine(first, dt.time()))}
),
engaged as (
    select lead_id, min(activity_date) as engaged_on from lead_activity_daily
    where activity_date >= {wh.sql_date(first)} and activity_date <= {day}
        and event in ({engaged})
    group by lead_id
),
ready as (
    select lead_id, min(ready_on) as sdr_ready_on from (
        select lead_id, score_date as ready_on from lead_routing where score_date <= {day}
        union all
        select lead_id, sdr_ready_since as ready_on from lead_score_history
        where score_date = {day} and sdr_ready
    ) r
    group by lead_id
),
routed as (
    select lead_id, min(routed_at) as routed_at from lead_routing
    where score_date <= {day}
    group by lead_id
),
qualified as (
    select lead_id, min(changed_at) as qualified_at from status_changes
    where status = 'qualified' group by lead_id
),
steps as (
    select c.lead_id, c.lead_source, c.cohort_month, c.created_on,
        {wh.sql_day("u.signed_up_at")} as signed_up_on,
        e.engaged_on,
        r.sdr_ready_on,
        {wh.sql_day("o.routed_at")} as routed_on,
        {wh.sql_day("q.qualified_at")} as qualified_on,
        {wh.sql_day("d.created_at")} as opportunity_on,
        {wh.sql_day("d.won_at")} as won_on
    from cohort c
    left join signups u on u.email_key = {key("c.email")}
    left join engaged e on e.lead_id = c.lead_id
    left join ready r on r.lead_id = c.lead_id
    left join routed o on o.lead_id = c.lead_id
    left join qualified q on q.lead_id = c.lead_id
    left join lead_deals d on d.lead_id = c.lead_id
),
furthest as (
    select lead_source, cohort_month, {furthest} as furthest from steps
),
counts as (
    select lead_source, cohort_month,
        {reached}
    from furthest
    group by lead_source, cohort_month
),
gaps as (
    {gaps}
),
ranked as (
    select lead_source, cohort_month, step, days,
        row_number() over (partition by lead_source, cohort_month, step order by days) as n,
        count(*) over (partition by lead_source, cohort_month, step) as total
    from gaps
    where days >= 0
),
medians as (
    select lead_source, cohort_month, step, avg(cast(days as double precision)) as median_days
    from ranked
    where n in ((total + 1) / 2, (total + 2) / 2)
    group by lead_source, cohort_month, step
),
pivoted as (
    select lead_source, cohort_month,
        {medians}
    from medians
    group by lead_source, cohort_month
)
select {day} as run_date, c.lead_source, c.cohort_month,
    {", ".join(f"c.{s}" for s in STEPS)},
    {rates},
    {", ".join(f"m.days_to_{s}" for s in STEPS[1:])}
from counts c
left join pivoted m on m.lead_source = c.lead_source and m.cohort_month = c.cohort_month"""


def replace_night(
    s: Session,
    run_date: dt.date,
    tracks: Tracks,
    horizon_days: int,
    seconds: dict[str, float] | None = None,
) -> dict[str, int]:
    """Inside the publishing transaction, after the night's scores, routings, activity and
    quarantined keys are in: replace the night's lead_lifecycle and funnel_daily rows; the rows
    written per table (and, into `seconds` when given, the seconds each took)."""
    night = LifecycleSql(s.warehouse, run_date, tracks, horizon_days)
    # The tables just written: the planner must know their size (on PostgreSQL, `analyze`: a
    # first night's 15M-row roll-up read by its stale statistics was a 19 s bitmap scan).
    for table in ("lead_score_history", "lead_activity_daily", "lead_routing", "lead_lifecycle"):
        s.warehouse.written(s.conn, table)
    s.warehouse.before_work(s.conn)
    s.execute("delete_lead_lifecycle", score_date=run_date.isoformat())
    s.execute("delete_funnel_daily", run_date=run_date.isoformat())
    counts = {}
    for table, statement, columns in (
        ("lead_lifecycle", night.lifecycle_statement(), LIFECYCLE_COLUMNS),
        ("funnel_daily", night.funnel_statement(), FUNNEL_COLUMNS),
    ):
        start = time.perf_counter()
        source = f"({s.warehouse.sql_generated(statement)}) q"
        counts[table] = s.warehouse.insert_select(s.conn, table, columns, source)
        if seconds is not None:
            seconds[table] = round(time.perf_counter() - start, 2)
    return counts


# ---- the report
def funnel_losses(funnel: pl.DataFrame) -> list[str]:
    """Where each channel loses its leads: per lead source (counts summed over its cohorts), the
    step that keeps the smallest share of the leads that reached the step before it."""
    lines = []
    if funnel.is_empty():
        return lines
    totals = funnel.group_by("lead_source").agg(pl.col(s).sum() for s in STEPS).sort("lead_source")
    for row in totals.iter_rows(named=True):
        rates = [
            (row[s] / row[STEPS[i - 1]], STEPS[i - 1], s)
            for i, s in enumerate(STEPS)
            if i and row[STEPS[i - 1]]
        ]
        if not rates:
            continue
        rate, before, step = min(rates, key=lambda r: r[0])  # a tie: the earlier step
        lines.append(
            f"{row['lead_source']}: {row['leads']:,} leads, {row['won']:,} won "
            f"({row['won'] / row['leads']:.1%}); loses most between {before.replace('_', ' ')} "
            f"and {step.replace('_', ' ')} (keeps {rate:.0%})"
        )
    return lines
