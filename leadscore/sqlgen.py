"""SQL generated from the same specification the local path runs in polars: the feature rows of
a set of snapshots, and a fitted scorecard's points and close probability.

Nothing here is written twice by hand: the engagement windows come from `features.WINDOWS`, the
title and e-mail rules from `features.SENIORITY_PATTERNS` and `PERSONAL_DOMAINS`, the regions from
the contract, the lifecycle bands from `features.LIFECYCLE_BANDS`, and the points from the
scorecard's own bins and weights. What a dialect spells its own way (time arithmetic, regular
expressions, exact float literals) comes from the warehouse adapter's `sql_*` methods.

Rounding: polars and numpy round by scaling and rounding half to even (`rint(x * 10**d) / 10**d`);
`rounded` spells that in SQL with floor(), which both dialects compute exactly.
"""

from __future__ import annotations

import datetime as dt

from leadscore.contract import COUNTRY_REGION, EMAIL_RE, SCORABLE_STATUSES
from leadscore.tasks import features as F
from leadscore.warehouse import Warehouse


def text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def text_list(values: list[str] | tuple[str, ...]) -> str:
    return ", ".join(text(v) for v in values)


def rounded(expr: str, decimals: int) -> str:
    """`expr` rounded as numpy and polars round it: scaled, then half to even."""
    scale = f"{10**decimals}.0"
    y = f"({expr}) * {scale}"
    return (
        f"((case when {y} - floor({y}) < 0.5 then floor({y}) "
        f"when {y} - floor({y}) > 0.5 then floor({y}) + 1 "
        f"when mod(cast(floor({y}) as bigint), 2) = 0 then floor({y}) "
        f"else floor({y}) + 1 end) / {scale})"
    )


def seniority_case(wh: Warehouse, title_key: str) -> str:
    """The seniority of `title_key` (a title lower-cased and stripped), as `features.seniority`
    reads it."""
    seniority = f"case when {title_key} is null or {title_key} = '' then 'unknown'"
    for level, patterns in F.SENIORITY_PATTERNS:
        pattern = "|".join(f"(?:{p})" for p in patterns)
        seniority += f" when {wh.sql_matches(title_key, text(pattern))} then {text(level)}"
    return seniority + " else 'individual' end"


# What `FeatureSql.profiles_statement` selects besides lead_id, in order: the fit features and
# the columns routing and the account roll-up read.
PROFILE_COLUMNS = ("account_id", "owner_id", "created_at", "country_code", *F.FIT_FEATURES)


