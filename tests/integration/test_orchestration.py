"""What the CLI does about Prefect when no PREFECT_API_URL is configured: its own temporary API
server, given the time it needs, one clear line when it does not start, nothing left behind when
the run is killed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from leadscore.cli import main
from leadscore.orchestration import MODULE, OrchestrationError, TemporaryServer
from tests.conftest import DEMO_END

pytestmark = pytest.mark.integration

LEADSCORE = str(Path(sys.executable).with_name("leadscore"))


def without_prefect_api(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_API", "LEADSCORE_CRASH", "LEADSCORE_PREFECT"))
    }
    return env | {"PREFECT_HOME": str(tmp_path / "prefect-home")} | extra


def processes() -> dict[int, str]:
    """Every process's command line, by pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found[int(entry.name)] = (
                    (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                )
            except OSError:
                continue
    return found


def parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1


def test_a_night_killed_with_sigkill_leaves_no_prefect_server_behind(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    assert (
        main(
            [
                "demo-data",
                "--leads",
                "500",
                "--days",
                "200",
                "--end-date",
                str(DEMO_END),
                "--url",
                url,
            ]
        )
        == 0
    )
    before = set(processes())
    night = subprocess.Popen(
        [LEADSCORE, "run", "--date", DEMO_END.isoformat(), "--url", url],
        env=without_prefect_api(tmp_path, LEADSCORE_CRASH_AT="features"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    marker = f"{MODULE} --parent {night.pid} "
    servers = set()
    while night.poll() is None:
        servers |= {pid for pid, cmd in processes().items() if marker in cmd}
        time.sleep(0.2)
    stderr = night.stderr.read()
    assert night.returncode == -9, stderr  # killed at the crash point, mid-night
    assert servers, "the run started no temporary server of its own"
    assert "started a temporary Prefect API server" in stderr
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(p in processes() for p in servers):
        time.sleep(0.2)
    now = processes()
    assert not servers & set(now), "the killed night's Prefect server is still running"
    # Nor did Prefect start a temporary server of its own that outlived the night (an orphan:
    # its parent gone; other test workers' servers have theirs).
    orphans = {
        pid: cmd
        for pid, cmd in now.items()
        if pid not in before and "create_app" in cmd and parent_of(pid) in (0, 1)
    }
    assert not orphans, orphans


def test_a_prefect_server_that_does_not_start_is_one_clear_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    done = subprocess.run(
        [LEADSCORE, "run", "--date", DEMO_END.isoformat(), "--url", url],
        env=without_prefect_api(tmp_path, LEADSCORE_PREFECT_STARTUP_SECONDS="0.5"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("leadscore: the temporary Prefect API server did not answer")
    assert "PREFECT_API_URL=" in lines[0] and "LEADSCORE_PREFECT_STARTUP_SECONDS" in lines[0]


SLOW_SERVER = """
import http.server, sys, time
time.sleep(22)  # longer than the 20 s Prefect gives its own temporary server
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""


def test_a_slow_temporary_server_is_given_the_time_it_needs():
    server = TemporaryServer(lambda port: [sys.executable, "-c", SLOW_SERVER, str(port)])
    started = time.monotonic()
    try:
        url = server.start(timeout=120)
        assert time.monotonic() - started >= 22
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api")
    finally:
        server.stop()
    assert server.process.poll() is not None


def test_a_server_that_exits_says_so_with_its_log():
    server = TemporaryServer(lambda port: [sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(OrchestrationError, match=r"exited with code 3 \(log: .*\.log\)"):
        server.start(timeout=30)
    server.stop()
