"""Route: give each lead that newly became SDR-ready a team and a rep. Data in, data out.

Team: the first matching rule of the routing file. Rep: the account's owner, else the rep who
got an earlier lead of the same account, else the next rep of the team in round-robin order
(pointer kept across nights), skipping inactive reps and reps at their daily capacity. A lead
no rep can take waits in the team's overflow (shown in v_sdr_queue) and is tried again the next
night. A lead is routed once per SDR-ready episode, and again only when it fell below the
threshold, crossed it again, and its last routing is older than `reroute_after_days`. The
follow-up deadline counts clock hours, or working hours of the team's calendar (`[sla]`).

Entry point: `route_leads`, which reads what routing remembers between nights from the warehouse
it is handed, gives every scored lead its team, and routes tonight's newly SDR-ready leads.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from leadscore.contract import COUNTRY_REGION, SOURCE_COLUMNS
from leadscore.errors import LeadscoreError
from leadscore.settings import Settings, read_toml
from leadscore.tasks.score import SCORE_COLUMNS
from leadscore.warehouse import Warehouse

RULE_KEYS = {"name", "team", "region", "country", "segment", "industry", "target_account"}
SLA_KEYS = {"business_hours", "opens", "closes", "days", "timezone", "holidays", "team_timezones"}
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@dataclass(frozen=True)
class Sla:
    """When a routed lead's follow-up is due: `hours` after routing, of clock or working time.

    With `business_hours`, only the time between `opens` and `closes` on working days that are not
    holidays counts, in the team's time zone (else `timezone`). Times in and out are naive UTC.
    """

    hours: float = 48
    business_hours: bool = False
    opens: dt.time = dt.time(9)
    closes: dt.time = dt.time(17)
    days: frozenset[int] = frozenset(range(5))
    timezone: str = "UTC"
    holidays: frozenset[dt.date] = frozenset()
    team_timezones: dict[str, str] = field(default_factory=dict)

    def due(self, routed_at: dt.datetime, team: str) -> dt.datetime:
        if not self.business_hours:
            return routed_at + dt.timedelta(hours=self.hours)
        zone = ZoneInfo(self.team_timezones.get(team, self.timezone))
        now = routed_at.replace(tzinfo=dt.UTC).astimezone(zone)
        remaining = dt.timedelta(hours=self.hours)
        day = now.date()
        # Working time is counted on the wall clock: clocks change at night, outside working hours.
        for _ in range(366 * 5):
            if day.weekday() in self.days and day not in self.holidays:
                opens = dt.datetime.combine(day, self.opens, zone)
                closes = dt.datetime.combine(day, self.closes, zone)
                begin = max(now, opens)
                if begin < closes:
                    if remaining <= closes - begin:
                        return (begin + remaining).astimezone(dt.UTC).replace(tzinfo=None)
                    remaining -= closes - begin
            day += dt.timedelta(days=1)
            now = dt.datetime.combine(day, dt.time(), zone)
        raise LeadscoreError(
            "routing file [sla]: no working hours in five years (check days and holidays)"
        )


@dataclass(frozen=True)
class Rules:
    """The routing file, checked: team rules in order, segments, regions, the follow-up deadline,
    and after how many days a lead that became SDR-ready again may be routed again."""

    rules: list[dict[str, Any]]
    segments: dict[str, tuple[int, int]]
    regions: dict[str, str]
    sla: Sla = Sla()
    reroute_after_days: int = 30


def load_rules(path: Path, sla_hours: float = 48, reroute_after_days: int = 30) -> Rules:
    """Read and check the routing file; a mistake names the file, the rule and the key.

    `sla_hours` (setting `sla_hours`): how long after routing a follow-up is due;
    `reroute_after_days` (setting `reroute_after_days`): see `candidates`.
    """
    data = read_toml(path, "routing")
    rules = data.get("rules") or []
    if not rules:
        raise LeadscoreError(f"routing file {path}: no [[rules]]")
    segments = {name: (int(lo), int(hi)) for name, (lo, hi) in (data.get("segments") or {}).items()}
    for i, rule in enumerate(rules, 1):
        label = rule.get("name", f"rule {i}")
        unknown = set(rule) - RULE_KEYS
        if unknown:
            raise LeadscoreError(
                f"routing file {path}: {label}: unknown key(s) {', '.join(sorted(unknown))}"
            )
        if not rule.get("team"):
            raise LeadscoreError(f"routing file {path}: {label}: no team")
        for seg in rule.get("segment", []):
            if seg not in segments and seg != "unknown":
                raise LeadscoreError(
                    f"routing file {path}: {label}: segment {seg!r} is not in [segments]"
                )
    regions = COUNTRY_REGION | {k.upper(): v for k, v in (data.get("regions") or {}).items()}
    return Rules(
        rules=rules,
        segments=segments,
        regions=regions,
        sla=load_sla(path, data.get("sla") or {}, sla_hours),
        reroute_after_days=reroute_after_days,
    )


def load_sla(path: Path, table: dict[str, Any], hours: float) -> Sla:
    """The `[sla]` table of the routing file; a mistake names the file and the key."""
    where = f"routing file {path}: [sla]"
    unknown = set(table) - SLA_KEYS
    if unknown:
        raise LeadscoreError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")

    def clock(key: str, default: dt.time) -> dt.time:
        try:
            return dt.time.fromisoformat(str(table[key])) if key in table else default
        except ValueError:
            raise LeadscoreError(
                f"{where}: {key} = {table[key]!r} is not a time of day (HH:MM)"
            ) from None

    opens, closes = clock("opens", dt.time(9)), clock("closes", dt.time(17))
    if opens >= closes:
        raise LeadscoreError(
            f"{where}: opens ({opens:%H:%M}) must be before closes ({closes:%H:%M})"
        )
    names = [str(d).lower()[:3] for d in table.get("days", WEEKDAYS[:5])]
    if not names or any(n not in WEEKDAYS for n in names):
        raise LeadscoreError(
            f"{where}: days must name weekdays (mon ... sun), got {table.get('days')!r}"
        )
    try:
        holidays = frozenset(dt.date.fromisoformat(str(d)) for d in table.get("holidays", []))
    except ValueError:
        raise LeadscoreError(f"{where}: holidays must be dates (YYYY-MM-DD)") from None
    timezone = str(table.get("timezone", "UTC"))
    zones = {str(k): str(v) for k, v in (table.get("team_timezones") or {}).items()}
    for key, zone in [("timezone", timezone), *zones.items()]:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise LeadscoreError(f"{where}: {key}: unknown time zone {zone!r}") from None
    return Sla(
        hours=hours,
        business_hours=bool(table.get("business_hours", False)),
        opens=opens,
        closes=closes,
        days=frozenset(WEEKDAYS.index(n) for n in names),
        timezone=timezone,
        holidays=holidays,
        team_timezones=zones,
    )


def segment(employee_count: pl.Expr, segments: dict[str, tuple[int, int]]) -> pl.Expr:
    expr = pl.when(employee_count.is_null()).then(pl.lit("unknown"))
    for name, (lo, hi) in segments.items():
        expr = expr.when(employee_count.is_between(lo, hi)).then(pl.lit(name))
    return expr.otherwise(pl.lit("unknown"))


def assign_teams(leads: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """lead_id, team, rule of leads (country_code, employee_count, industry, is_target_account)."""
    frame = leads.with_columns(
        pl.when(pl.col("country_code").is_null())
        .then(pl.lit("unknown"))
        .otherwise(
            pl.col("country_code").cast(pl.String).replace_strict(rules.regions, default="other")
        )
        .alias("_region"),
        segment(pl.col("employee_count"), rules.segments).alias("_segment"),
        pl.col("industry").cast(pl.String).str.to_lowercase().alias("_industry"),
        pl.col("is_target_account").cast(pl.Boolean).fill_null(False).alias("_target"),
    )
    team, name = pl.lit(None, dtype=pl.String), pl.lit(None, dtype=pl.String)
    for i, rule in reversed(list(enumerate(rules.rules, 1))):
        cond = pl.lit(True)
        for key, column in (
            ("region", "_region"),
            ("country", "country_code"),
            ("segment", "_segment"),
            ("industry", "_industry"),
        ):
            if key in rule:
                cond = cond & pl.col(column).is_in([str(v) for v in rule[key]])
        if "target_account" in rule:
            cond = cond & (pl.col("_target") == bool(rule["target_account"]))
        team = pl.when(cond).then(pl.lit(rule["team"])).otherwise(team)
        name = pl.when(cond).then(pl.lit(rule.get("name", f"rule {i}"))).otherwise(name)
    return frame.select("lead_id", team.alias("team"), name.alias("rule"))


def candidates(
    ready: pl.DataFrame, history: pl.DataFrame, run_date: dt.date, reroute_after_days: int
) -> pl.DataFrame:
    """SDR-ready leads not yet routed in their current episode, highest priority first.

    `ready`: lead_id, sdr_ready_since, priority, ...;
    `history`: lead_routing (lead_id, score_date).
    """
    last = history.group_by("lead_id").agg(pl.col("score_date").max().alias("last_routed"))
    recent = run_date - dt.timedelta(days=reroute_after_days)
    return (
        ready.join(last, on="lead_id", how="left")
        .filter(
            pl.col("last_routed").is_null()
            | (
                (pl.col("last_routed") < pl.col("sdr_ready_since"))
                & (pl.col("last_routed") <= recent)
            )
        )
        .drop("last_routed")
        .sort(["priority", "lead_id"], descending=[True, False])
    )


@dataclass(frozen=True)
class RoutingState:
    """What routing remembers between nights: earlier routings (lead_routing), the reps (sdr_reps),
    and each team's round-robin pointer (its last rep)."""

    history: pl.DataFrame
    reps: pl.DataFrame
    pointers: dict[str, str]