class FeatureSql:
    """The statements that compute feature rows in the warehouse for one night (`run_date`),
    reading the source tables as that night saw them, without the rows validation set aside
    (`quarantine`: a table of source_table, row_key), and daily activity from `activity` (a
    table or subquery of lead_id, activity_date, event, events); every lead's profile is computed
    once into `profiles` (`profiles_statement`) and read by each set of feature rows, and the
    status spans likewise into `status_spans` (`status_spans_statement`)."""

    def __init__(
        self,
        wh: Warehouse,
        run_date: dt.date,
        quarantine: str,
        activity: str,
        user_leads: str,
        profiles: str,
        status_spans: str,
    ):
        self.wh = wh
        self.end = F.snapshot_cutoff(run_date)
        self.quarantine = quarantine
        self.activity = activity
        self.user_leads = user_leads
        self.profiles = profiles
        self.status_spans = status_spans

    # ---- the source tables as of the night
    def kept(self, table: str, key: str) -> str:
        return (
            f"{key} not in (select row_key from {self.quarantine} "
            f"where source_table = {text(table)} and row_key is not null)"
        )

    def sources(self) -> str:
        """CTEs: leads, accounts, opportunities (stage as of the night), status changes."""
        end = self.wh.sql_timestamp(self.end)
        return f"""
leads as (
    select lead_id, account_id, email, title, country, lead_source, created_at
    from crm_leads
    where created_at < {end} and {self.kept("crm_leads", "lead_id")}
),
accounts as (
    select account_id, industry, country, is_target_account, owner_id,
        cast(employee_count as double precision) as employee_count,
        cast(sales_team_size as double precision) as sales_team_size
    from crm_accounts
    where created_at < {end} and {self.kept("crm_accounts", "account_id")}
),
opportunities as (
    select lead_id, account_id, created_at,
        case when closed_at < {end} then stage else 'open' end as stage,
        case when closed_at < {end} then closed_at end as closed_at
    from crm_opportunities
    where created_at < {end} and {self.kept("crm_opportunities", "opportunity_id")}
),
status_changes as (
    select lead_id, status, changed_at from crm_lead_status_changes where changed_at < {end}
)"""

    def user_leads_statement(self) -> str:
        """Product users matched to leads by e-mail key (lead_id, user_id, signed_up_at)."""
        end = self.wh.sql_timestamp(self.end)
        key = self.email_key
        return f"""
with {self.sources().strip()},
users as (
    select user_id, email, signed_up_at from product_users
    where signed_up_at < {end} and {self.kept("product_users", "user_id")}
)
select l.lead_id, u.user_id, u.signed_up_at
from users u join leads l on {key("u.email")} = {key("l.email")}"""

    def status_spans_statement(self) -> str:
        """SELECT of each status change as of the night and when the next one came (lead_id,
        status, changed_at, next_at): a lead's status at a snapshot is the span it falls in. The
        same for every snapshot of the night, so it is computed once (`status_spans`)."""
        return f"""
with {self.sources().strip()}
select lead_id, status, changed_at,
    lead(changed_at) over (partition by lead_id order by changed_at) as next_at
from status_changes"""

    def email_key(self, email: str) -> str:
        return self.wh.sql_lower(self.wh.sql_without_whitespace(email))

    # ---- snapshot rows: who is scorable at each snapshot, with status and age
    def snapshots(self, days: list[dt.date], horizon_days: int | None) -> str:
        wh = self.wh
        rows = []
        for day in days:
            cutoff = F.snapshot_cutoff(day)
            label_end = cutoff + dt.timedelta(days=horizon_days or 0)
            rows.append(
                f"select {wh.sql_date(day)} as snapshot, {wh.sql_timestamp(cutoff)} as cutoff, "
                f"{wh.sql_timestamp(label_end)} as label_end"
            )
        return " union all ".join(rows)

    def base(self, days: list[dt.date], horizon_days: int | None) -> str:
        """CTEs up to `scorable`: lead_id, snapshot, cutoff, status, lead_age_days, days_in_status
        (and label, when `horizon_days`), as `features.snapshot_frame` computes them."""
        wh = self.wh
        seconds = wh.sql_seconds_between
        day = wh.sql_float(F.DAYS_PER_SECOND)
        label = labels = won_join = ""
        if horizon_days is not None:
            # A join, not `exists` in a CASE: PostgreSQL runs such a subquery once per row.
            label = """,
    case when w.lead_id is not null then 1 else 0 end as label"""
            labels = """
won as (
    select distinct b.lead_id, b.snapshot
    from base b join opportunities o on o.lead_id = b.lead_id
    where o.stage = 'closed_won' and o.closed_at is not null
        and o.closed_at >= b.cutoff and o.closed_at < b.label_end
),"""
            won_join = "\n    left join won w on w.lead_id = b.lead_id and w.snapshot = b.snapshot"
        return f"""{self.sources()},
snaps as ({self.snapshots(days, horizon_days)}),
base as (
    select l.lead_id, s.snapshot, s.cutoff, s.label_end, l.created_at
    from leads l join snaps s on l.created_at < s.cutoff
),{labels}
last_change as (
    select b.lead_id, b.snapshot, c.status, c.changed_at
    from base b join {self.status_spans} c on c.lead_id = b.lead_id and c.changed_at < b.cutoff
        and (c.next_at is null or c.next_at >= b.cutoff)
),
first_opportunity as (
    select lead_id, min(created_at) as first_at from opportunities
    where lead_id is not null group by lead_id
),
scorable as (
    select b.lead_id, b.snapshot, b.cutoff, b.created_at,
        coalesce(c.status, 'open') as status,
        {seconds("b.cutoff", "b.created_at")} * {day} as lead_age_days,
        {seconds("b.cutoff", "coalesce(c.changed_at, b.created_at)")} * {day}
            as days_in_status{label}
    from base b
    left join last_change c
        on c.lead_id = b.lead_id and c.snapshot = b.snapshot
    left join first_opportunity f on f.lead_id = b.lead_id{won_join}
    where coalesce(c.status, 'open') in ({text_list(SCORABLE_STATUSES)})
        and (f.first_at is null or f.first_at >= b.cutoff)
)"""

    # ---- feature rows
    def profiles_statement(self) -> str:
        """SELECT of every lead's fit features and the columns routing reads (`features.profile`):
        no time dependence, so a night computes them once (`profiles`) for all its snapshots.

        The cleaned title, e-mail key and country are computed once per lead in `cleaned`, and
        the rules read those columns: spelled inline, each rule would clean its text again."""
        wh = self.wh
        seniority = seniority_case(wh, "c.title_key")
        key = "c.email_key"
        domain = f"substr({key}, {wh.sql_position(key, text('@'))} + 1)"
        email_type = (
            f"case when not {wh.sql_matches(key, text(EMAIL_RE))} then 'malformed' "
            f"when {domain} in ({text_list(sorted(F.PERSONAL_DOMAINS))}) then 'personal' "
            "else 'corporate' end"
        )
        target = f"case when c.is_target_account = {wh.sql_bool(True)} then 1 else 0 end"
        columns = {
            "account_id": "c.account_id",
            "owner_id": "c.owner_id",
            "created_at": "c.created_at",
            "country_code": "c.country_code",
            "seniority": seniority,
            "email_type": email_type,
            "employee_count": "c.employee_count",
            "sales_team_size": "c.sales_team_size",
            "industry": "c.industry",
            "region": region_case("c.country_code", COUNTRY_REGION),
            "is_target_account": target,
            "lead_source": "c.lead_source",
            "has_account": "case when c.account_id is not null then 1 else 0 end",
        }
        listed = ",\n    ".join(f"{columns[name]} as {name}" for name in PROFILE_COLUMNS)
        return f"""
with {self.sources().strip()},
cleaned as materialized (
    select l.lead_id, l.account_id, a.owner_id, l.created_at, l.lead_source,
        a.employee_count, a.sales_team_size, a.is_target_account,
        {wh.sql_lower(wh.sql_strip("l.title"))} as title_key,
        {self.email_key("l.email")} as email_key,
        {wh.sql_strip(wh.sql_upper("coalesce(l.country, a.country)"))} as country_code,
        {wh.sql_lower("a.industry")} as industry
    from leads l
    left join accounts a on a.account_id = l.account_id
)
select c.lead_id,
    {listed}
from cleaned c"""

    def engagement(self, keys: str, days: list[dt.date]) -> str:
        """CTE `engagement`: the windows of `features.WINDOWS` per (lead, snapshot) of `keys`,
        whose snapshots are among `days`: the activity read is bounded by their lookback (a
        range of the roll-up's key, not the whole history)."""
        wh = self.wh
        first = min(days) - dt.timedelta(days=F.LOOKBACK_DAYS - 1)
        columns = []
        for w in F.WINDOWS:
            kept = f"a.event in ({text_list(w.events)})"
            if w.days < F.LOOKBACK_DAYS:
                kept += f" and a.ago < {w.days}"
            if w.measure == "events":
                columns.append(f"sum(case when {kept} then a.events end) as {w.name}")
            elif w.measure == "active_days":
                columns.append(
                    f"count(distinct case when {kept} then a.activity_date end) as {w.name}"
                )
            else:
                columns.append(f"min(case when {kept} then a.ago end) as {w.name}")
        listed = ",\n        ".join(columns)
        ago = wh.sql_days_between("k.snapshot", "d.activity_date")
        return f"""engagement as (
    select a.lead_id, a.snapshot,
        {listed}
    from (
        select k.lead_id, k.snapshot, d.activity_date, d.event, d.events, {ago} as ago
        from {keys} k join {self.activity} d on d.lead_id = k.lead_id
        where d.activity_date <= k.snapshot
            and {ago} < {F.LOOKBACK_DAYS}
            and d.activity_date >= {wh.sql_date(first)}
            and d.activity_date <= {wh.sql_date(max(days))}
    ) a
    group by a.lead_id, a.snapshot
)"""

    def rows(self, keys: str, days: list[dt.date], carry: list[str]) -> str:
        """SELECT of the feature rows of `keys` (a table of lead_id, snapshot, cutoff, status,
        lead_age_days, days_in_status and the `carry` columns; snapshots among `days`), with
        every column of `features.FEATURES` and those routing and scoring read."""
        profile = PROFILE_COLUMNS
        counts = [w.name for w in F.WINDOWS if w.is_count]
        recency = [w.name for w in F.WINDOWS if not w.is_count]
        lifecycle = lifecycle_sql("k.lead_age_days", "coalesce(e.active_days_30d, 0)")
        carried = "".join(f", k.{c}" for c in carry)
        return f"""
with signups as (
    select lead_id, min(signed_up_at) as signed_up_at from {self.user_leads} group by lead_id
),
{self.engagement(keys, days)}
select k.lead_id, k.snapshot, k.cutoff{carried},
    {", ".join(f"p.{name}" for name in profile)},
    {", ".join(f"coalesce(e.{c}, 0) as {c}" for c in counts)},
    {", ".join(f"e.{c}" for c in recency)},
    case when su.signed_up_at < k.cutoff then 1 else 0 end as signed_up,
    k.status, k.lead_age_days, k.days_in_status,
    {lifecycle} as lifecycle
from {keys} k
join {self.profiles} p on p.lead_id = k.lead_id
left join engagement e on e.lead_id = k.lead_id and e.snapshot = k.snapshot
left join signups su on su.lead_id = k.lead_id"""


