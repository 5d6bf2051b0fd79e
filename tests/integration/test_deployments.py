"""Every prefect.yaml entrypoint imports as a Prefect flow."""

from __future__ import annotations

from pathlib import Path

import yaml
from prefect import Flow
from prefect.flows import load_flow_from_entrypoint

ROOT = Path(__file__).resolve().parents[2]


def test_every_entrypoint_is_a_flow():
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    names = {d["name"] for d in config["deployments"]}
    assert {"nightly-rescore", "backfill"} <= names
    for deployment in config["deployments"]:
        # As a worker loads it: the file path in the repository, the flow function's name.
        flow = load_flow_from_entrypoint(str(ROOT / deployment["entrypoint"]))
        assert isinstance(flow, Flow), deployment["entrypoint"]


def test_nightly_schedule_and_concurrency():
    nightly = next(
        d
        for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
        if d["name"] == "nightly-rescore"
    )
    assert nightly["schedules"][0]["cron"] == "0 2 * * *"
    assert nightly["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}
