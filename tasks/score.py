"""Score: close probability, points split into fit and engagement, velocity, SDR readiness and
readable reasons, for every scorable lead, and the account roll-up. Data in, data out.

Entry point: `score_leads`, which reads yesterday's scores from the warehouse it is handed (to
carry SDR-ready episodes over), chooses tonight's SDR-ready threshold (`threshold`) and scores
tonight's feature rows. Routing adds each lead's team.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from leadscore.run import logger
from leadscore.settings import Settings
from leadscore.tasks import threshold
from leadscore.tasks.features import (
    ENGAGEMENT_FEATURES,
    FEATURES,
    FIT_FEATURES,
    VELOCITY_DAYS,
    FeatureSet,
    lifecycle,
)
from leadscore.tasks.threshold import Demand, Threshold, demand_local
from leadscore.tasks.train import ModelChoice, Scorer
from leadscore.warehouse import Warehouse

ZERO_ACTIVITY = {
    c: 0
    for c in ENGAGEMENT_FEATURES
    if c not in {"lead_age_days", "lifecycle", "status", "days_in_status", "product_days_ago"}
}


# Feature rows scored at a time: the score step holds the points matrix (rows x features,
# float64) of one chunk, not of every scorable lead (690k leads: 330 MB a matrix, and reasons'
# ordering of it as much again). Every value is computed per row, so chunks change no number.
CHUNK_ROWS = 100_000


def chunks(rows: pl.DataFrame) -> list[pl.DataFrame]:
    """`rows` in consecutive slices of at most CHUNK_ROWS (one, empty, for no rows)."""
    return [rows.slice(i, CHUNK_ROWS) for i in range(0, max(rows.height, 1), CHUNK_ROWS)]


def probability(scorer: Scorer, rows: pl.DataFrame) -> np.ndarray:
    """The close probability of each of `rows`, a chunk at a time."""
    return np.concatenate([scorer.probability(part) for part in chunks(rows)])


FIT_INDEX = [FEATURES.index(c) for c in FIT_FEATURES]
ENGAGEMENT_INDEX = [FEATURES.index(c) for c in ENGAGEMENT_FEATURES]


def points_frame(scorer: Scorer, rows: pl.DataFrame) -> pl.DataFrame:
    """lead_id, fit_score, engagement_score, score (rounded so fit + engagement = score exactly)."""
    return _points_frame(rows, [_split(scorer.points(part)) for part in chunks(rows)])


def _split(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A chunk's fit and engagement points per row."""
    return points[:, FIT_INDEX].sum(axis=1), points[:, ENGAGEMENT_INDEX].sum(axis=1)


def _points_frame(rows: pl.DataFrame, parts: list[tuple[np.ndarray, np.ndarray]]) -> pl.DataFrame:
    fit = np.round(np.concatenate([f for f, _ in parts]), 1)
    eng = np.round(np.concatenate([e for _, e in parts]), 1)
    return pl.DataFrame(
        {
            "lead_id": rows["lead_id"],
            "fit_score": fit,
            "engagement_score": eng,
            "score": np.round(fit + eng, 1),
        }
    )


@dataclass(frozen=True)
class Tonight:
    """Tonight's feature rows scored in one pass (`score_rows`): their points (`points_frame`),
    close probabilities and reasons."""

    points: pl.DataFrame
    probability: np.ndarray
    reasons: pl.Series


def score_rows(scorer: Scorer, rows: pl.DataFrame) -> Tonight:
    """`points_frame`, `probability` and `reasons` of `rows` (the same values), each chunk's
    per-feature points computed once for all three."""
    words = _Reasons(scorer, rows.schema)
    parts, probabilities, said = [], [], []
    for part in chunks(rows):
        points, p = scorer.score(part)
        parts.append(_split(points))
        probabilities.append(p)
        said.append(words.of(part, points))
    return Tonight(_points_frame(rows, parts), np.concatenate(probabilities), pl.concat(said))


def at_creation(rows: pl.DataFrame) -> pl.DataFrame:
    """The same leads as they stood when created: no activity, status open, age zero."""
    return rows.with_columns(
        *(pl.lit(v, dtype=rows.schema[c]).alias(c) for c, v in ZERO_ACTIVITY.items()),
        pl.lit("open").alias("status"),
        pl.lit(0.0).alias("lead_age_days"),
        pl.lit(0.0).alias("days_in_status"),
        pl.lit(None, dtype=rows.schema["product_days_ago"]).alias("product_days_ago"),
    ).with_columns(lifecycle(pl.col("lead_age_days"), pl.col("active_days_30d")).alias("lifecycle"))