def lifecycle_sql(age: str, active_days_30d: str) -> str:
    """`features.lifecycle` in SQL, from the same bands."""
    band = "case " + " ".join(
        f"when {age} < {bound} then {text(label)}" for bound, label in F.LIFECYCLE_BANDS[:-1]
    )
    band += f" else {text(F.LIFECYCLE_BANDS[-1][1])} end"
    active = f"case when {active_days_30d} > 0 then 'active' else 'inactive' end"
    return f"({band} || ', ' || {active})"


class ScorecardSql:
    """A fitted scorecard in SQL: one CASE per feature giving its points (the bins and weights of
    the model, scaled as `train.Scale` scales them), the fit / engagement split and the close
    probability. Columns are read from the alias `row`."""

    def __init__(self, wh: Warehouse, model: object, scale: object):
        self.wh = wh
        self.model = model
        self.scale = scale

    def _case(self, spec: dict, values: list[float], column: str) -> str:
        lit = self.wh.sql_float
        missing = values[-1]
        if spec["kind"] == "numeric":
            parts = [f"when {column} is null then {lit(missing)}"]
            parts += [
                f"when {column} <= {lit(float(edge))} then {lit(v)}"
                for edge, v in zip(spec["edges"], values, strict=False)
            ]
            return f"(case {' '.join(parts)} else {lit(values[len(spec['edges'])])} end)"
        levels = spec["levels"]
        parts = [f"when {column} is null then {lit(missing)}"]
        parts += [
            f"when {column} = {text(level)} then {lit(values[i])}" for i, level in enumerate(levels)
        ]
        return f"(case {' '.join(parts)} else {lit(values[len(levels)])} end)"

    def _linear(self, spec: dict, scale: float, column: str) -> str:
        """`scale` times the column's linear term (`CloseProbabilityModel` numeric "linear" or
        "both"): slope * (value clipped to its range - centre), 0 where the value is missing."""
        line = spec.get("linear")
        if not line or line["slope"] == 0:
            return ""
        lit = self.wh.sql_float
        clipped = (
            f"(case when {column} < {lit(line['low'])} then {lit(line['low'])}"
            f" when {column} > {lit(line['high'])} then {lit(line['high'])} else {column} end)"
        )
        return (
            f" + (case when {column} is null then 0.0 else"
            f" {lit(scale * line['slope'])} * ({clipped} - {lit(line['center'])}) end)"
        )

    def points(self, name: str, alias: str = "row") -> str:
        """The points feature `name` gives: factor * (its contribution - the feature's lowest)."""
        j = [b["name"] for b in self.model.bins_].index(name)
        spec, floor = self.model.bins_[j], self.scale.floor[j]
        values = [self.scale.factor * (float(w) - floor) for w in self.model.weights_[j]]
        column = f"{alias}.{name}"
        return self._with_linear(self._case(spec, values, column), spec, self.scale.factor, column)

    def _with_linear(self, case: str, spec: dict, scale: float, column: str) -> str:
        linear = self._linear(spec, scale, column)
        return f"({case}{linear})" if linear else case

    def bin_index(self, name: str, alias: str = "row") -> str:
        """The bin of feature `name` a row falls in: an index into the bin's `labels`, as
        `CloseProbabilityModel.bin_indices` gives it."""
        j = [b["name"] for b in self.model.bins_].index(name)
        spec = self.model.bins_[j]
        return self._case(spec, list(range(len(spec["labels"]))), f"{alias}.{name}")

    def deviation(self, name: str, alias: str = "row") -> str:
        """Points against the average lead's (`Scale.reference`), as the reasons rank them."""
        j = [b["name"] for b in self.model.bins_].index(name)
        spec, floor, ref = self.model.bins_[j], self.scale.floor[j], self.scale.reference[j]
        values = [self.scale.factor * (float(w) - floor) - ref for w in self.model.weights_[j]]
        column = f"{alias}.{name}"
        return self._with_linear(self._case(spec, values, column), spec, self.scale.factor, column)

    def weight(self, name: str, alias: str = "row") -> str:
        j = [b["name"] for b in self.model.bins_].index(name)
        spec, column = self.model.bins_[j], f"{alias}.{name}"
        case = self._case(spec, [float(w) for w in self.model.weights_[j]], column)
        return self._with_linear(case, spec, 1.0, column)

    def fit_points(self, alias: str = "row") -> str:
        """The sum of the fit features' points, before rounding (round it on its column: the
        expression is long, and `rounded` repeats its argument)."""
        return " + ".join(self.points(c, alias) for c in F.FIT_FEATURES)

    def engagement_points(self, alias: str = "row") -> str:
        return " + ".join(self.points(c, alias) for c in F.ENGAGEMENT_FEATURES)

    def calibrated_logit(self, alias: str = "row") -> str:
        """a * (intercept + the features' weights) + b: the logit of the close probability."""
        lit = self.wh.sql_float
        a, b = self.model.calibration_
        logit = " + ".join(
            [lit(self.model.intercept_), *(self.weight(c, alias) for c in F.FEATURES)]
        )
        return f"({lit(a)} * ({logit}) + {lit(b)})"


