"""Realistic demo source tables with a known truth.

Each lead's chance to close is planted: it rises with fit (seniority, company size, target
account, corporate email, region) and with product engagement (documents created and signed,
coming back, inviting teammates). Email opens, clicks and site visits are drawn independently
of it, so they carry no signal. A won deal follows engagement by days or weeks. The planted
probability goes to `demo_truth`, which the job never reads.

Same seed, same data: every random draw comes from one seeded generator, in a fixed order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from leadscore.contract import LEAD_SOURCES
from leadscore.warehouse import Warehouse

DAY_US = 86_400_000_000

INDUSTRIES = [
    "software",
    "financial_services",
    "healthcare",
    "real_estate",
    "legal",
    "manufacturing",
    "education",
    "retail",
    "insurance",
    "nonprofit",
]
# (country, weight, region, region effect on the close logit)
COUNTRIES = [
    ("US", 34, "NA", 0.30),
    ("CA", 5, "NA", 0.30),
    ("GB", 9, "EMEA", 0.15),
    ("DE", 7, "EMEA", 0.15),
    ("FR", 5, "EMEA", 0.15),
    ("NL", 3, "EMEA", 0.15),
    ("ES", 3, "EMEA", 0.15),
    ("SA", 3, "EMEA", 0.0),
    ("AE", 3, "EMEA", 0.0),
    ("IN", 6, "APAC", -0.25),
    ("CN", 4, "APAC", -0.25),
    ("JP", 3, "APAC", -0.25),
    ("AU", 5, "APAC", -0.25),
    ("SG", 2, "APAC", -0.25),
    ("BR", 5, "LATAM", -0.45),
    ("MX", 3, "LATAM", -0.45),
]
US_STATES = ["CA", "NY", "TX", "WA", "MA", "IL", "FL", "CO", "GA", "NC"]
CA_PROVINCES = ["ON", "BC", "QC", "AB"]
SENIORITY = ["intern", "individual", "manager", "director", "vp", "c_level"]
SENIORITY_WEIGHTS = [0.05, 0.40, 0.25, 0.15, 0.08, 0.07]
SENIORITY_EFFECT = np.array([-1.6, -0.45, 0.15, 0.55, 0.85, 0.95])
TITLES = {
    "intern": ["Marketing Intern", "Sales Intern", "intern", "Summer Analyst"],
    "individual": [
        "Account Executive",
        "Software Engineer",
        "Sales Operations Specialist",
        "Paralegal",
        "HR Generalist",
        "Office Administrator",
        "Analyst",
    ],
    "manager": ["Sales Manager", "HR Manager", "Office Manager", "Operations Manager", "Team Lead"],
    "director": [
        "Director of Sales",
        "Director, Operations",
        "Head of People",
        "Sr. Director Finance",
    ],
    "vp": ["VP Sales", "Vice President of Operations", "SVP Revenue", "VP, Legal"],
    "c_level": ["CEO", "Chief Operating Officer", "CFO", "Founder & CEO", "COO", "General Counsel"],
}
TITLES_AR = {
    "intern": "متدرب",
    "individual": "محاسب",
    "manager": "مدير المبيعات",
    "director": "مدير العمليات",
    "vp": "نائب الرئيس للمبيعات",
    "c_level": "الرئيس التنفيذي",
}
TITLES_ZH = {
    "intern": "实习生",
    "individual": "销售代表",
    "manager": "销售经理",
    "director": "销售总监",
    "vp": "副总裁",
    "c_level": "首席执行官",
}
PERSONAL_DOMAINS = [
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "qq.com",
    "163.com",
]
LEAD_SOURCE_WEIGHTS = [0.24, 0.16, 0.12, 0.07, 0.07, 0.10, 0.10, 0.05, 0.04, 0.05]
LEAD_SOURCE_EFFECT = np.array([0.0, 0.0, -0.3, 0.4, 0.1, -0.1, 0.2, 0.2, 0.2, -0.2])
TEAMS = [("NA-SMB", 0.30), ("NA-ENT", 0.15), ("EMEA", 0.25), ("APAC", 0.18), ("LATAM", 0.12)]
FIRST = [
    "james",
    "mary",
    "wei",
    "fatima",
    "olivia",
    "liam",
    "noah",
    "emma",
    "ahmed",
    "sofia",
    "lucas",
    "mia",
    "arjun",
    "yuki",
    "chloe",
    "omar",
    "hana",
    "diego",
    "anna",
    "li",
]
LAST = [
    "smith",
    "garcia",
    "chen",
    "khan",
    "muller",
    "rossi",
    "tanaka",
    "silva",
    "brown",
    "martin",
    "nguyen",
    "kowalski",
    "haddad",
    "wang",
    "johnson",
    "lopez",
    "patel",
    "kim",
    "dubois",
    "ali",
]
SYLLABLES = [
    "ac",
    "me",
    "lo",
    "gi",
    "ca",
    "tra",
    "nex",
    "vo",
    "zen",
    "ora",
    "pix",
    "lum",
    "ter",
    "qua",
    "sol",
    "bri",
    "dyn",
    "ex",
    "fin",
    "hub",
]
NAMES_AR = ["شركة الأفق", "مجموعة النخبة", "تقنيات الصحراء", "الرواد للحلول"]
NAMES_ZH = ["华信科技", "东方数据", "明德软件", "长城咨询"]


@dataclass(frozen=True)
class DemoSpec:
    leads: int = 20_000
    days: int = 270
    seed: int = 7
    end_date: dt.date = dt.date(2026, 6, 30)
    chunk_leads: int = 100_000

    @property
    def start(self) -> np.datetime64:
        return np.datetime64(self.end_date - dt.timedelta(days=self.days - 1), "us")

    @property
    def horizon(self) -> np.datetime64:
        """Nothing is written at or after the end date + 1 day."""
        return np.datetime64(self.end_date + dt.timedelta(days=1), "us")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _ids(prefix: str, start: int, n: int, width: int = 8) -> list[str]:
    return [f"{prefix}{i:0{width}d}" for i in range(start, start + n)]


def _days(x: np.ndarray) -> np.ndarray:
    return (x * DAY_US).astype("timedelta64[us]")


def _ts(values: np.ndarray) -> pl.Series:
    return pl.Series(values.astype("datetime64[us]"))


def generate(
    spec: DemoSpec, progress: Callable[[str], None] | None = None
) -> Iterator[tuple[str, pl.DataFrame]]:
    """Yield (table, frame) pieces of the demo warehouse, accounts and reps first."""
    rng = np.random.default_rng(spec.seed)
    reps = _reps(spec, rng)
    yield "sdr_reps", reps
    accounts = _accounts(spec, rng, reps)
    yield "crm_accounts", accounts.drop("region", "size_effect", "weight")
    yield "crm_opportunities", _customer_deals(spec, accounts)
    counters = {"event": 0, "mkt": 0, "user": 0, "opp": 0}
    for start in range(0, spec.leads, spec.chunk_leads):
        n = min(spec.chunk_leads, spec.leads - start)
        if progress:
            progress(f"leads {start + 1:,}-{start + n:,} of {spec.leads:,}")
        yield from _lead_chunk(spec, rng, accounts, start, n, counters)


def _customer_deals(spec: DemoSpec, accounts: pl.DataFrame) -> pl.DataFrame:
    """Deals won before the demo's first day: the accounts that were customers already (one in
    ten, larger ones likelier), for the customer tracks (onboarding, upsell, renewal). No lead
    made them, so they change no lead's label; their draws come from a generator of their own,
    so the rest of the demo is the same with or without them."""
    rng = np.random.default_rng([spec.seed, 1])
    n = accounts.height
    size = accounts["weight"].to_numpy()
    customer = rng.random(n) < np.clip(0.1 * size / size.mean(), 0.0, 0.6)
    idx = np.flatnonzero(customer)
    created = accounts["created_at"].to_numpy()[idx].astype("datetime64[us]")
    room = (spec.start - created) / np.timedelta64(1, "D") - 45
    opened = created + _days(rng.uniform(0, 1, size=idx.size) * np.maximum(room, 0))
    won = opened + _days(rng.uniform(5, 40, size=idx.size))
    return pl.DataFrame(
        {
            "opportunity_id": _ids("OC", 1, idx.size),
            "account_id": accounts["account_id"].to_numpy()[idx].tolist(),
            "lead_id": pl.Series([None] * idx.size, dtype=pl.String),
            "stage": ["closed_won"] * idx.size,
            "amount": np.round(rng.lognormal(np.log(12000), 0.8, size=idx.size), 2),
            "created_at": _ts(opened),
            "closed_at": _ts(won),
        }
    )


def _reps(spec: DemoSpec, rng: np.random.Generator) -> pl.DataFrame:
    total = max(10, spec.leads // 1500)
    rows = []
    for team, share in TEAMS:
        for _ in range(max(2, round(total * share))):
            i = len(rows) + 1
            rows.append(
                {
                    "rep_id": f"R{i:04d}",
                    "name": f"{FIRST[i % len(FIRST)].title()} {LAST[(i * 7) % len(LAST)].title()}",
                    "team": team,
                    "daily_capacity": int(rng.integers(4, 12)),
                    # One rep in twelve is away, so routing must skip inactive reps.
                    "active": bool(i % 12 != 5),
                }
            )
    return pl.DataFrame(rows)


def _accounts(spec: DemoSpec, rng: np.random.Generator, reps: pl.DataFrame) -> pl.DataFrame:
    n = max(50, spec.leads // 3)
    weights = np.array([c[1] for c in COUNTRIES], dtype=float)
    country_idx = rng.choice(len(COUNTRIES), size=n, p=weights / weights.sum())
    employees = np.clip(np.round(rng.lognormal(np.log(90), 1.7, size=n)), 1, 250_000).astype(
        np.int64
    )
    size_effect = 0.35 * np.clip(np.log10(employees) - 2.0, -2.0, 2.0)
    target = rng.random(n) < _sigmoid(-3.1 + 0.9 * np.log10(employees))
    names, domains = [], []
    for i in range(n):
        stem = "".join(SYLLABLES[j] for j in rng.integers(0, len(SYLLABLES), size=2))
        code = COUNTRIES[country_idx[i]][0]
        if code in {"SA", "AE"} and i % 2 == 0:
            names.append(f"{NAMES_AR[i % len(NAMES_AR)]} {i}")
        elif code == "CN" and i % 2 == 0:
            names.append(f"{NAMES_ZH[i % len(NAMES_ZH)]}{i}")
        else:
            names.append(f"{stem.title()} {['Inc', 'GmbH', 'Ltd', 'LLC', 'SA', 'Group'][i % 6]}")
        domains.append(f"{stem}{i}.com")
    region = [COUNTRIES[c][2] for c in country_idx]
    active_reps = reps.filter(pl.col("active"))
    rep_by_region = {
        "NA": active_reps.filter(pl.col("team").str.starts_with("NA"))["rep_id"].to_list(),
        **{
            r: active_reps.filter(pl.col("team") == r)["rep_id"].to_list()
            for r in ("EMEA", "APAC", "LATAM")
        },
    }
    owned = rng.random(n) < np.where(target, 0.5, 0.04)
    owner = [
        rng.choice(rep_by_region[region[i]]) if owned[i] and rep_by_region[region[i]] else None
        for i in range(n)
    ]
    created = spec.start - _days(rng.uniform(30, 900, size=n))
    industry = np.array(INDUSTRIES, dtype=object)[rng.integers(0, len(INDUSTRIES), size=n)]
    industry[rng.random(n) < 0.05] = None
    emp = pl.Series(employees)
    emp = emp.scatter(np.flatnonzero(rng.random(n) < 0.04), None)
    return pl.DataFrame(
        {
            "account_id": _ids("A", 1, n, 7),
            "name": names,
            "domain": domains,
            "industry": industry.tolist(),
            "employee_count": emp,
            "sales_team_size": pl.Series(
                np.maximum(1, (employees * rng.uniform(0.03, 0.15, size=n)).astype(np.int64))
            ),
            "country": [COUNTRIES[c][0] for c in country_idx],
            "is_target_account": target,
            "owner_id": owner,
            "created_at": _ts(created),
            "updated_at": _ts(created),
            "region": region,
            "size_effect": np.where(emp.is_null().to_numpy(), 0.0, size_effect),
            "weight": np.sqrt(employees.astype(float)),
        }
    )


def _lead_chunk(
    spec: DemoSpec,
    rng: np.random.Generator,
    accounts: pl.DataFrame,
    offset: int,
    n: int,
    counters: dict[str, int],
) -> Iterator[tuple[str, pl.DataFrame]]:
    lead_ids = np.array(_ids("L", offset + 1, n), dtype=object)
    created = spec.start + _days(rng.uniform(0, spec.days, size=n))
    acc_weights = accounts["weight"].to_numpy()
    matched = rng.random(n) < 0.85
    acc_idx = rng.choice(accounts.height, size=n, p=acc_weights / acc_weights.sum())
    acc = accounts[acc_idx]
    account_id = np.where(matched, acc["account_id"].to_numpy(), None)
    region_effect_by_code = {c[0]: c[3] for c in COUNTRIES}
    country = acc["country"].to_numpy().astype(object)
    moved = rng.random(n) < 0.08
    country[moved] = np.array([c[0] for c in COUNTRIES], dtype=object)[
        rng.integers(0, len(COUNTRIES), moved.sum())
    ]
    region_effect = np.array([region_effect_by_code[c] for c in country])
    state = np.array(
        [
            US_STATES[i % len(US_STATES)]
            if c == "US"
            else CA_PROVINCES[i % 4]
            if c == "CA"
            else None
            for i, c in enumerate(country)
        ],
        dtype=object,
    )
    country_out = country.copy()
    country_out[rng.random(n) < 0.05] = None

    level = rng.choice(len(SENIORITY), size=n, p=SENIORITY_WEIGHTS)
    titles = []
    for i in range(n):
        name = SENIORITY[level[i]]
        r = rng.random()
        if r < 0.07:
            titles.append(None)
        elif country[i] in {"SA", "AE"} and r < 0.5:
            titles.append(TITLES_AR[name])
        elif country[i] == "CN" and r < 0.5:
            titles.append(TITLES_ZH[name])
        else:
            options = TITLES[name]
            titles.append(options[int(rng.integers(0, len(options)))])

    kind = rng.choice(3, size=n, p=[0.64, 0.34, 0.02])  # corporate, personal, malformed
    kind[~matched & (kind == 0)] = 1 if n else 0
    first = rng.integers(0, len(FIRST), size=n)
    last = rng.integers(0, len(LAST), size=n)
    personal = rng.integers(0, len(PERSONAL_DOMAINS), size=n)
    domains = acc["domain"].to_numpy()
    emails = []
    for i in range(n):
        local = f"{FIRST[first[i]]}.{LAST[last[i]]}{offset + i}"
        if kind[i] == 0:
            emails.append(f"{local}@{domains[i]}")
        elif kind[i] == 1:
            emails.append(f"{local}@{PERSONAL_DOMAINS[personal[i]]}")
        else:
            emails.append(
                [f"{local}@", f"{local} at {domains[i]}", f"{local}@@{domains[i]}"][i % 3]
            )
    source = rng.choice(len(LEAD_SOURCES), size=n, p=LEAD_SOURCE_WEIGHTS)

    target = np.where(matched, acc["is_target_account"].to_numpy(), False)
    size_effect = np.where(matched, acc["size_effect"].to_numpy(), 0.0)
    email_effect = np.select([kind == 0, kind == 1], [0.45, -0.55], -0.9)
    fit = (
        SENIORITY_EFFECT[level]
        + size_effect
        + 0.85 * target
        + email_effect
        + region_effect
        + LEAD_SOURCE_EFFECT[source]
    )

    # Engagement propensity: partly who they are, mostly not.
    z = 0.45 * (fit - fit.mean()) + rng.normal(0, 1, size=n)
    signed_up = rng.random(n) < _sigmoid(-0.55 + 1.0 * z)
    signup_at = created + _days(rng.exponential(2.0, size=n))
    span = rng.exponential(20.0, size=n) * (1 + 2 * _sigmoid(z))
    sessions = np.where(signed_up, 1 + rng.poisson(np.exp(0.7 + 0.55 * z)), 0)

    # Product events, session by session.
    lead_of_session = np.repeat(np.arange(n), sessions)
    s_time = signup_at[lead_of_session] + _days(
        rng.uniform(0, 1, size=lead_of_session.size) * span[lead_of_session]
    )
    zs = z[lead_of_session]
    per_session = {
        "login": np.ones(lead_of_session.size, dtype=np.int64),
        "document_created": rng.poisson(0.55 * np.exp(0.35 * zs)),
        "template_created": rng.poisson(0.08, size=lead_of_session.size),
        "teammate_invited": rng.poisson(0.06 * np.exp(0.5 * zs)),
        "integration_connected": rng.poisson(0.025, size=lead_of_session.size),
        "billing_page_viewed": rng.poisson(0.04 * np.exp(0.5 * zs)),
    }
    per_session["document_sent"] = rng.binomial(per_session["document_created"], 0.6)
    per_session["document_signed"] = rng.binomial(per_session["document_sent"], 0.55)
    totals = {
        k: np.bincount(lead_of_session, weights=v, minlength=n) for k, v in per_session.items()
    }

    engagement = (
        0.45 * np.log1p(totals["document_created"])
        + 0.85 * np.log1p(totals["document_signed"])
        + 0.45 * np.log1p(np.maximum(sessions - 1, 0))
        + 0.6 * np.log1p(totals["teammate_invited"])
        + 0.35 * (totals["billing_page_viewed"] > 0)
        + 0.3 * signed_up
    )
    true_logit = -6.5 + fit + 1.25 * engagement
    true_p = _sigmoid(true_logit)
    closes = rng.random(n) < true_p

    # A won deal follows engagement by days or weeks.
    anchor = np.where(
        signed_up,
        signup_at + _days(span * rng.uniform(0.2, 0.9, size=n)),
        created + _days(rng.exponential(12.0, size=n)),
    )
    opp_created = anchor + _days(rng.exponential(6.0, size=n))
    close_time = opp_created + _days(rng.uniform(5, 40, size=n))
    lost_opp = ~closes & (rng.random(n) < 0.25 * _sigmoid(fit))
    lost_created = created + _days(rng.exponential(20.0, size=n))
    lost_close = lost_created + _days(rng.uniform(10, 60, size=n))

    horizon = spec.horizon
    has_opp = (closes & (opp_created < horizon)) | (lost_opp & (lost_created < horizon))
    o_created = np.where(closes, opp_created, lost_created)
    o_closed = np.where(closes, close_time, lost_close)
    o_stage = np.where(o_closed < horizon, np.where(closes, "closed_won", "closed_lost"), "open")
    opp_idx = np.flatnonzero(has_opp)
    opp_accounts = np.where(matched, acc["account_id"].to_numpy(), None)[opp_idx]
    opps = pl.DataFrame(
        {
            "opportunity_id": _ids("O", counters["opp"] + 1, opp_idx.size),
            # An unmatched lead's deal gets an account of its own at that time: use the sampled one.
            "account_id": np.where(
                np.equal(opp_accounts, None), acc["account_id"].to_numpy()[opp_idx], opp_accounts
            ).tolist(),
            "lead_id": lead_ids[opp_idx].tolist(),
            "stage": o_stage[opp_idx].tolist(),
            "amount": np.round(rng.lognormal(np.log(6000), 0.8, size=opp_idx.size), 2),
            "created_at": _ts(o_created[opp_idx]),
            "closed_at": pl.Series(
                np.where(
                    o_stage[opp_idx] == "open", np.datetime64("NaT"), o_closed[opp_idx]
                ).astype("datetime64[us]")
            ),
        }
    )
    counters["opp"] += opp_idx.size

    # Status history: worked before the opportunity, qualified at it; others worked, nurtured
    # or dropped.
    changes_lead, changes_status, changes_at = [], [], []

    def change(mask: np.ndarray, status: str, when: np.ndarray) -> None:
        keep = mask & (when < horizon)
        changes_lead.append(lead_ids[keep])
        changes_status.append(np.full(keep.sum(), status, dtype=object))
        changes_at.append(when[keep])

    worked_at = o_created - _days(rng.uniform(0.5, 5, size=n))
    with_opp = closes | lost_opp
    change(with_opp, "working", np.maximum(worked_at, created + _days(np.full(n, 0.01))))
    change(with_opp, "qualified", o_created)
    others_worked = ~with_opp & (rng.random(n) < 0.35 + 0.2 * _sigmoid(fit))
    work_time = created + _days(rng.exponential(8.0, size=n))
    change(others_worked, "working", work_time)
    outcome = rng.random(n)
    disq_share = 0.2 + 0.4 * (1 - _sigmoid(fit))
    end_time = work_time + _days(rng.exponential(12.0, size=n))
    change(others_worked & (outcome < disq_share), "disqualified", end_time)
    change(
        others_worked & (outcome >= disq_share) & (outcome < disq_share + 0.45), "nurture", end_time
    )
    straight_disq = ~with_opp & ~others_worked & (rng.random(n) < 0.06 * (1 - _sigmoid(fit)))
    change(straight_disq, "disqualified", created + _days(rng.exponential(5.0, size=n)))
    status_changes = pl.DataFrame(
        {
            "lead_id": np.concatenate(changes_lead).tolist(),
            "status": np.concatenate(changes_status).tolist(),
            "changed_at": _ts(np.concatenate(changes_at)),
        }
    )
    current = (
        status_changes.sort("changed_at")
        .group_by("lead_id")
        .agg(pl.col("status").last(), pl.col("changed_at").max())
    )

    exists = created < horizon
    leads = (
        pl.DataFrame(
            {
                "lead_id": lead_ids.tolist(),
                "account_id": account_id.tolist(),
                "email": emails,
                "title": titles,
                "country": country_out.tolist(),
                "state": state.tolist(),
                "lead_source": [LEAD_SOURCES[s] for s in source],
                "created_at": _ts(created),
            }
        )
        .join(current, on="lead_id", how="left")
        .with_columns(
            pl.col("status").fill_null("open"),
            pl.max_horizontal("created_at", "changed_at").alias("updated_at"),
        )
        .drop("changed_at")
        .filter(pl.Series(exists))
    )
    yield (
        "crm_leads",
        leads.select(
            "lead_id",
            "account_id",
            "email",
            "title",
            "country",
            "state",
            "lead_source",
            "status",
            "created_at",
            "updated_at",
        ),
    )
    yield "crm_lead_status_changes", status_changes
    yield "crm_opportunities", opps

    # Product users: the lead's email with case and space noise, plus users no lead matches.
    user_idx = np.flatnonzero(signed_up & (signup_at < horizon))
    noisy = []
    for j, i in enumerate(user_idx):
        e = emails[i]
        r = (offset + j) % 5
        noisy.append(e.upper() if r == 0 else f" {e} " if r == 1 else e.title() if r == 2 else e)
    strangers = max(1, user_idx.size // 20)
    user_ids = np.array(_ids("U", counters["user"] + 1, user_idx.size + strangers), dtype=object)
    counters["user"] += user_ids.size
    stranger_signup = spec.start + _days(rng.uniform(0, spec.days, size=strangers))
    users = pl.DataFrame(
        {
            "user_id": user_ids.tolist(),
            "email": noisy + [f"someone{offset + k}@example.org" for k in range(strangers)],
            "signed_up_at": _ts(np.concatenate([signup_at[user_idx], stranger_signup])),
        }
    )
    yield "product_users", users

    user_of_lead = np.full(n, -1)
    user_of_lead[user_idx] = np.arange(user_idx.size)
    names, leads_of_event, times = [], [], []
    for name, counts in per_session.items():
        total = int(counts.sum())
        if not total:
            continue
        sess = np.repeat(np.arange(lead_of_session.size), counts)
        names.append(np.full(total, name, dtype=object))
        leads_of_event.append(lead_of_session[sess])
        times.append(s_time[sess] + _days(rng.uniform(0, 0.05, size=total)))
    if names:
        ev_lead = np.concatenate(leads_of_event)
        ev_time = np.concatenate(times)
        ev_name = np.concatenate(names)
        keep = (ev_time < horizon) & (user_of_lead[ev_lead] >= 0)
        order = np.argsort(ev_time[keep], kind="stable")
        ev_user = user_ids[user_of_lead[ev_lead[keep]][order]]
        product_events = pl.DataFrame(
            {
                "event_id": _ids("E", counters["event"] + 1, int(keep.sum()), 10),
                "user_id": ev_user.tolist(),
                "event_name": ev_name[keep][order].tolist(),
                "occurred_at": _ts(ev_time[keep][order]),
            }
        )
        counters["event"] += product_events.height
        # The strangers use the product too: events no lead can claim.
        yield "product_events", product_events

    # Marketing engagement: opens, clicks and visits are noise; pricing and demo requests follow z.
    rates = {
        "email_open": np.full(n, 7.0),
        "email_click": np.full(n, 1.4),
        "website_visit": np.full(n, 4.0),
        "docs_page_view": 0.4 * np.exp(0.3 * z),
        "pricing_page_view": 0.3 * np.exp(0.45 * z),
        "whitepaper_download": np.full(n, 0.3),
        "webinar_registration": np.full(n, 0.2),
        "demo_request": 0.05 * np.exp(0.5 * z),
    }
    m_names, m_leads, m_times = [], [], []
    for name, rate in rates.items():
        counts = rng.poisson(rate)
        if name == "webinar_registration":
            attended = rng.binomial(counts, 0.5)
            idx = np.repeat(np.arange(n), attended)
            m_names.append(np.full(idx.size, "webinar_attended", dtype=object))
            m_leads.append(idx)
            m_times.append(created[idx] + _days(rng.uniform(0, 60, size=idx.size)))
        idx = np.repeat(np.arange(n), counts)
        m_names.append(np.full(idx.size, name, dtype=object))
        m_leads.append(idx)
        m_times.append(created[idx] + _days(rng.uniform(0, 60, size=idx.size)))
    m_lead = np.concatenate(m_leads)
    m_time = np.concatenate(m_times)
    keep = m_time < horizon
    order = np.argsort(m_time[keep], kind="stable")
    marketing = pl.DataFrame(
        {
            "event_id": _ids("M", counters["mkt"] + 1, int(keep.sum()), 10),
            "lead_id": lead_ids[m_lead[keep][order]].tolist(),
            "event_type": np.concatenate(m_names)[keep][order].tolist(),
            "occurred_at": _ts(m_time[keep][order]),
        }
    )
    counters["mkt"] += marketing.height
    yield "marketing_events", marketing
    yield (
        "demo_truth",
        pl.DataFrame({"lead_id": lead_ids.tolist(), "true_probability": true_p}).filter(
            pl.Series(exists)
        ),
    )


def load_demo(
    wh: Warehouse,
    spec: DemoSpec,
    replace: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Create the contract's source tables and fill them with demo data, in one transaction."""
    from leadscore import sql
    from leadscore.errors import LeadscoreError

    tables = [*sql.SOURCE_TABLES, "demo_truth"]
    if wh.has_table("crm_leads") and not replace:
        count = wh.scalar("select_lead_count")
        if count:
            raise LeadscoreError(
                f"crm_leads already holds {count:,} rows; "
                "pass --replace to overwrite the source tables with demo data"
            )
    with wh.session() as s, s.transaction():
        for name in [*reversed(sql.VIEWS), *tables]:
            s.execute(f"drop_{name}")
        s.create(tables)
        counts = dict.fromkeys(tables, 0)
        for table, frame in generate(spec, progress):
            counts[table] += s.append(table, frame)
        if progress:
            progress("indexes")
        s.create(sql.SOURCE_INDEXES)
    return counts