def velocity(today: pl.DataFrame, week_ago: pl.DataFrame, created: pl.DataFrame) -> pl.DataFrame:
    """Points gained per day over the last 7 days; for younger leads, per day of age since creation.

    `today`, `week_ago`, `created`: lead_id, score (the last two may lack leads).
    """
    return (
        today.select("lead_id", "score", "lead_age_days")
        .join(
            week_ago.select("lead_id", pl.col("score").alias("score_then")),
            on="lead_id",
            how="left",
        )
        .join(
            created.select("lead_id", pl.col("score").alias("score_created")),
            on="lead_id",
            how="left",
        )
        .with_columns(
            pl.when(pl.col("score_then").is_not_null())
            .then((pl.col("score") - pl.col("score_then")) * (1 / VELOCITY_DAYS))
            .otherwise(
                (pl.col("score") - pl.col("score_created"))
                / pl.col("lead_age_days").clip(lower_bound=1.0)
            )
            .round(2)
            .alias("velocity")
        )
        .select("lead_id", "velocity")
    )


@dataclass(frozen=True)
class Scored:
    """Tonight's lead scores (every column of lead_scores but `team`) and account roll-up."""

    scores: pl.DataFrame
    accounts: pl.DataFrame
    model_version: str
    threshold: Threshold


def score_leads(
    wh: Warehouse,
    feats: FeatureSet,
    model: ModelChoice,
    run_date: dt.date,
    run_id: str,
    settings: Settings,
) -> Scored:
    """Score tonight's scorable leads with the model chosen tonight, cut them at tonight's
    SDR-ready threshold (`threshold.choose`), and roll them up by account."""
    scorer = model.scorer
    previous = wh.read_if_exists(
        "lead_score_history",
        "select_previous_scores",
        {"score_date": (run_date - dt.timedelta(days=1)).isoformat()},
        PREVIOUS_SCHEMA,
    )
    tonight = score_rows(scorer, feats.today)
    points = (
        tonight.points,
        points_frame(scorer, feats.week_ago) if feats.week_ago.height else tonight.points.clear(),
    )
    routed = wh.read_if_exists("lead_routing", "select_routed_leads", schema={"lead_id": pl.String})
    cut = night_threshold(
        wh, model, settings, run_date, lambda at: demand_local(*points, routed["lead_id"], at)
    )
    scores = score_night(
        scorer,
        feats.today,
        feats.week_ago,
        previous,
        run_date,
        run_id,
        cut.threshold_points,
        points,
        tonight,
    )
    week_ago = points[1] if feats.week_ago.height else None
    accounts = account_scores(scores, feats.profiles, week_ago, run_id)
    return Scored(scores, accounts, scorer.version, cut)


def night_threshold(
    wh: Warehouse,
    model: ModelChoice,
    settings: Settings,
    run_date: dt.date,
    demand: Callable[[list[float]], Demand],
) -> Threshold:
    """Tonight's SDR-ready threshold for the scoring model: its curve on tonight's holdout, the
    SDRs' capacity, and the `demand` at each threshold of the curve (counted where the scores
    are)."""
    held = points_frame(model.scorer, model.holdout)["score"].to_numpy()
    found = threshold.curve(held, model.holdout, settings)
    cut = threshold.choose(
        model.scorer,
        found,
        demand(found.points if found else []),
        threshold.read_capacity(wh, run_date),
        run_date,
        settings,
    )
    logger().info(cut.summary)
    return cut


