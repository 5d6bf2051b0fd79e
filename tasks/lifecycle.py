"""Lifecycle: every lead's lifecycle stage and nurture track tonight, and the funnel by channel.

With warehouse compute both are computed inside the warehouse, in the transaction that publishes
the night, from what the night publishes (lead_score_history, lead_routing, lead_activity_daily
and the night's quarantined keys) and the source tables as that night saw them (`LifecycleSql`).
A local night computes the same rows in polars from the frames it holds (`rows_of_night`) and
stages them with its scores. Either way a rerun reads exactly what the first run read, and a
backfill of a date gives the rows its nightly run gave.

The track rules are data: `leadscore/tracks.toml` (ordered rules, first match, like routing),
compiled to one SQL `case` or polars `when` chain. Entry points: `load_tracks` (at flow start: a
bad file fails before any work), `lead_activity` and `rows_of_night` (a local night),
`replace_night` (inside the publishing transaction), `funnel_losses` (the report).
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
from leadscore.prefetch import Prefetch
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
# A rule's conditions and a reason template are parsed once, here; the SQL statements
# (`_condition`, `_reason`) and the polars rows (`_rule_condition`, `_reason_expr`) are both
# written from these parts, so the two ways cannot read a rule differently.


def _condition_tests(value: Any) -> list[tuple[str, Any]]:
    """One condition of a rule as the tests its fact must pass, all of them: ("=", 0 or 1) for a
    yes/no fact, ("in", names) for a list of names, else ("not null", None) and the bounds given,
    (">=", lowest) and ("<=", highest)."""
    if isinstance(value, bool):
        return [("=", 1 if value else 0)]
    if isinstance(value, tuple) and value and isinstance(value[0], str):
        return [("in", value)]
    lowest, highest = value
    tests: list[tuple[str, Any]] = [("not null", None)]
    if lowest is not None:
        tests.append((">=", int(lowest)))
    if highest is not None:
        tests.append(("<=", int(highest)))
    return tests


def _template_pieces(template: str) -> list[tuple[str, str]]:
    """A reason template as its pieces in order: ("text", words) and ("fact", name)."""
    pieces: list[tuple[str, str]] = []
    at = 0
    for match in PLACEHOLDER_RE.finditer(template):
        if match.start() > at:
            pieces.append(("text", template[at : match.start()]))
        pieces.append(("fact", match.group(1)))
        at = match.end()
    if at < len(template):
        pieces.append(("text", template[at:]))
    return pieces


def _condition(fact: str, value: Any) -> str:
    """One condition of a rule, in SQL."""
    parts = []
    for op, operand in _condition_tests(value):
        if op == "not null":
            parts.append(f"f.{fact} is not null")
        elif op == "in":
            parts.append(f"f.{fact} in ({text_list(operand)})")
        else:
            parts.append(f"f.{fact} {op} {operand}")
    return " and ".join(parts)


def _reason(template: str) -> str:
    """The reason template as a SQL text expression: literal pieces and the named facts."""
    pieces = [
        text(value) if kind == "text" else f"coalesce(cast(f.{value} as text), 'unknown')"
        for kind, value in _template_pieces(template)
    ]
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
        first = cohort_start(self.day, t)
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
    staged: bool = False,
) -> dict[str, int]:
    """Inside the publishing transaction, after the night's scores, routings, activity and
    quarantined keys are in: replace the night's lead_lifecycle and funnel_daily rows; the rows
    written per table (and, into `seconds` when given, the seconds each took). `staged`: the
    rows were computed locally (`rows_of_night`) and staged under "lifecycle" and "funnel";
    otherwise the statements compute them here."""
    if staged:
        s.execute("delete_lead_lifecycle", score_date=run_date.isoformat())
        s.execute("delete_funnel_daily", run_date=run_date.isoformat())
        return {
            "lead_lifecycle": s.insert_staged("lead_lifecycle", "lifecycle"),
            "funnel_daily": s.insert_staged("funnel_daily", "funnel"),
        }
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


# ---- the same rows from a local night's own frames
# A night computed locally holds, in polars, all that the statements above recompute from the
# source tables (profiles, product sign-ups, the roll-up's recent days, status changes, deals):
# at a million leads the statements take ~40 s of SQLite's single thread inside the publishing
# transaction, these a few seconds. `tests/integration/test_compute_paths.py` holds the two to the
# same rows (warehouse compute runs the statements), on both dialects.
PREVIOUS_SCHEMA = {
    "lead_id": pl.String,
    "nurture_track": pl.String,
    "segment": pl.String,
    "entered_on": pl.Date,
}
ROUTING_SCHEMA = {"lead_id": pl.String, "score_date": pl.Date, "routed_at": pl.Datetime("us")}
ENGAGED_SCHEMA = {"lead_id": pl.String, "engaged_on": pl.Date}


@dataclass(frozen=True)
class LeadActivity:
    """Per lead, what the lifecycle and funnel read of the night's sign-ups and recent activity,
    taken while the features' frames are in memory (`lead_activity`)."""

    # lead_id, signed_up_at (the first product sign-up matched to the lead)
    signups: pl.DataFrame
    # lead_id, documents_90d, product_actions_90d, last_product_on (the last LOOKBACK_DAYS days)
    recent: pl.DataFrame


