"""Score: close probability, points split into fit and engagement, velocity, SDR readiness and
readable reasons, for every scorable lead. Data in, data out.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from tasks.features import ENGAGEMENT_FEATURES, FEATURES, FIT_FEATURES, lifecycle
from tasks.train import Scorer

VELOCITY_DAYS = 7
ZERO_ACTIVITY = {c: 0 for c in ENGAGEMENT_FEATURES
                 if c not in {"lead_age_days", "lifecycle", "status", "days_in_status", "product_days_ago"}}


def points_frame(scorer: Scorer, rows: pl.DataFrame) -> pl.DataFrame:
    """lead_id, fit_score, engagement_score, score (rounded so fit + engagement = score exactly)."""
    points = scorer.points(rows)
    fit_idx = [FEATURES.index(c) for c in FIT_FEATURES]
    eng_idx = [FEATURES.index(c) for c in ENGAGEMENT_FEATURES]
    fit = np.round(points[:, fit_idx].sum(axis=1), 1)
    eng = np.round(points[:, eng_idx].sum(axis=1), 1)
    return pl.DataFrame({"lead_id": rows["lead_id"], "fit_score": fit, "engagement_score": eng,
                         "score": np.round(fit + eng, 1)})


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
        .join(week_ago.select("lead_id", pl.col("score").alias("score_then")), on="lead_id", how="left")
        .join(created.select("lead_id", pl.col("score").alias("score_created")), on="lead_id", how="left")
        .with_columns(
            pl.when(pl.col("score_then").is_not_null())
            .then((pl.col("score") - pl.col("score_then")) / VELOCITY_DAYS)
            .otherwise((pl.col("score") - pl.col("score_created")) / pl.col("lead_age_days").clip(lower_bound=1.0))
            .round(2)
            .alias("velocity"))
        .select("lead_id", "velocity")
    )


def score_night(scorer: Scorer, today: pl.DataFrame, week_ago: pl.DataFrame, previous: pl.DataFrame,
                run_date: dt.date, teams: pl.DataFrame, run_id: str) -> pl.DataFrame:
    """The night's lead_scores rows.

    `today` / `week_ago`: feature rows as of the run date and 7 days before.
    `previous`: yesterday's lead_score_history rows (lead_id, sdr_ready, sdr_ready_since).
    `teams`: lead_id, team from the routing rules.
    """
    pts = points_frame(scorer, today).with_columns(today["lead_age_days"].alias("lead_age_days"))
    then = points_frame(scorer, week_ago) if week_ago.height else pts.clear().select("lead_id", "score")
    created = points_frame(scorer, at_creation(today))
    threshold = scorer.scale.threshold_points
    prev = previous.select("lead_id", pl.col("sdr_ready").alias("was_ready"), pl.col("sdr_ready_since").alias("since"))
    created_day = today.select("lead_id", pl.col("created_at").dt.date().alias("created_day"))
    frame = (
        pts.join(velocity(pts, then, created), on="lead_id", how="left")
        .with_columns(
            pl.Series("close_probability", np.round(scorer.probability(today), 6)),
            (pl.col("score") >= threshold).alias("sdr_ready"),
        )
        .join(prev, on="lead_id", how="left")
        .join(created_day, on="lead_id", how="left")
        .with_columns(
            pl.when(pl.col("sdr_ready") & pl.col("was_ready").fill_null(False) & pl.col("since").is_not_null())
            .then(pl.col("since"))
            .when(pl.col("sdr_ready")).then(pl.lit(run_date))
            .otherwise(None).alias("sdr_ready_since"),
        )
        .with_columns(
            (pl.col("sdr_ready_since") - pl.col("created_day")).dt.total_days().cast(pl.Int32).alias("days_to_sdr_ready"),
            # A lead that got here fast comes first: a week of its pace, on top of its score.
            (pl.col("score") + VELOCITY_DAYS * pl.col("velocity").clip(lower_bound=0)).round(1).alias("priority"),
        )
        .join(teams, on="lead_id", how="left")
        .with_columns(
            pl.lit(run_date).alias("score_date"),
            pl.Series("top_reasons", reasons(scorer, today)),
            pl.lit(scorer.version).alias("model_version"),
            pl.lit(run_id).alias("run_id"),
        )
    )
    return frame.select(SCORE_COLUMNS).sort("lead_id")


SCORE_COLUMNS = ["lead_id", "score_date", "close_probability", "score", "fit_score", "engagement_score", "velocity",
                 "priority", "sdr_ready", "sdr_ready_since", "days_to_sdr_ready", "team", "top_reasons",
                 "model_version", "run_id"]


# ---- reasons, in the words a sales rep uses
SENIORITY_WORDS = {"c_level": "C-level", "vp": "VP", "director": "Director", "manager": "Manager",
                   "individual": "Individual contributor", "intern": "Intern or student", "unknown": "No job title"}
ACTION_WORDS = {
    "document_created": ("Created", "document"), "document_sent": ("Sent", "document"),
    "document_signed": ("Signed", "document"), "template_created": ("Created", "template"),
    "teammate_invited": ("Invited", "teammate"), "integration_connected": ("Connected", "integration"),
    "billing_page_viewed": ("Viewed billing", "time"),
}
MARKETING_WORDS = {
    "whitepaper_download": "whitepaper download", "webinar_registration": "webinar registration",
    "webinar_attended": "webinar attended", "pricing_page_view": "pricing page view",
    "docs_page_view": "docs page view", "demo_request": "demo request", "email_open": "email open",
    "email_click": "email click", "website_visit": "site visit",
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
        return f"{word} at a target account" if row.get("is_target_account") and value in {"c_level", "vp", "director"} \
            else (f"{word} title" if value not in {"unknown", "individual", "intern"} else word)
    if feature == "email_type":
        return {"corporate": "Corporate email", "personal": "Personal email address",
                "malformed": "Email address looks invalid"}.get(value, str(value))
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
        return "New lead, created today" if days == 0 else f"New lead, {_plural(days, 'day')} old" if days <= 14 \
            else f"Lead is {days} days old"
    if feature == "days_in_status":
        days = int(value)
        status = {"open": "untouched", "working": "worked by an SDR", "nurture": "in nurture"}.get(row.get("status"), "")
        span = "less than a day" if days == 0 else _plural(days, "day")
        return f"{status.capitalize()} for {span}" if status else f"{span} in status"
    if feature == "product_days_ago":
        return "Never used the product" if value is None else f"Last used the product{_ago(int(value))}"
    if feature == "lifecycle":
        age, activity = str(value).split(", ")
        return f"{'Using the product' if activity == 'active' else 'No product use'} in the first {age}" \
            if not age.startswith("31") else f"{'Still using' if activity == 'active' else 'Not using'} the product after a month"
    if feature == "status":
        return {"open": "Not contacted yet", "working": "An SDR is working it", "nurture": "In nurture"}.get(value, value)
    if feature.startswith("active_days_"):
        window = feature.rsplit("_", 1)[1][:-1]
        return (f"Came back on {_plural(int(value), 'day')} in the last {window} days" if value
                else f"No product activity in the last {window} days")
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
        return f"{verb} {n} {noun}s {period}" + (f" (last{_ago(recency)})" if recency is not None else "")
    if event in MARKETING_WORDS:
        return f"{_plural(n, MARKETING_WORDS[event])} {period}" if n else f"No {MARKETING_WORDS[event]}s {period}"
    return f"{feature}: {value}"


def reasons(scorer: Scorer, rows: pl.DataFrame, strongest: int = 3, weakest: int = 2, min_points: float = 2.0) -> list[str]:
    """The factors that move each lead's score most against an average lead, strongest first."""
    points = scorer.points(rows)
    deviation = points - np.asarray(scorer.scale.reference)
    names = list(FEATURES)
    records = rows.select([c for c in rows.columns if c in set(FEATURES) or c.endswith("_days_ago")]).to_dicts()
    out = []
    for i, row in enumerate(records):
        d = deviation[i]
        order = np.argsort(-d)
        up = [j for j in order[:strongest] if d[j] >= min_points]
        down = [j for j in order[::-1][:weakest] if d[j] <= -min_points]
        chosen = [names[j] for j in up + down]
        if "seniority" in chosen and phrase("seniority", row).endswith("target account"):
            chosen = [c for c in chosen if c != "is_target_account"]  # already said
        if "days_in_status" in chosen:
            chosen = [c for c in chosen if c != "status"]  # "Untouched for 2 days" says it
        parts = [f"{d[names.index(c)]:+.0f} {phrase(c, row)}" for c in chosen]
        out.append("; ".join(parts) if parts else "Close to an average lead")
    return out