@dataclass(frozen=True)
class Routed:
    """Tonight's scores with each lead's team, the new lead_routing rows, the round-robin pointers
    after tonight, and the SDR-ready leads no rep had room for."""

    scores: pl.DataFrame
    routing: pl.DataFrame
    pointers: dict[str, str]
    overflow: pl.DataFrame


HISTORY_SCHEMA = {
    "lead_id": pl.String,
    "account_id": pl.String,
    "rep_id": pl.String,
    "team": pl.String,
    "score_date": pl.Date,
    "routed_at": pl.Datetime,
}


def read_state(wh: Warehouse) -> RoutingState:
    """The routing state as stored before tonight (empty before a first night)."""
    history = wh.read_if_exists("lead_routing", "select_routing_history", schema=HISTORY_SCHEMA)
    pointers = wh.read_if_exists(
        "routing_state",
        "select_routing_state",
        schema={"team": pl.String, "last_rep_id": pl.String},
    )
    reps = wh.read("select_sdr_reps", schema=SOURCE_COLUMNS["sdr_reps"])
    return RoutingState(history, reps, dict(pointers.iter_rows()))


def route_leads(
    wh: Warehouse,
    scores: pl.DataFrame,
    profiles: pl.DataFrame,
    run_date: dt.date,
    settings: Settings,
    run_id: str,
) -> Routed:
    """Give every scored lead its team, and route tonight's due SDR-ready leads to reps."""
    rules = load_rules(settings.routing_path, settings.sla_hours, settings.reroute_after_days)
    teams = assign_teams(profiles, rules)
    with_team = scores.join(teams.select("lead_id", "team"), on="lead_id", how="left").select(
        SCORE_COLUMNS
    )
    leads = profiles.select("lead_id", "account_id", "owner_id").join(
        teams.select("lead_id", "rule"), on="lead_id", how="left"
    )
    routing, pointers, overflow = route_night(
        with_team, leads, read_state(wh), rules, run_date, run_id
    )
    return Routed(with_team, routing, pointers, overflow)