def night_points(
    scorer: Scorer, today: pl.DataFrame, week_ago: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The points of tonight's feature rows and of a week ago's (`points_frame`)."""
    pts = points_frame(scorer, today)
    then = points_frame(scorer, week_ago) if week_ago.height else pts.clear()
    return pts, then


PREVIOUS_SCHEMA = {"lead_id": pl.String, "sdr_ready": pl.Boolean, "sdr_ready_since": pl.Date}


def score_night(
    scorer: Scorer,
    today: pl.DataFrame,
    week_ago: pl.DataFrame,
    previous: pl.DataFrame,
    run_date: dt.date,
    run_id: str,
    threshold_points: float | None = None,
    points: tuple[pl.DataFrame, pl.DataFrame] | None = None,
    tonight: Tonight | None = None,
) -> pl.DataFrame:
    """The night's lead_scores rows, but their team.

    `today` / `week_ago`: feature rows as of the run date and VELOCITY_DAYS before.
    `previous`: yesterday's lead_score_history rows (lead_id, sdr_ready, sdr_ready_since).
    `threshold_points`: tonight's SDR-ready score (default: the model's). `points`:
    `night_points` of `today` and `week_ago`, where the caller has them already; `tonight`:
    `score_rows` of `today`, likewise (its probabilities and reasons are used).
    """
    pts, then = points or night_points(scorer, today, week_ago)
    pts = pts.with_columns(today["lead_age_days"].alias("lead_age_days"))
    then = then.select("lead_id", "score")
    created = points_frame(scorer, at_creation(today))
    cut = scorer.scale.threshold_points if threshold_points is None else threshold_points
    prev = previous.select(
        "lead_id", pl.col("sdr_ready").alias("was_ready"), pl.col("sdr_ready_since").alias("since")
    )
    created_day = today.select("lead_id", pl.col("created_at").dt.date().alias("created_day"))
    frame = (
        pts.join(velocity(pts, then, created), on="lead_id", how="left")
        .with_columns(
            pl.Series(
                "close_probability",
                np.round(tonight.probability if tonight else probability(scorer, today), 6),
            ),
            (pl.col("score") >= cut).alias("sdr_ready"),
        )
        .join(prev, on="lead_id", how="left")
        .join(created_day, on="lead_id", how="left")
        .with_columns(
            pl.when(
                pl.col("sdr_ready")
                & pl.col("was_ready").fill_null(False)
                & pl.col("since").is_not_null()
            )
            .then(pl.col("since"))
            .when(pl.col("sdr_ready"))
            .then(pl.lit(run_date))
            .otherwise(None)
            .alias("sdr_ready_since"),
        )
        .with_columns(
            (pl.col("sdr_ready_since") - pl.col("created_day"))
            .dt.total_days()
            .cast(pl.Int32)
            .alias("days_to_sdr_ready"),
            # A lead that got here fast comes first: a week of its pace, on top of its score.
            (pl.col("score") + VELOCITY_DAYS * pl.col("velocity").clip(lower_bound=0))
            .round(1)
            .alias("priority"),
        )
        .with_columns(
            pl.lit(run_date).alias("score_date"),
            (tonight.reasons if tonight else reasons(scorer, today)).alias("top_reasons"),
            pl.lit(scorer.version).alias("model_version"),
            pl.lit(run_id).alias("run_id"),
        )
    )
    return frame.select(SCORED_COLUMNS).sort("lead_id")


# The columns of lead_scores and lead_score_history; routing adds the team.
SCORE_COLUMNS = [
    "lead_id",
    "score_date",
    "close_probability",
    "score",
    "fit_score",
    "engagement_score",
    "velocity",
    "priority",
    "sdr_ready",
    "sdr_ready_since",
    "days_to_sdr_ready",
    "team",
    "top_reasons",
    "model_version",
    "run_id",
]
SCORED_COLUMNS = [c for c in SCORE_COLUMNS if c != "team"]


def account_scores(
    scores: pl.DataFrame, profiles: pl.DataFrame, week_ago: pl.DataFrame | None, run_id: str
) -> pl.DataFrame:
    """Per account: P(at least one lead closes), best lead, SDR-ready count, engagement, trend.

    Leads are treated as independent: 1 - prod(1 - p). `week_ago`: lead_id, engagement_score
    as the same model scored the leads 7 days before (None on a first night).
    """
    with_account = scores.join(profiles.select("lead_id", "account_id"), on="lead_id").filter(
        pl.col("account_id").is_not_null()
    )
    if week_ago is not None:
        past = (
            week_ago.join(profiles.select("lead_id", "account_id"), on="lead_id")
            .group_by("account_id")
            .agg(pl.col("engagement_score").sum().alias("engagement_then"))
        )
    else:
        past = pl.DataFrame(schema={"account_id": pl.String, "engagement_then": pl.Float64})
    return (
        with_account.sort(["score", "lead_id"], descending=[True, False])
        .group_by("account_id", maintain_order=True)
        .agg(
            (1 - (1 - pl.col("close_probability")).product()).round(6).alias("close_probability"),
            pl.col("lead_id").first().alias("best_lead_id"),
            pl.col("score").first().alias("best_lead_score"),
            pl.len().cast(pl.Int32).alias("scored_leads"),
            pl.col("sdr_ready").sum().cast(pl.Int32).alias("sdr_ready_leads"),
            pl.col("engagement_score").sum().round(1).alias("engagement_score"),
            pl.col("score_date").first(),
        )
        .join(past, on="account_id", how="left")
        .with_columns(
            (pl.col("engagement_score") - pl.col("engagement_then").fill_null(0.0))
            .round(1)
            .alias("engagement_trend"),
            pl.lit(run_id).alias("run_id"),
        )
        .select(
            "account_id",
            "score_date",
            "close_probability",
            "best_lead_id",
            "best_lead_score",
            "scored_leads",
            "sdr_ready_leads",
            "engagement_score",
            "engagement_trend",
            "run_id",
        )
        .sort("account_id")
    )


# ---- reasons, in the words a sales rep uses
SENIORITY_WORDS = {
    "c_level": "C-level",
    "vp": "VP",
    "director": "Director",
    "manager": "Manager",
    "individual": "Individual contributor",
    "intern": "Intern or student",
    "unknown": "No job title",
}
ACTION_WORDS = {
    "document_created": ("Created", "document"),
    "document_sent": ("Sent", "document"),
    "document_signed": ("Signed", "document"),
    "template_created": ("Created", "template"),
    "teammate_invited": ("Invited", "teammate"),
    "integration_connected": ("Connected", "integration"),
    "billing_page_viewed": ("Viewed billing", "time"),
}
MARKETING_WORDS = {
    "whitepaper_download": "whitepaper download",
    "webinar_registration": "webinar registration",
    "webinar_attended": "webinar attended",
    "pricing_page_view": "pricing page view",
    "docs_page_view": "docs page view",
    "demo_request": "demo request",
    "email_open": "email open",
    "email_click": "email click",
    "website_visit": "site visit",
}


def _ago(days: int | None) -> str:
    if days is None:
        return ""
    return " today" if days == 0 else " yesterday" if days == 1 else f" {days} days ago"


def _plural(n: int, word: str) -> str:
    return f"{'a' if n == 1 else n} {word}{'' if n == 1 else 's'}"


def phrase(feature: str, row: dict) -> str:
    """One factor of one lead, as a sales rep would say it."""
    value = row.get(feature)
    if feature == "seniority":
        word = SENIORITY_WORDS.get(value, value)
        return (
            f"{word} at a target account"
            if row.get("is_target_account") and value in {"c_level", "vp", "director"}
            else (f"{word} title" if value not in {"unknown", "individual", "intern"} else word)
        )
    if feature == "email_type":
        return {
            "corporate": "Corporate email",
            "personal": "Personal email address",
            "malformed": "Email address looks invalid",
        }.get(value, str(value))
    if feature == "employee_count":
        return "Company size unknown" if value is None else f"Company of {int(value):,} employees"
    if feature == "sales_team_size":
        return "Sales team size unknown" if value is None else f"Sales team of {int(value):,}"
    if feature == "industry":
        return "Industry unknown" if value is None else f"Industry: {str(value).replace('_', ' ')}"
    if feature == "region":
        return f"Region: {value}"
    if feature == "is_target_account":
        return "Target account" if value else "Not a target account"
    if feature == "lead_source":
        return f"Came from {str(value).replace('_', ' ')}"
    if feature == "has_account":
        return "Matched to a company" if value else "Not matched to a company"
    if feature == "signed_up":
        return "Signed up for the product" if value else "Has not signed up for the product"
    if feature == "lead_age_days":
        days = int(value)
        return (
            "New lead, created today"
            if days == 0
            else f"New lead, {_plural(days, 'day')} old"
            if days <= 14
            else f"Lead is {days} days old"
        )
    if feature == "days_in_status":
        days = int(value)
        status = {"open": "untouched", "working": "worked by an SDR", "nurture": "in nurture"}.get(
            row.get("status"), ""
        )
        span = "less than a day" if days == 0 else _plural(days, "day")
        return f"{status.capitalize()} for {span}" if status else f"{span} in status"
    if feature == "product_days_ago":
        return (
            "Never used the product"
            if value is None
            else f"Last used the product{_ago(int(value))}"
        )
    if feature == "lifecycle":
        age, activity = str(value).split(", ")
        active = activity == "active"
        if age.startswith("31"):
            return f"{'Still using' if active else 'Not using'} the product after a month"
        return f"{'Using the product' if active else 'No product use'} in the first {age}"
    if feature == "status":
        return {
            "open": "Not contacted yet",
            "working": "An SDR is working it",
            "nurture": "In nurture",
        }.get(value, value)
    if feature.startswith("active_days_"):
        window = feature.rsplit("_", 1)[1][:-1]
        return (
            f"Came back on {_plural(int(value), 'day')} in the last {window} days"
            if value
            else f"No product activity in the last {window} days"
        )
    event, window = feature.rsplit("_", 1)
    days = int(window[:-1])
    n = int(value or 0)
    period = "this week" if days == 7 else f"in the last {days} days"
    if event in ACTION_WORDS:
        verb, noun = ACTION_WORDS[event]
        if not n:
            return f"No {noun}s {verb.lower()} {period}"
        recency = row.get(f"{event}_days_ago")
        if n == 1:
            return f"{verb} {_plural(1, noun)}{_ago(recency)}"
        return f"{verb} {n} {noun}s {period}" + (
            f" (last{_ago(recency)})" if recency is not None else ""
        )
    if event in MARKETING_WORDS:
        return (
            f"{_plural(n, MARKETING_WORDS[event])} {period}"
            if n
            else f"No {MARKETING_WORDS[event]}s {period}"
        )
    return f"{feature}: {value}"


def phrase_columns(feature: str) -> list[str]:
    """The columns `phrase` reads for `feature`: its own value first, then any other it says."""
    if feature == "seniority":
        return [feature, "is_target_account"]
    if feature == "days_in_status":
        return [feature, "status"]
    event = feature.rsplit("_", 1)[0]
    if event in ACTION_WORDS and not feature.endswith("_days_ago"):
        return [feature, f"{event}_days_ago"]
    return [feature]


def silences(feature: str, said: str) -> str | None:
    """The factor that `said`, the phrase of `feature`, already says (it is left out)."""
    if feature == "seniority" and said.endswith("target account"):
        return "is_target_account"
    if feature == "days_in_status":
        return "status"  # "Untouched for 2 days"
    return None


# Reasons of one lead: its strongest factors first (at most STRONGEST, each at least MIN_POINTS
# above an average lead's), then its weakest (at most WEAKEST, at least MIN_POINTS below). Ties
# go to the earlier feature among the strongest, the later among the weakest.
STRONGEST, WEAKEST, MIN_POINTS = 3, 2, 2.0
AVERAGE_LEAD = "Close to an average lead"


def reasons(scorer: Scorer, rows: pl.DataFrame) -> pl.Series:
    """The factors that move each lead's score most against an average lead, strongest first.

    A chunk of rows at a time, each lead's picks are ranked with numpy, and the values they read
    put into words once per distinct (factor, values) by `phrase` (`phrases`, which the warehouse
    path uses too), not once per lead."""
    words = _Reasons(scorer, rows.schema)
    return pl.concat([words.of(part, scorer.points(part)) for part in chunks(rows)])


class _Reasons:
    """The reasons of consecutive chunks of feature rows (`reasons`); a phrase once worded is
    not worded again."""

    def __init__(self, scorer: Scorer, schema: pl.Schema):
        self.reference = np.asarray(scorer.scale.reference)
        self.schema = schema
        self.known = phrases(pl.DataFrame(schema=PHRASE_KEYS), schema)

    def of(self, part: pl.DataFrame, points: np.ndarray) -> pl.Series:
        """The reasons of the rows of `part`, whose per-feature points are `points`."""
        keys = list(PHRASE_KEYS)
        picks = phrase_keys(part, _picks(points - self.reference))
        new = picks.select(keys).unique().join(self.known, on=keys, how="anti")
        if new.height:
            self.known = pl.concat([self.known, phrases(new, self.schema)])
        return _sentences(picks.join(self.known, on=keys, how="left"), part.height)


# What names one phrase: the feature (its place in FEATURES) and the values it reads.
PHRASE_KEYS = {"j": pl.Int64, "k0": pl.String, "k1": pl.String}


def _picks(deviation: np.ndarray) -> pl.DataFrame:
    """Each row's strongest factors (at most STRONGEST, ties: the earlier feature) and weakest
    (at most WEAKEST, ties: the later) beyond MIN_POINTS: row i, rank, feature j, points d
    (rounded half to even, as Python's format rounds them)."""
    order = np.argsort(-deviation, axis=1, kind="stable")
    slots = np.concatenate([order[:, :STRONGEST], order[:, ::-1][:, :WEAKEST]], axis=1)
    d = np.take_along_axis(deviation, slots, axis=1)
    keep = np.concatenate([d[:, :STRONGEST] >= MIN_POINTS, d[:, STRONGEST:] <= -MIN_POINTS], axis=1)
    i, rank = np.nonzero(keep)
    return pl.DataFrame(
        {"i": i, "rank": rank, "j": slots[i, rank], "d": np.rint(d[i, rank])},
        schema={"i": pl.Int64, "rank": pl.Int64, "j": pl.Int64, "d": pl.Float64},
    )


def _sentences(said: pl.DataFrame, height: int) -> pl.Series:
    """The reasons of rows 0..height-1 from their picks in words (i, j, rank, d, said,
    silences): a factor another one's phrase already says is left out."""
    silenced = said.filter(pl.col("silences").is_not_null()).select(
        "i", pl.col("silences").alias("j")
    )
    points = pl.col("d").cast(pl.Int64)
    words = (
        said.join(silenced, on=["i", "j"], how="anti")
        .sort("i", "rank")
        .group_by("i", maintain_order=True)
        .agg(
            pl.concat_str(
                pl.when(points >= 0).then(pl.lit("+")).otherwise(pl.lit("")),
                points,
                pl.lit(" "),
                "said",
            )
            .str.join("; ")
            .alias("top_reasons")
        )
    )
    return (
        pl.DataFrame({"i": np.arange(height, dtype=np.int64)})
        .join(words, on="i", how="left")
        .sort("i")["top_reasons"]
        .fill_null(AVERAGE_LEAD)
    )


def phrase_keys(rows: pl.DataFrame, picks: pl.DataFrame) -> pl.DataFrame:
    """`picks` (row i, feature j) with k0, k1: the values of row i that `phrase` reads for feature
    j (`phrase_columns`) as text keys, as the warehouse path keys them: 'n' for null, else 'v' and
    the value (numbers truncated to integers: `phrase` says them as int()); 'n' for a feature
    that reads one value only."""
    keyed = []
    for (j,), group in picks.group_by("j"):
        at = group["i"]
        keys = [_key(rows[c].gather(at)) for c in phrase_columns(FEATURES[j])]
        keys += [pl.Series(["n"] * group.height, dtype=pl.String)] * (2 - len(keys))
        keyed.append(group.with_columns(keys[0].alias("k0"), keys[1].alias("k1")))
    schema = picks.schema | {"k0": pl.String, "k1": pl.String}
    return pl.concat(keyed) if keyed else pl.DataFrame(schema=schema)


def _numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or dtype == pl.Boolean


def _key(values: pl.Series) -> pl.Series:
    if _numeric(values.dtype):
        values = values.cast(pl.Int64)
    return ("v" + values.cast(pl.String)).fill_null("n")


def phrases(keys: pl.DataFrame, schema: dict[str, pl.DataType] | pl.Schema) -> pl.DataFrame:
    """j, k0, k1, said, silences: each distinct (feature, values) the reasons name, in words.
    `schema`: the feature rows' types (a key's value is a number unless its column is text)."""
    names = list(FEATURES)
    rows = []
    for j, k0, k1 in keys.iter_rows():
        feature = names[j]
        row = {
            c: _value(c, k, schema) for c, k in zip(phrase_columns(feature), (k0, k1), strict=False)
        }
        said = phrase(feature, row)
        silenced = silences(feature, said)
        rows.append((j, k0, k1, said, names.index(silenced) if silenced else None))
    return pl.DataFrame(
        rows, schema=PHRASE_KEYS | {"said": pl.String, "silences": pl.Int64}, orient="row"
    )


def _value(column: str, key: str, schema: dict[str, pl.DataType] | pl.Schema) -> object:
    if key == "n":
        return None
    value = key[1:]
    return int(value) if _numeric(schema[column]) else value
