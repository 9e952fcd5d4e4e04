"""The one real gunicorn serving virtapi in the tests, with its logs captured to files.

Used by the hardening, fuzz and metrics tests (each module starts its own: they change data and
kill workers, so they must not share a server) and by the integration tests (one session-wide
server, plus the same database over HTTPS). Demo data and tokens come from `virtapi demo`.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.paths import REPO
from tests.support.pg import free_port

# gunicorn, with its access log and error log written to files the tests can grep.
_RUNNER = """
import sys
from virtapi.server import run_gunicorn
tls = {"certfile": sys.argv[5], "keyfile": sys.argv[6]} if len(sys.argv) > 5 else {}
run_gunicorn(bind=sys.argv[1], workers=int(sys.argv[2]), accesslog=sys.argv[3],
             errorlog=sys.argv[4], loglevel="debug", capture_output=True, graceful_timeout=2,
             **tls)
"""


@dataclass
class Server:
    url: str
    database_url: str
    access_log: Path
    error_log: Path
    proc: subprocess.Popen[bytes]
    tokens: dict[str, str] = field(default_factory=dict)
    # The self-signed certificate a TLS server presents, for clients to trust.
    ca_file: Path | None = None

    @property
    def reader_token(self) -> str:
        return self.tokens["reader"]

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in (self.access_log, self.error_log))

    def worker_pids(self) -> list[int]:
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True
        )
        return [int(p) for p in out.stdout.split()]

    def _settled_size(self) -> int:
        # gunicorn writes the access-log line just after sending the response; wait until
        # the log stops growing so a line is attributed to the right request.
        size = self.access_log.stat().st_size
        while True:
            time.sleep(0.15)
            now = self.access_log.stat().st_size
            if now == size:
                return size
            size = now

    def log_offset(self) -> int:
        """Where the access log ends once every earlier request has been logged."""
        return self._settled_size()

    def requests_since(self, offset: int, pattern: str) -> list[str]:
        """Access-log lines written after byte `offset` that contain `pattern`."""
        self._settled_size()
        with self.access_log.open() as fh:
            fh.seek(offset)
            return [line for line in fh if pattern in line]


def server_env(instance: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "VIRTAPI_DATABASE_URL": database_url,
            "VIRTAPI_INSTANCE_PATH": str(instance),
            "VIRTAPI_SECRET_KEY": "test-server",
            # The worktree's code, not whatever `virtapi` is installed system-wide.
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


def wait_until_up(
    url: str, proc: subprocess.Popen[Any], timeout: float = 60, ca_file: Path | None = None
) -> None:
    """Until `url`/healthz answers 200; fails at once if the server process has exited."""
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(  # noqa: S310
                url + "/healthz", timeout=2, context=context
            ) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError("the server did not answer /healthz in time")


def self_signed_cert(base: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1, written below `base`, valid for a day."""
    cert, key = base / "cert.pem", base / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def start_server(
    base: Path,
    env: dict[str, str],
    *,
    workers: int = 2,
    tokens: dict[str, str] | None = None,
    tls: tuple[Path, Path] | None = None,
) -> Server:
    """gunicorn on a free loopback port, logging below `base`; returns once it is healthy.
    `tls` is (certificate, key): the server then speaks HTTPS only."""
    port = free_port()
    access_log, error_log = base / "access.log", base / "error.log"
    access_log.touch()
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUNNER, f"127.0.0.1:{port}", str(workers),
         str(access_log), str(error_log), *(str(p) for p in tls or ())],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    scheme = "https" if tls else "http"
    ca_file = tls[0] if tls else None
    server = Server(
        f"{scheme}://127.0.0.1:{port}", env["VIRTAPI_DATABASE_URL"], access_log, error_log,
        proc, tokens or {}, ca_file,
    )  # fmt: skip
    try:
        wait_until_up(server.url, proc, ca_file=ca_file)
    except BaseException:
        stop(proc)
        raise
    return server


@contextlib.contextmanager
def running_server(
    base: Path,
    database_url: str,
    *,
    workers: int = 2,
    demo: bool = True,
    tls: tuple[Path, Path] | None = None,
    **env_extra: str,
) -> Iterator[Server]:
    instance = base / "instance"
    instance.mkdir(parents=True, exist_ok=True)
    env = server_env(instance, database_url, **env_extra)
    tokens = load_demo(env) if demo else {}
    server = start_server(base, env, workers=workers, tokens=tokens, tls=tls)
    try:
        yield server
    finally:
        stop(server.proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