def lead_activity(users: pl.DataFrame, daily: pl.DataFrame, run_date: dt.date) -> LeadActivity:
    """`users`: product users matched to leads (lead_id, signed_up_at); `daily`: the night's daily
    counts (lead_id, activity_date, event, events), the roll-up as publishing leaves it."""
    first = run_date - dt.timedelta(days=F.LOOKBACK_DAYS - 1)
    # Compared as the category it is: a cast to text would copy every day's event name.
    event = pl.col("event")
    actions = [e for e in PRODUCT_EVENTS if e != "login"]
    recent = (
        daily.filter(pl.col("activity_date").is_between(first, run_date))
        .group_by("lead_id")
        .agg(
            pl.col("events").filter(event == "document_created").sum().alias("documents_90d"),
            pl.col("events").filter(event.is_in(actions)).sum().alias("product_actions_90d"),
            pl.col("activity_date")
            .filter(event.is_in(PRODUCT_EVENTS))
            .max()
            .alias("last_product_on"),
        )
        .with_columns(
            pl.col("lead_id").cast(pl.String),  # a category in the night's daily counts
            pl.col("documents_90d", "product_actions_90d").cast(pl.Int64),
        )
    )
    signups = users.group_by("lead_id").agg(pl.col("signed_up_at").min())
    return LeadActivity(signups=signups, recent=recent)


@dataclass(frozen=True)
class NightRows:
    """A night's lead_lifecycle and funnel_daily rows, computed before publishing."""

    lifecycle: pl.DataFrame
    funnel: pl.DataFrame


@dataclass(frozen=True)
class History:
    """What a local night's lifecycle and funnel read of the earlier nights (`read_history`)."""

    # The tracks of the latest night before tonight (PREVIOUS_SCHEMA).
    previous: pl.DataFrame
    # Every routing up to tonight's (ROUTING_SCHEMA), tonight's new ones aside.
    routings: pl.DataFrame
    # Each lead's first engaged day in the stored roll-up, from the oldest cohort to the night's
    # fresh days (ENGAGED_SCHEMA).
    engaged: pl.DataFrame


def read_history(wh: Warehouse, run_date: dt.date, fresh_from: dt.date, tracks: Tracks) -> History:
    """The earlier nights' tracks, routings and first engaged days, as the warehouse holds them
    before tonight is published (`fresh_from`: the first day of the roll-up that tonight
    rewrites). Nothing tonight writes is read, so a night reads it ahead (`Prefetch`)."""
    day = run_date.isoformat()
    previous = wh.read_if_exists(
        "lead_lifecycle", "select_previous_lifecycle", {"score_date": day}, PREVIOUS_SCHEMA
    )
    routings = wh.read_if_exists(
        "lead_routing", "select_routing_steps", {"score_date": day}, ROUTING_SCHEMA
    )
    engaged = pl.DataFrame(schema=ENGAGED_SCHEMA)
    if tracks.engaged_events:
        stored_to = min(fresh_from, run_date + dt.timedelta(days=1))
        params = {
            "from_day": cohort_start(run_date, tracks).isoformat(),
            "to_day": stored_to.isoformat(),
            "engaged_events": list(tracks.engaged_events),
        }
        engaged = wh.read_if_exists(
            "lead_activity_daily", "select_first_engaged", params, ENGAGED_SCHEMA
        )
    return History(previous, routings, engaged)


