"""A real gunicorn serving virtapi for the hardening tests, with its logs captured to files.

Each test module starts its own (the fuzzer and the crash tests change data and kill workers, so
they must not share a server with other tests). Demo data and tokens come from `virtapi demo`.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.pg import free_port

REPO = Path(__file__).resolve().parents[2]

# gunicorn, with its access log and error log written to files the tests can grep.
_RUNNER = """
import sys
from virtapi.server import run_gunicorn
run_gunicorn(bind=sys.argv[1], workers=int(sys.argv[2]), accesslog=sys.argv[3],
             errorlog=sys.argv[4], loglevel="debug", capture_output=True, graceful_timeout=2)
"""


@dataclass
class Server:
    url: str
    database_url: str
    access_log: Path
    error_log: Path
    proc: subprocess.Popen[bytes]
    tokens: dict[str, str] = field(default_factory=dict)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in (self.access_log, self.error_log))

    def worker_pids(self) -> list[int]:
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True
        )
        return [int(p) for p in out.stdout.split()]


def server_env(instance: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "VIRTAPI_DATABASE_URL": database_url,
            "VIRTAPI_INSTANCE_PATH": str(instance),
            "VIRTAPI_SECRET_KEY": "hardening-test",
            "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
            **extra,
        }
    )
    return env


def load_demo(env: dict[str, str]) -> dict[str, str]:
    """Migrate and load the demo fleet; the demo tokens by label (admin, customer 1001, …)."""
    done = subprocess.run(
        [sys.executable, "-m", "virtapi.cli", "demo"],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return dict(re.findall(r"^(.+?) token: (\S+)$", done.stdout, re.MULTILINE))


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not answer /healthz in time")


@contextlib.contextmanager
def running_server(
    base: Path, database_url: str, *, workers: int = 2, demo: bool = True, **env_extra: str
) -> Iterator[Server]:
    instance = base / "instance"
    instance.mkdir(parents=True, exist_ok=True)
    env = server_env(instance, database_url, **env_extra)
    tokens = load_demo(env) if demo else {}
    port = free_port()
    access_log, error_log = base / "access.log", base / "error.log"
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUNNER, f"127.0.0.1:{port}", str(workers),
         str(access_log), str(error_log)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}", database_url, access_log, error_log, proc, tokens)
    try:
        _wait_until_up(server.url, proc)
        yield server
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
