"""The deployments of prefect.yaml, run as a data engineer runs them: a real `prefect server
start`, the process work pool, `prefect deploy --all` from the repository, a worker, the nightly
deployment and a 2-day backfill against a demo SQLite warehouse. Everything it starts, it stops.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from leadscore import warehouse
from leadscore.cli import main
from leadscore.orchestration import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def children_of(pids: set[int]) -> set[int]:
    """Every living descendant of `pids` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), set(pids)
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Processes:
    """The long-running processes of the test, each in a session of its own, all stopped at the
    end with whatever they started."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.started = env, logs, []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [PREFECT, *args],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started.append(process)
        return process

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [PREFECT, *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def stop_all(self) -> set[int]:
        """Stop every process and its descendants; returns those still alive afterwards."""
        pids = {p.pid for p in self.started}
        everything = pids | children_of(pids)
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.started:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for pid in everything:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        return {pid for pid in everything if alive(pid)}


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[tuple[str, Processes]]:
    """A real Prefect server on a free port with its own home directory."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "LEADSCORE_CRASH", "LEADSCORE_WAREHOUSE"))
    }
    env |= {
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        # The worker asks for work every 2 s instead of 15.
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PREFECT_WORKER_PREFETCH_SECONDS": "5",
    }
    processes = Processes(env, tmp_path)
    try:
        server = processes.start(
            "server", "server", "start", "--host", "127.0.0.1", "--port", str(port)
        )
        deadline = time.monotonic() + 240
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the Prefect server did not start in 240 s"
            time.sleep(0.5)
        yield api, processes
    finally:
        left = processes.stop_all()
        assert not left, f"processes left running: {left}"


def create_run(api: str, deployment: str, parameters: dict[str, object]) -> str:
    found = httpx.get(f"{api}/deployments/name/{deployment}", timeout=30)
    found.raise_for_status()
    created = httpx.post(
        f"{api}/deployments/{found.json()['id']}/create_flow_run",
        json={"parameters": parameters},
        timeout=30,
    )
    created.raise_for_status()
    return created.json()["id"]


def wait_for(api: str, run_ids: list[str], seconds: float) -> dict[str, dict]:
    deadline = time.monotonic() + seconds
    while True:
        runs = {i: httpx.get(f"{api}/flow_runs/{i}", timeout=30).json() for i in run_ids}
        if all(r["state"]["type"] in TERMINAL for r in runs.values()):
            return runs
        assert time.monotonic() < deadline, {i: r["state"] for i, r in runs.items()}
        time.sleep(2)


def published_events(api: str, want: list[str], seconds: float) -> list[str]:
    """The run dates of the `leadscore.night.published` events on the server, once they are
    `want` or after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        events = httpx.post(
            f"{api}/events/filter",
            json={"filter": {"event": {"name": ["leadscore.night.published"]}}, "limit": 50},
            timeout=30,
        ).json()["events"]
        dates = sorted(e["payload"]["run_date"] for e in events)
        if dates == want or time.monotonic() > deadline:
            return dates
        time.sleep(2)


def test_nightly_and_backfill_deployments_run_on_a_real_prefect_server(prefect_server, tmp_path):
    api, processes = prefect_server
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    assert main(["demo-data", "--leads", "800", "--days", "220", "--url", url]) == 0
    processes.env |= {
        "LEADSCORE_WAREHOUSE_URL": url,
        "LEADSCORE_DATA_DOCS_DIR": str(tmp_path / "docs"),
    }

    processes.run("work-pool", "create", "leadscore", "--type", "process")
    processes.run("gcl", "create", "leadscore-night", "--limit", "1")
    deployed = processes.run("--no-prompt", "deploy", "--all")
    assert "nightly-rescore" in deployed and "backfill" in deployed, deployed
    processes.start("worker", "worker", "start", "--pool", "leadscore")

    # Both at once: the backfill's nights wait for the nightly one on the shared limit.
    start, end = yesterday - dt.timedelta(days=3), yesterday - dt.timedelta(days=2)
    nightly = create_run(api, "nightly-rescore/nightly-rescore", {})
    backfill = create_run(
        api, "backfill/backfill", {"start": start.isoformat(), "end": end.isoformat()}
    )
    runs = wait_for(api, [nightly, backfill], seconds=600)
    states = {i: (r["state"]["type"], r["state"].get("message")) for i, r in runs.items()}
    worker_log = (tmp_path / "worker.log").read_text(errors="replace")
    assert all(s == "COMPLETED" for s, _ in states.values()), f"{states}\n{worker_log[-4000:]}"

    nights = warehouse.connect(url).query(
        "select run_date, status from pipeline_runs order by run_date"
    )
    published = [str(d)[:10] for d, s in nights.iter_rows() if s == "succeeded"]
    # The nightly run scored the day before its scheduled start; the backfill its two dates.
    assert published == [start.isoformat(), end.isoformat(), yesterday.isoformat()]
    assert (tmp_path / "docs" / yesterday.isoformat() / "report.html").exists()

    # A flow run's process sends its events when it exits, after its state is Completed, and
    # the server persists them in batches (every 5 s): they arrive within seconds, not at once.
    assert published_events(api, want=published, seconds=60) == published

    # The alerts of automations.yaml are valid: created here, with a webhook block to notify.
    saved = subprocess.run(
        [sys.executable, "-c", SAVE_BLOCK],
        env=processes.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    alerts = tmp_path / "automations.yaml"
    text = (ROOT / "automations.yaml").read_text()
    alerts.write_text(text.replace("NOTIFICATION_BLOCK_ID", saved.stdout.strip().splitlines()[-1]))
    processes.run("automation", "create", "--from-file", str(alerts))
    created = httpx.post(f"{api}/automations/filter", json={}, timeout=30).json()
    assert {a["name"]: a["trigger"]["posture"] for a in created} == {
        "leadscore night failed": "Reactive",
        "leadscore no night published for 26 hours": "Proactive",
    }
    assert {a["actions"][0]["block_document_id"] for a in created} == {
        saved.stdout.strip().splitlines()[-1]
    }


SAVE_BLOCK = (
    "from prefect.blocks.notifications import CustomWebhookNotificationBlock as Hook\n"
    "print(Hook(name='leadscore', url='http://127.0.0.1:9/alert').save('leadscore-alerts'))"
)