def rows_of_night(
    history: History | Prefetch[History],
    profiles: pl.DataFrame,
    activity: LeadActivity,
    tables: dict[str, pl.DataFrame],
    scores: pl.DataFrame,
    routing: pl.DataFrame,
    fresh: pl.DataFrame,
    run_date: dt.date,
    tracks: Tracks,
    horizon_days: int,
) -> NightRows:
    """Tonight's lead_lifecycle and funnel_daily rows from a local night's frames: `profiles`
    (features.profile), `tables` (status changes and opportunities as of the night), tonight's
    `scores` and new `routing` rows, the roll-up's `fresh` days, and the earlier nights'
    `history` (`read_history`, or that read started ahead)."""
    if isinstance(history, Prefetch):
        history = history.result()
    routings = pl.concat(
        [history.routings, routing.select(list(ROUTING_SCHEMA)).cast(ROUTING_SCHEMA)]
    )
    engaged = first_engaged(history.engaged, fresh, run_date, tracks)
    leads = lead_frame(profiles, activity)
    statuses = tables["crm_lead_status_changes"].select("lead_id", "status", "changed_at")
    deals = Deals.of(
        tables["crm_opportunities"].select(
            "lead_id", "account_id", "stage", "created_at", "closed_at"
        )
    )
    return NightRows(
        lifecycle=lifecycle_rows(
            leads, statuses, deals, scores, history.previous, run_date, tracks, horizon_days
        ),
        funnel=funnel_rows(leads, statuses, deals, scores, routings, engaged, run_date, tracks),
    )


