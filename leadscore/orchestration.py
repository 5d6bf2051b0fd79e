"""The Prefect API a CLI run reports to.

With `PREFECT_API_URL` set (a `prefect server start` or Prefect Cloud), runs report there and this
module does nothing. Without it, Prefect would start a temporary API server inside each flow call,
give it 20 seconds, fail the night with a traceback when a busy machine needs longer, and leave
the server running when the night is killed. Instead the CLI starts that server itself, once per
command, as a child process that:

- gets the time it needs (`LEADSCORE_PREFECT_STARTUP_SECONDS`, 180 by default), and when it does
  not start, the CLI says so in one line with what to do;
- dies with its parent, however the parent ends (SIGKILL included): on Linux the kernel kills it
  (`PR_SET_PDEATHSIG`), and everywhere a watchdog thread ends it within a second of the parent's
  death;
- is stopped when the command ends.

Its runs are kept in Prefect's local database under `PREFECT_HOME` (`~/.prefect`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

from leadscore.errors import LeadscoreError

STARTUP_SECONDS = 180.0
STARTUP_ENV = "LEADSCORE_PREFECT_STARTUP_SECONDS"
# What the child's command line carries, so a test (or a person) can find it: `--parent <pid>`.
MODULE = "leadscore.orchestration"


# The API URL of the temporary server this process runs, while it runs.
TEMPORARY: set[str] = set()


def on_temporary_server() -> bool:
    """Whether this process reports to a temporary server of its own (no concurrency limits,
    no deployments: nothing else runs there)."""
    return bool(TEMPORARY)


class OrchestrationError(LeadscoreError):
    """The temporary Prefect API server did not start."""


def configured_api_url() -> str | None:
    """The Prefect API this process is pointed at, if any (environment or Prefect profile)."""
    from prefect.settings import PREFECT_API_URL

    return os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value() or None


def startup_seconds() -> float:
    raw = os.environ.get(STARTUP_ENV, "")
    try:
        seconds = float(raw) if raw else STARTUP_SECONDS
    except ValueError:
        raise LeadscoreError(f"setting {STARTUP_ENV}: cannot read {raw!r} as seconds") from None
    if seconds <= 0:
        raise LeadscoreError(f"setting {STARTUP_ENV} must be positive")
    return seconds


@contextlib.contextmanager
def prefect_api() -> Iterator[str | None]:
    """Around a command that runs flows: the configured API, else a temporary server of ours.
    Yields the API URL in use (None when the configured one is used as it is)."""
    if configured_api_url():
        yield None
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server = TemporaryServer()
    try:
        started = time.monotonic()
        url = server.start(startup_seconds())
        print(
            f"leadscore: no PREFECT_API_URL; started a temporary Prefect API server in "
            f"{time.monotonic() - started:.0f} s (stopped when this command ends)",
            file=sys.stderr,
        )
        with temporary_settings({PREFECT_API_URL: url}):
            TEMPORARY.add(url)
            try:
                yield url
            finally:
                send_pending()
                TEMPORARY.discard(url)
    finally:
        server.stop()


def send_pending(timeout: float = 10.0) -> None:
    """Send the logs and events still queued for the API, before its server goes."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (EventsWorker, APILogWorker):
        with contextlib.suppress(Exception):  # nothing to send is no failure
            worker.drain_all(timeout=timeout, at_exit=False)


class TemporaryServer:
    """A Prefect API server in a child process that cannot outlive this one."""

    def __init__(self, command: Callable[[int], list[str]] | None = None) -> None:
        """`command`: the child's command line for a port (by default this module's `serve`)."""
        self.command = command or server_command
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (kept open while the child writes)
            prefix="leadscore-prefect-", suffix=".log", delete=False
        )

    def start(self, timeout: float) -> str:
        import httpx

        port = free_port()
        url = f"http://127.0.0.1:{port}/api"
        self.process = subprocess.Popen(
            self.command(port),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **SERVER_ENV},
        )
        started = time.monotonic()
        with httpx.Client(timeout=2) as client:
            while time.monotonic() - started < timeout:
                if self.process.poll() is not None:
                    raise OrchestrationError(
                        f"the temporary Prefect API server exited with code "
                        f"{self.process.returncode} (log: {self.log.name}); {ADVICE}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{url}/health").status_code == 200:
                        return url
                time.sleep(0.2)
        raise OrchestrationError(
            f"the temporary Prefect API server did not answer within {timeout:.0f} s "
            f"(log: {self.log.name}); {ADVICE}, or give it longer with {STARTUP_ENV}"
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        if self.process is None or self.process.returncode in (0, -signal.SIGTERM):
            with contextlib.suppress(OSError):
                os.unlink(self.log.name)


ADVICE = (
    "point leadscore at a running server instead: `prefect server start`, then "
    "PREFECT_API_URL=http://127.0.0.1:4200/api"
)
# As Prefect runs its own temporary server: no UI, ephemeral mode, no telemetry.
SERVER_ENV = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}


def server_command(port: int) -> list[str]:
    return [sys.executable, "-m", MODULE, "--parent", str(os.getpid()), "--port", str(port)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def die_with_parent(parent: int) -> None:
    """Make this process end when `parent` does, however it ends."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def serve(argv: list[str] | None = None) -> None:
    """The child: a Prefect API server on 127.0.0.1 for as long as its parent lives."""
    args = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    args.add_argument("--parent", type=int, required=True)
    args.add_argument("--port", type=int, required=True)
    options = args.parse_args(argv)
    die_with_parent(options.parent)
    import uvicorn

    uvicorn.run(
        "prefect.server.api.server:create_app",
        factory=True,
        host="127.0.0.1",
        port=options.port,
        log_level="error",
        lifespan="on",
    )


if __name__ == "__main__":
    serve()
