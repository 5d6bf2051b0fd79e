"""The night's HTML report for RevOps and marketing: seven charts in one self-contained page.

Written next to the night's Data Docs as `<data docs folder>/<run date>/report.html` and linked
from the night's artifact. The charts are drawn with matplotlib as inline SVG: the page loads no
script and nothing from the network, so it opens offline, from a mail attachment or a file share.

Entry point: `write_report(path, ReportData)`.
"""

from __future__ import annotations

import datetime as dt
import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from leadscore.tasks.lifecycle import STEPS

# Each chart: its id in the page (tests look for these), its title and what it tells the reader.
CHARTS = {
    "calibration": (
        "Calibration on the holdout",
        (
            "Predicted against observed close rate, by tenth of the predicted probability, on the "
            "latest snapshots (never used to fit). On the diagonal, a score of 20% closes at 20%."
        ),
    ),
    "gain": (
        "Cumulative gain and lift",
        (
            "The share of the closes found by working the best-scored share of the leads, against "
            "working them in random order (the diagonal)."
        ),
    ),
    "score-distribution": (
        "Tonight's score distribution",
        "Scored leads by points; the line is the SDR-ready threshold.",
    ),
    "points": (
        "Points per feature",
        (
            "The most points a value of each feature gives, for the 20 features that give the "
            "most (the points table as a chart): product actions should weigh far more than "
            "marketing touches."
        ),
    ),
    "teams": (
        "SDR-ready and routed per team, last 30 nights",
        "SDR-ready leads each night (lines) and leads routed to a rep (bars), per team.",
    ),
    "drift": (
        "Drift against the training window",
        (
            "Population stability index of the features that moved most, and of the score, between "
            "the training window and tonight's scored leads: below 0.1 stable, above 0.25 shifted."
        ),
    ),
    "funnel": (
        "Funnel by channel",
        (
            "Per lead source, the share of its leads (cohorts of the last 24 months) that reached "
            "each step, as of tonight."
        ),
    ),
}

# The points chart shows the features whose best value gives the most points.
POINTS_SHOWN = 20
FIT_COLOUR, ENGAGEMENT_COLOUR, ACCENT = "#4c72b0", "#dd8452", "#c44e52"


@dataclass(frozen=True)
class ReportData:
    run_date: dt.date
    model_version: str
    metrics: dict[str, Any]
    points_table: list[dict[str, Any]]
    # Tonight's scores (column `score`) and the SDR-ready threshold in points.
    scores: pl.DataFrame
    threshold_points: float
    # score_date, team, sdr_ready, routed over the last 30 nights.
    team_nights: pl.DataFrame
    # Tonight's funnel_daily rows (lead_source, cohort_month and the step counts).
    funnel: pl.DataFrame
    # Tonight's drift_daily rows (feature, psi, ...).
    drift: pl.DataFrame
    summary: list[str]