def cohort_start(run_date: dt.date, tracks: Tracks) -> dt.date:
    """The first day of the oldest cohort month funnel_daily holds."""
    first = run_date.replace(day=1)
    for _ in range(tracks.cohort_months - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    return first


def first_engaged(
    stored: pl.DataFrame, fresh: pl.DataFrame, run_date: dt.date, tracks: Tracks
) -> pl.DataFrame:
    """Each lead's first engaged day from the oldest cohort to the night: the first in the
    stored roll-up (`stored`, ENGAGED_SCHEMA) or in tonight's fresh days."""
    if not tracks.engaged_events:
        return pl.DataFrame(schema=ENGAGED_SCHEMA)
    new = fresh.filter(
        pl.col("activity_date").is_between(cohort_start(run_date, tracks), run_date)
        & pl.col("event").is_in(list(tracks.engaged_events))
    ).select("lead_id", pl.col("activity_date").alias("engaged_on"))
    return (
        pl.concat([stored, new.cast(ENGAGED_SCHEMA)])
        .group_by("lead_id")
        .agg(pl.col("engaged_on").min())
    )


def lead_frame(profiles: pl.DataFrame, activity: LeadActivity) -> pl.DataFrame:
    """Every lead of the night with what the lifecycle and funnel read of it."""
    return (
        profiles.select(
            "lead_id",
            "account_id",
            "lead_source",
            "created_at",
            "seniority",
            pl.col("industry").fill_null("unknown").alias("vertical"),
        )
        .join(activity.signups, on="lead_id", how="left")
        .join(activity.recent, on="lead_id", how="left")
    )


@dataclass(frozen=True)
class Deals:
    """The night's opportunities (lead_id, account_id, stage, created_at, closed_at), and what
    both the lifecycle and the funnel read of them per lead (computed once)."""

    rows: pl.DataFrame
    per_lead: pl.DataFrame

    @classmethod
    def of(cls, deals: pl.DataFrame) -> Deals:
        stage = pl.col("stage")
        per_lead = (
            deals.filter(pl.col("lead_id").is_not_null())
            .group_by("lead_id")
            .agg(
                pl.col("closed_at").filter(stage == "closed_won").min().alias("won_at"),
                (stage == "open").any().cast(pl.Int64).alias("open_deal"),
                (stage == "closed_lost").any().cast(pl.Int64).alias("lost_deal"),
                pl.col("created_at").min().alias("deal_created_at"),
            )
        )
        return cls(deals, per_lead)


def _days_since(end: dt.datetime, moment: str) -> pl.Expr:
    """Whole days from `moment` to the night's end, as `LifecycleSql.days_since`."""
    return ((pl.lit(end) - pl.col(moment)).dt.total_seconds() // 86_400).cast(pl.Int64)


def _rule_condition(fact: str, value: Any) -> pl.Expr:
    """One condition of a rule, as `_condition` writes it in SQL."""
    column = pl.col(fact)
    tests = {
        "not null": lambda _: column.is_not_null(),
        "in": lambda names: column.is_in(list(names)),
        "=": lambda n: column == n,
        ">=": lambda n: column >= n,
        "<=": lambda n: column <= n,
    }
    held = pl.lit(True)
    for op, operand in _condition_tests(value):
        held = held & tests[op](operand)
    return held


def _reason_expr(template: str) -> pl.Expr:
    """The reason template with the named facts, as `_reason` writes it in SQL."""
    pieces = [
        pl.lit(value) if kind == "text" else pl.col(value).cast(pl.String).fill_null("unknown")
        for kind, value in _template_pieces(template)
    ]
    return pl.concat_str(pieces) if pieces else pl.lit("")


def _by_rule(values: list[pl.Expr]) -> pl.Expr:
    expr = pl.when(pl.col("rule_no") == 0).then(values[0])
    for i, value in enumerate(values[1:], 1):
        expr = expr.when(pl.col("rule_no") == i).then(value)
    return expr.otherwise(None)


def lifecycle_rows(
    leads: pl.DataFrame,
    statuses: pl.DataFrame,
    deals: Deals,
    scores: pl.DataFrame,
    previous: pl.DataFrame,
    run_date: dt.date,
    tracks: Tracks,
    horizon_days: int,
) -> pl.DataFrame:
    """Tonight's lead_lifecycle rows (`LIFECYCLE_COLUMNS`), as `LifecycleSql.lifecycle_statement`
    selects them."""
    t = tracks
    end = F.snapshot_cutoff(run_date)
    recent_from = end - dt.timedelta(days=horizon_days)
    last_status = statuses.sort("changed_at").group_by("lead_id").agg(pl.all().last())
    members = pl.concat(
        [
            scores.select("lead_id"),
            last_status.filter(pl.col("changed_at") >= recent_from).select("lead_id"),
            deals.rows.filter(
                pl.col("lead_id").is_not_null()
                & ((pl.col("created_at") >= recent_from) | (pl.col("closed_at") >= recent_from))
            ).select("lead_id"),
            previous.filter(pl.col("nurture_track") != NO_TRACK).select("lead_id"),
        ]
    ).unique()
    account_deals = (
        deals.rows.filter((pl.col("stage") == "closed_won") & pl.col("account_id").is_not_null())
        .group_by("account_id")
        .agg(pl.col("closed_at").min().alias("account_won_at"))
    )
    stage_of = pl.when(pl.col("won_at").is_not_null()).then(pl.lit("customer"))
    for condition, name in [
        (pl.col("open_deal") == 1, "opportunity"),
        (pl.col("lost_deal") == 1, "closed_lost"),
        (pl.col("status") == "disqualified", "disqualified"),
        (pl.col("status") == "qualified", "sales_qualified"),
        (pl.col("status") == "working", "sdr_working"),
        (pl.col("sdr_ready") == 1, "sdr_ready"),
        (pl.col("status") == "nurture", "nurture"),
        (pl.col("signed_up") == 1, "product_user"),
    ]:
        stage_of = stage_of.when(condition).then(pl.lit(name))
    stage_of = stage_of.otherwise(pl.lit("lead"))
    journey = pl.when(
        (pl.col("account_customer") == 1)
        & pl.col("stage").is_in(["lead", "product_user", "nurture", "closed_lost"])
    ).then(pl.lit("expand"))
    for stage, step in JOURNEY.items():
        journey = journey.when(pl.col("stage") == stage).then(pl.lit(step))
    rule_no = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.Int64))
    for i, r in enumerate(t.rules):
        held = pl.lit(True)
        for fact, value in r.conditions.items():
            held = held & _rule_condition(fact, value)
        rule_no = rule_no.when(held).then(pl.lit(i, dtype=pl.Int64))
    persona = pl.lit("user")
    if t.personas:
        persona = pl.col("seniority").replace_strict(
            dict(sorted(t.personas.items())), default="user", return_dtype=pl.String
        )
    segment = (
        pl.concat_str([pl.col(p) for p in t.segment_by], separator="/")
        if t.segment_by
        else pl.lit("default")
    )
    # One lazy query, run by the streaming engine: eagerly, each join and column step of a
    # million leads' rows was a whole copy held beside the last (the night's peak, +0.8 GB).
    facts = (
        members.lazy()
        .join(leads.lazy(), on="lead_id", how="inner")
        .join(scores.lazy().select("lead_id", "score", "sdr_ready"), on="lead_id", how="left")
        .join(last_status.lazy().select("lead_id", "status"), on="lead_id", how="left")
        .join(deals.per_lead.lazy(), on="lead_id", how="left")
        .join(account_deals.lazy(), on="account_id", how="left")
        .with_columns(
            pl.col("status").fill_null("open"),
            (pl.col("score") + 0.5).cast(pl.Int64).alias("score"),
            pl.col("sdr_ready").fill_null(False).cast(pl.Int64),
            pl.col("signed_up_at").is_not_null().cast(pl.Int64).alias("signed_up"),
            pl.col("account_won_at").is_not_null().cast(pl.Int64).alias("account_customer"),
            _days_since(end, "created_at").alias("days_since_created"),
            _days_since(end, "signed_up_at").alias("days_since_signup"),
            pl.col("documents_90d").fill_null(0),
            pl.col("product_actions_90d").fill_null(0),
            (pl.lit(run_date) - pl.col("last_product_on"))
            .dt.total_days()
            .alias("days_since_product_activity"),
            _days_since(end, "won_at").alias("days_since_won"),
            _days_since(end, "account_won_at").alias("days_since_account_won"),
        )
        .with_columns(
            stage_of.alias("stage"),
            persona.alias("persona"),
            (t.contract_days - pl.col("days_since_account_won") % t.contract_days).alias(
                "days_to_renewal"
            ),
        )
        .with_columns(rule_no.alias("rule_no"))
        .with_columns(
            _by_rule([pl.lit(r.track) for r in t.rules]).alias("nurture_track"),
            _by_rule([pl.lit(r.name) for r in t.rules]).alias("track_rule"),
            _by_rule([_reason_expr(r.reason) for r in t.rules]).alias("rule_reason"),
            segment.alias("segment"),
            journey.alias("journey_stage"),
        )
    )
    track, was = pl.col("nurture_track"), pl.col("previous_track")
    change = (
        pl.when((track != NO_TRACK) & (was.is_null() | (was == NO_TRACK)))
        .then(pl.lit("joined"))
        .when(
            (track != NO_TRACK)
            & ((was != track) | (pl.col("previous_segment") != pl.col("segment")))
        )
        .then(pl.lit("moved"))
        .when((track == NO_TRACK) & (was != NO_TRACK))
        .then(pl.lit("left"))
        .otherwise(pl.lit("unchanged"))
    )
    drip = (
        pl.when(track == NO_TRACK)
        .then(pl.lit("no drip track"))
        .otherwise(track.str.replace_all("_", " ", literal=True))
    )
    return (
        facts.join(
            previous.lazy().select(
                "lead_id",
                pl.col("nurture_track").alias("previous_track"),
                pl.col("segment").alias("previous_segment"),
                pl.col("entered_on").alias("previous_entered_on"),
            ),
            on="lead_id",
            how="left",
        )
        .with_columns(
            pl.lit(run_date).alias("score_date"),
            pl.col("stage").alias("lifecycle_stage"),
            pl.concat_str([pl.col("rule_reason"), pl.lit(" → "), drip]).alias("reason"),
            pl.when(was == track)
            .then(pl.col("previous_entered_on"))
            .otherwise(pl.lit(run_date))
            .alias("entered_on"),
            change.alias("track_change"),
        )
        .select(LIFECYCLE_COLUMNS)
        .sort("lead_id")
        .collect(engine="streaming")
    )