def route_night(
    scores: pl.DataFrame,
    leads: pl.DataFrame,
    state: RoutingState,
    rules: Rules,
    run_date: dt.date,
    run_id: str,
) -> tuple[pl.DataFrame, dict[str, str], pl.DataFrame]:
    """Route tonight's SDR-ready leads that are due (see `candidates`), in priority order.

    `scores`: tonight's scores (lead_id, team, sdr_ready, sdr_ready_since, priority, score);
    `leads`: lead_id, account_id, owner_id, rule (the routing rule that chose its team).
    Returns the new lead_routing rows, the updated round-robin pointers, and the overflow.
    """
    ready = scores.filter(pl.col("sdr_ready")).join(leads, on="lead_id", how="left")
    todo = candidates(ready, state.history, run_date, rules.reroute_after_days)
    return route(todo, state.reps, state.history, state.pointers, run_date, rules.sla, run_id)


def route(
    todo: pl.DataFrame,
    reps: pl.DataFrame,
    history: pl.DataFrame,
    pointers: dict[str, str],
    run_date: dt.date,
    sla: Sla,
    run_id: str,
) -> tuple[pl.DataFrame, dict[str, str], pl.DataFrame]:
    """Assign reps to `todo` (lead_id, account_id, owner_id, team, score, in priority order).

    `history`: earlier lead_routing rows (lead_id, account_id, rep_id, score_date, routed_at).
    Returns the new lead_routing rows, the updated round-robin pointers, and the overflow.
    """
    active = reps.filter(pl.col("active"))
    capacity = dict(zip(active["rep_id"], active["daily_capacity"], strict=True))
    team_of = dict(zip(active["rep_id"], active["team"], strict=True))
    for rep, n in (
        history.filter(pl.col("score_date") == run_date).group_by("rep_id").len().iter_rows()
    ):
        if rep in capacity:
            capacity[rep] -= n
    by_team: dict[str, list[str]] = {}
    for rep in sorted(capacity):
        by_team.setdefault(team_of[rep], []).append(rep)
    account_rep = dict(
        history.filter(pl.col("account_id").is_not_null())
        .sort("routed_at")
        .select("account_id", "rep_id")
        .iter_rows()
    )
    pointers = dict(pointers)
    routed_at = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time())
    rows, overflow = [], []
    for lead in todo.iter_rows(named=True):
        rep, rule = None, None
        owner, account = lead.get("owner_id"), lead.get("account_id")
        if owner and capacity.get(owner, 0) > 0:
            rep, rule = owner, "account_owner"
        elif account and capacity.get(account_rep.get(account), 0) > 0:
            rep, rule = account_rep[account], "account_rep"
        else:
            team_reps = by_team.get(lead["team"], [])
            start = (
                team_reps.index(pointers[lead["team"]]) + 1
                if pointers.get(lead["team"]) in team_reps
                else 0
            )
            for k in range(len(team_reps)):
                candidate = team_reps[(start + k) % len(team_reps)]
                if capacity[candidate] > 0:
                    rep, rule = candidate, f"round_robin:{lead['rule']}"
                    pointers[lead["team"]] = candidate
                    break
        if rep is None:
            overflow.append({"lead_id": lead["lead_id"], "team": lead["team"]})
            continue
        capacity[rep] -= 1
        if account:
            account_rep[account] = rep
        rows.append(
            {
                "lead_id": lead["lead_id"],
                "routed_at": routed_at,
                "score_date": run_date,
                "account_id": account,
                # An owner or earlier rep may sit in another team: the lead follows the rep.
                "team": team_of[rep],
                "rep_id": rep,
                "rule": rule,
                "score": float(lead["score"]),
                "sla_due_at": sla.due(routed_at, team_of[rep]),
                "run_id": run_id,
            }
        )
    schema = {
        "lead_id": pl.String,
        "routed_at": pl.Datetime("us"),
        "score_date": pl.Date,
        "account_id": pl.String,
        "team": pl.String,
        "rep_id": pl.String,
        "rule": pl.String,
        "score": pl.Float64,
        "sla_due_at": pl.Datetime("us"),
        "run_id": pl.String,
    }
    return (
        pl.DataFrame(rows, schema=schema),
        pointers,
        pl.DataFrame(overflow, schema={"lead_id": pl.String, "team": pl.String}),
    )