def probability(logit: str) -> str:
    """The close probability of a calibrated logit column, unrounded. exp() of a very large
    number overflows on PostgreSQL; the probability rounds to 0 long before."""
    return f"1.0 / (1.0 + exp(case when -{logit} > 700 then 700 else -{logit} end))"


def points_select(card: ScorecardSql, source: str, extra: str = "") -> str:
    """lead_id (and `extra` columns of the rows), fit_score, engagement_score, score and
    close_probability of the feature rows of `source`, rounded as the local path rounds them."""
    # Each step is materialized: SQLite would otherwise substitute each column's expression into
    # the next step (and `rounded` repeats its argument), a statement growing beyond memory.
    return f"""
with raw as materialized (
    select row.lead_id{extra.replace(", ", ", row.")},
        {card.fit_points()} as fit_raw,
        {card.engagement_points()} as engagement_raw,
        {card.calibrated_logit()} as logit
    from {source} row
),
parts as materialized (
    select lead_id{extra}, {rounded("fit_raw", 1)} as fit_score,
        {rounded("engagement_raw", 1)} as engagement_score, logit
    from raw
)
select lead_id{extra}, fit_score, engagement_score,
    {rounded("fit_score + engagement_score", 1)} as score,
    {rounded(probability("logit"), 6)} as close_probability
from parts"""