def funnel_rows(
    leads: pl.DataFrame,
    statuses: pl.DataFrame,
    deals: Deals,
    scores: pl.DataFrame,
    routings: pl.DataFrame,
    engaged: pl.DataFrame,
    run_date: dt.date,
    tracks: Tracks,
) -> pl.DataFrame:
    """Tonight's funnel_daily rows (`FUNNEL_COLUMNS`), as `LifecycleSql.funnel_statement`
    selects them. `routings`: lead_id, score_date, routed_at of every routing up to tonight's."""
    first = cohort_start(run_date, tracks)
    routed = routings.filter(pl.col("score_date") <= run_date)
    ready = (
        pl.concat(
            [
                routed.select("lead_id", pl.col("score_date").alias("sdr_ready_on")),
                scores.filter(pl.col("sdr_ready")).select(
                    "lead_id", pl.col("sdr_ready_since").alias("sdr_ready_on")
                ),
            ]
        )
        .group_by("lead_id")
        .agg(pl.col("sdr_ready_on").min())
    )
    first_routed = routed.group_by("lead_id").agg(
        pl.col("routed_at").min().dt.date().alias("routed_on")
    )
    qualified = (
        statuses.filter(pl.col("status") == "qualified")
        .group_by("lead_id")
        .agg(pl.col("changed_at").min().dt.date().alias("qualified_on"))
    )
    lead_deals = deals.per_lead.select(
        "lead_id",
        pl.col("deal_created_at").dt.date().alias("opportunity_on"),
        pl.col("won_at").dt.date().alias("won_on"),
    )
    dates = ["created_on", *[f"{s}_on" for s in STEPS[1:]]]
    steps = (
        leads.filter(pl.col("created_at") >= dt.datetime.combine(first, dt.time()))
        .select(
            "lead_id",
            "lead_source",
            pl.col("created_at").dt.truncate("1mo").dt.date().alias("cohort_month"),
            pl.col("created_at").dt.date().alias("created_on"),
            pl.col("signed_up_at").dt.date().alias("signed_up_on"),
        )
        .join(engaged, on="lead_id", how="left")
        .join(ready, on="lead_id", how="left")
        .join(first_routed, on="lead_id", how="left")
        .join(qualified, on="lead_id", how="left")
        .join(lead_deals, on="lead_id", how="left")
    )
    furthest = pl.lit(0)
    for i in range(1, len(STEPS)):
        furthest = pl.when(pl.col(dates[i]).is_not_null()).then(pl.lit(i)).otherwise(furthest)
    group = ["lead_source", "cohort_month"]
    counts = (
        steps.with_columns(furthest.alias("furthest"))
        .group_by(group)
        .agg((pl.col("furthest") >= i).sum().cast(pl.Int64).alias(s) for i, s in enumerate(STEPS))
    )
    gaps = pl.concat(
        [
            steps.filter(
                pl.col(dates[i]).is_not_null() & pl.col(dates[i - 1]).is_not_null()
            ).select(
                *group,
                pl.lit(s).alias("step"),
                (pl.col(dates[i]) - pl.col(dates[i - 1])).dt.total_days().alias("days"),
            )
            for i, s in enumerate(STEPS)
            if i
        ]
    ).filter(pl.col("days") >= 0)
    medians = (
        gaps.group_by(*group, "step")
        .agg(pl.col("days").cast(pl.Float64).median().alias("median_days"))
        .pivot(on="step", index=group, values="median_days")
    )
    medians = medians.with_columns(
        (pl.col(s) if s in medians.columns else pl.lit(None, pl.Float64)).alias(f"days_to_{s}")
        for s in STEPS[1:]
    )
    rates = [
        pl.when(pl.col(STEPS[i - 1]) > 0)
        .then(pl.col(s).cast(pl.Float64) / pl.col(STEPS[i - 1]))
        .otherwise(None)
        .alias(f"{s}_rate")
        for i, s in enumerate(STEPS)
        if i
    ]
    return (
        counts.join(
            medians.select(*group, *[f"days_to_{s}" for s in STEPS[1:]]),
            on=group,
            how="left",
        )
        .with_columns(pl.lit(run_date).alias("run_date"), *rates)
        .select(FUNNEL_COLUMNS)
        .sort(group)
    )