def write_report(path: Path, data: ReportData) -> Path:
    """Write the report page; returns its path."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    figures = {
        "calibration": calibration_chart(data.metrics),
        "gain": gain_chart(data.metrics),
        "score-distribution": score_chart(data.scores, data.threshold_points),
        "points": points_chart(data.points_table),
        "teams": teams_chart(data.team_nights, data.run_date),
        "drift": drift_chart(data.drift),
        "funnel": funnel_chart(data.funnel),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page(data, {k: svg(f) for k, f in figures.items()}), encoding="utf-8")
    return path


def svg(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and DOCTYPE: inline in HTML


def _figure(width: float = 6.4, height: float = 4.0) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text: searchable, smaller
    figure, ax = plt.subplots(figsize=(width, height))
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(alpha=0.25)
    return figure, ax


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def calibration_chart(metrics: dict[str, Any]) -> Any:
    figure, ax = _figure(5.2, 4.2)
    deciles = metrics.get("calibration_by_decile") or []
    predicted = [d["predicted"] for d in deciles]
    observed = [d["observed"] for d in deciles]
    top = max([*predicted, *observed, 0.01]) * 1.05
    ax.plot([0, top], [0, top], color="grey", lw=1, ls="--", label="perfect calibration")
    ax.plot(predicted, observed, marker="o", color=FIT_COLOUR, label="challenger, by decile")
    ax.set(xlabel="predicted close probability", ylabel="observed close rate")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.xaxis.set_major_formatter(_percent())
    ax.yaxis.set_major_formatter(_percent())
    ece = metrics.get("ece")
    ax.set_title(f"ECE {ece:.3f}" if ece is not None else "", fontsize=10)
    ax.legend(loc="upper left", frameon=False)
    return figure


def gain_chart(metrics: dict[str, Any]) -> Any:
    figure, ax = _figure()
    gain = metrics.get("gain_curve") or []
    leads = [0.0] + [g["leads"] for g in gain]
    closes = [0.0] + [g["closes"] for g in gain]
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="random order")
    ax.plot(leads, closes, marker=".", color=FIT_COLOUR, label="by score")
    ax.set(xlabel="share of leads worked, best-scored first", ylabel="share of closes found")
    ax.xaxis.set_major_formatter(_percent())
    ax.yaxis.set_major_formatter(_percent())
    lift = ax.twinx()
    lift.spines[["top"]].set_visible(False)
    lifts = [c / x for x, c in zip(leads[1:], closes[1:], strict=True)]
    lift.plot(leads[1:], lifts, color=ENGAGEMENT_COLOUR, ls=":", marker=".", label="lift")
    lift.set_ylabel("lift over random (x)")
    lift.set_ylim(bottom=0)
    handles = ax.get_legend_handles_labels()[0] + lift.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="lower right", frameon=False)
    return figure


def score_chart(scores: pl.DataFrame, threshold: float) -> Any:
    figure, ax = _figure()
    values = scores["score"].drop_nulls().to_numpy() if scores.height else []
    if len(values) == 0:
        _empty(ax, "no leads scored tonight")
        return figure
    ready = values >= threshold
    bins = 40
    ax.hist(values[~ready], bins=bins, color=FIT_COLOUR, alpha=0.85, label="below threshold")
    ax.hist(values[ready], bins=bins // 2, color=ENGAGEMENT_COLOUR, label="SDR-ready")
    ax.axvline(threshold, color=ACCENT, lw=2, label=f"SDR-ready threshold ({threshold:g} points)")
    ax.set(xlabel="score (points)", ylabel="leads")
    ax.set_yscale("log")
    ax.set_title(f"{ready.sum():,} of {len(values):,} leads SDR-ready", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    return figure


def points_chart(points_table: list[dict[str, Any]]) -> Any:
    table = pl.DataFrame(points_table) if points_table else pl.DataFrame()
    if table.is_empty():
        figure, ax = _figure()
        _empty(ax, "no points table")
        return figure
    best = (
        table.group_by("feature", "group")
        .agg(pl.col("points").max(), pl.col("value").sort_by("points").last())
        .sort("points")
        .tail(POINTS_SHOWN)
    )
    figure, ax = _figure(6.8, max(3.0, 0.32 * best.height + 1))
    colours = [FIT_COLOUR if g == "fit" else ENGAGEMENT_COLOUR for g in best["group"]]
    labels = [f"{f} = {v}" for f, v in best.select("feature", "value").iter_rows()]
    ax.barh(labels, best["points"], color=colours)
    ax.set(xlabel="points of the feature's best value (over its lowest)")
    from matplotlib.patches import Patch

    ax.legend(
        handles=[
            Patch(color=FIT_COLOUR, label="fit"),
            Patch(color=ENGAGEMENT_COLOUR, label="engagement"),
        ],
        loc="lower right",
        frameon=False,
    )
    return figure


def teams_chart(team_nights: pl.DataFrame, run_date: dt.date) -> Any:
    figure, ax = _figure(7.2, 4.2)
    if team_nights.is_empty():
        _empty(ax, "no nights published yet")
        return figure
    import matplotlib.dates as mdates

    frame = team_nights.with_columns(pl.col("score_date").cast(pl.Date)).sort("score_date")
    teams = sorted(frame["team"].unique().to_list())
    days = [run_date - dt.timedelta(days=29 - i) for i in range(30)]
    width = 0.8 / max(len(teams), 1)
    palette = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3"]
    for i, team in enumerate(teams):
        rows = frame.filter(pl.col("team") == team)
        by_day = {
            d: (r, q) for d, r, q in rows.select("score_date", "sdr_ready", "routed").iter_rows()
        }
        colour = palette[i % len(palette)]
        ready = [by_day.get(d, (0, 0))[0] for d in days]
        routed = [by_day.get(d, (0, 0))[1] for d in days]
        offsets = [mdates.date2num(d) - 0.4 + (i + 0.5) * width for d in days]
        ax.bar(offsets, routed, width=width, color=colour, alpha=0.45)
        ax.plot(days, ready, color=colour, marker=".", label=f"{team}")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    ax.set(ylabel="leads", xlabel="night")
    ax.legend(title="team (line: SDR-ready, bar: routed)", frameon=False, fontsize=8)
    return figure


DRIFT_SHOWN = 15


def drift_chart(drift: pl.DataFrame) -> Any:
    if drift.is_empty():
        figure, ax = _figure()
        _empty(ax, "no drift measured tonight")
        return figure
    top = drift.sort("psi", descending=True).head(DRIFT_SHOWN).sort("psi")
    figure, ax = _figure(6.8, max(3.0, 0.3 * top.height + 1))
    colours = [ACCENT if v > 0.25 else FIT_COLOUR for v in top["psi"]]
    ax.barh(top["feature"], top["psi"], color=colours)
    ax.axvline(0.1, color="grey", ls=":", lw=1)
    ax.axvline(0.25, color=ACCENT, ls="--", lw=1, label="0.25: shifted")
    ax.set(xlabel="population stability index")
    ax.legend(loc="lower right", frameon=False)
    return figure


def funnel_chart(funnel: pl.DataFrame) -> Any:
    figure, ax = _figure(7.2, 4.2)
    if funnel.is_empty():
        _empty(ax, "no leads in the funnel yet")
        return figure
    totals = funnel.group_by("lead_source").agg(pl.col(s).sum() for s in STEPS).sort("lead_source")
    steps = [s.replace("_", " ") for s in STEPS]
    for row in totals.iter_rows(named=True):
        if not row["leads"]:
            continue
        shares = [row[s] / row["leads"] for s in STEPS]
        ax.plot(steps, shares, marker="o", label=f"{row['lead_source']} ({row['leads']:,})")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(_percent())
    ax.set(ylabel="share of the channel's leads")
    ax.tick_params(axis="x", rotation=20)
    ax.legend(title="lead source (leads)", frameon=False, fontsize=8)
    return figure


def _percent() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v:.0%}" if v >= 0.01 or v == 0 else f"{v:.1%}")


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-bottom: .2rem; }
p.what { color: #555; margin-top: 0; max-width: 48rem; }
section { margin: 1.5rem 0 2.5rem; } svg { max-width: 100%; height: auto; }
ul.summary { line-height: 1.5; }
"""


def page(data: ReportData, charts: dict[str, str]) -> str:
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>leadscore night {data.run_date}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>leadscore night {data.run_date}</h1>",
        f"<p>Scoring model <code>{html.escape(data.model_version)}</code>.</p>",
        '<ul class="summary">',
        *[f"<li>{html.escape(line)}</li>" for line in data.summary],
        "</ul>",
    ]
    for key, (title, what) in CHARTS.items():
        parts += [
            f'<section id="{key}"><h2>{html.escape(title)}</h2>',
            f'<p class="what">{html.escape(what)}</p>',
            charts[key],
            "</section>",
        ]
    parts.append("</body></html>")
    return "\n".join(parts)