def region_case(country: str, regions: dict[str, str]) -> str:
    """The region of a country code: 'unknown' when missing, 'other' when not in `regions`."""
    by_region: dict[str, list[str]] = {}
    for code, region in regions.items():
        by_region.setdefault(region, []).append(code)
    return (
        f"case when {country} is null then 'unknown' "
        + " ".join(
            f"when {country} in ({text_list(codes)}) then {text(name)}"
            for name, codes in by_region.items()
        )
        + " else 'other' end"
    )


def keeps(i: str, size: int, keep: int, seed: int) -> str:
    """`features.keeps` in SQL: whether row `i` (0-based) of `size` is among `keep` drawn
    systematically, rotated by `seed` (integer division truncates in both dialects; SQLite's
    mod() gives a float, hence the cast)."""
    j = f"cast(mod({i} + {seed % size}, {size}) as bigint)"
    return f"(({j} + 1) * {keep}) / {size} > ({j} * {keep}) / {size}"


def teams_select(wh: Warehouse, rules: object, rows: str) -> str:
    """SELECT lead_id, team, rule of the feature rows of `rows`, as `route.assign_teams` gives
    them: the first routing rule whose conditions all hold (team and rule null when none does)."""
    region = region_case("row.country_code", rules.regions)
    segment = "case when row.employee_count is null then 'unknown' " + " ".join(
        f"when row.employee_count between {lo} and {hi} then {text(name)}"
        for name, (lo, hi) in rules.segments.items()
    )
    segment += " else 'unknown' end"
    teams, names = [], []
    for i, rule in enumerate(rules.rules, 1):
        conditions = ["1 = 1"]
        for key, column in (
            ("region", "region"),
            ("country", "country_code"),
            ("segment", "segment"),
            ("industry", "industry"),
        ):
            if key in rule:
                conditions.append(f"{column} in ({text_list([str(v) for v in rule[key]])})")
        if "target_account" in rule:
            conditions.append(f"target = {1 if rule['target_account'] else 0}")
        condition = " and ".join(conditions)
        teams.append(f"when {condition} then {text(rule['team'])}")
        names.append(f"when {condition} then {text(rule.get('name', f'rule {i}'))}")
    team = f"case {' '.join(teams)} end" if teams else "cast(null as text)"
    rule_name = f"case {' '.join(names)} end" if names else "cast(null as text)"
    return f"""
with t as materialized (
    select row.lead_id, row.country_code, {region} as region, {segment} as segment,
        {wh.sql_lower("row.industry")} as industry,
        case when row.is_target_account = 1 then 1 else 0 end as target
    from {rows} row
)
select lead_id, {team} as team, {rule_name} as rule from t"""
