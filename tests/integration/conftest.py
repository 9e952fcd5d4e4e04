"""A real virtapi over HTTP for the integration tests: gunicorn on 127.0.0.1, demo data.

`live_server` is session-scoped: one `virtapi demo` into a fresh SQLite database and one
gunicorn process (two workers) serve every integration test; it is stopped at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import skip_or_fail

REPO = Path(__file__).resolve().parents[2]
HIERA_TRAP = "dc1 rack 3 %{facts.fqdn}"

# Lines Facter prints in containers without access to /proc/1/environ; harmless.
_FACTER_NOISE = re.compile(r"(Facter: .*Permission denied|/proc/1/environ)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_stderr(text: str) -> str:
    """stderr without Facter's harmless permission noise, for asserting on what remains."""
    return "\n".join(line for line in text.splitlines() if not _FACTER_NOISE.search(line))


def find_tool(name: str, *candidates: str) -> str | None:
    for candidate in (os.environ.get(f"VIRTAPI_{name.upper().replace('-', '_')}"), *candidates):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which(name)


@dataclass
class LiveServer:
    url: str
    database_url: str
    access_log: Path
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def reader_token(self) -> str:
        return self.tokens["reader"]

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


def _env(instance: Path, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "VIRTAPI_DATABASE_URL": database_url,
            "VIRTAPI_INSTANCE_PATH": str(instance),
            "VIRTAPI_SECRET_KEY": "integration-test",
            # The worktree's code, not whatever `virtapi` is installed system-wide.
            "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
        }
    )
    return env


def _wait_until_up(
    url: str, proc: subprocess.Popen[bytes], deadline: float, ca_file: Path | None = None
) -> None:
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(  # noqa: S310
                url + "/healthz", timeout=1, context=context
            ) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not answer /healthz in time")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if find_tool("gunicorn") is None and not _importable("gunicorn"):
        skip_or_fail("gunicorn is not installed")
    base = tmp_path_factory.mktemp("live")
    instance = base / "instance"
    instance.mkdir()
    database_url = f"sqlite:///{base / 'virtapi.sqlite'}"
    env = _env(instance, database_url)

    demo = subprocess.run(
        [sys.executable, "-m", "virtapi.cli", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr
    tokens = dict(re.findall(r"^(.+?) token: (\S+)$", demo.stdout, re.MULTILINE))
    assert "reader" in tokens, demo.stdout
    # hv03's location gets a Hiera interpolation token, so the Puppet tests can prove
    # that virtapi escapes it (Hiera would otherwise replace it with a fact's value).
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE node SET location = :loc WHERE fqdn = :fqdn"),
            {"loc": HIERA_TRAP, "fqdn": "hv03.dc1.example.com"},
        )
    engine.dispose()
    _storage_features(database_url)

    access_log = base / "access.log"
    access_log.touch()
    proc, url = _start_gunicorn(env, access_log, base / "gunicorn.log")
    try:
        yield LiveServer(url=url, database_url=database_url, access_log=access_log, tokens=tokens)
    finally:
        _stop(proc)


def _storage_features(database_url: str) -> None:
    """Issue 17: a backup schedule and a routed /64 for web1 (on hv01), so the Puppet and
    Salt tests render timers and routes, through the same service functions as the API."""
    from sqlalchemy import select

    from virtapi.db import Database
    from virtapi.models import Vm
    from virtapi.services import backups
    from virtapi.services.network import prefixes

    db = Database(database_url)
    with db.session() as s:
        web1 = s.scalars(select(Vm).where(Vm.hostname == "web1.c1001.example.net")).one()
        store = backups.create_store(
            s, {"name": "nfs1", "kind": "path", "target": "backup01:/srv/backups"}
        )
        backups.create_schedule(s, web1, store, "Mon..Fri 02:00", 7)
        pool = prefixes.create_pool(s, "2001:db8:f00::/48")
        prefixes.allocate_prefix(s, web1.interfaces[0], pool)
    db.dispose()


def _start_gunicorn(
    env: dict[str, str], access_log: Path, error_log: Path, tls: tuple[Path, Path] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--access-logfile",
        str(access_log),
        "--access-logformat",
        '"%(r)s" %(s)s',
    ]
    if tls:
        command += ["--certfile", str(tls[0]), "--keyfile", str(tls[1])]
    proc = subprocess.Popen(
        [*command, "virtapi.app:create_app()"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(error_log, "wb"),  # noqa: SIM115 - lives as long as the server
    )
    scheme = "https" if tls else "http"
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        _wait_until_up(url, proc, time.monotonic() + 60, tls[0] if tls else None)
    except BaseException:
        _stop(proc)
        raise
    return proc, url


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class TlsServer:
    url: str
    ca_file: Path


@pytest.fixture(scope="session")
def live_tls_server(
    live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsServer]:
    """The same database served over HTTPS with a self-signed certificate, to prove that
    the clients verify certificates by default and accept a configured CA file."""
    if shutil.which("openssl") is None:
        skip_or_fail("openssl is not installed")
    base = tmp_path_factory.mktemp("tls")
    cert, key = base / "cert.pem", base / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    env = _env(base, live_server.database_url)
    proc, url = _start_gunicorn(env, base / "access.log", base / "gunicorn.log", (cert, key))
    try:
        yield TlsServer(url=url, ca_file=cert)
    finally:
        _stop(proc)


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="session")
def puppet() -> str:
    found = find_tool("puppet", "/opt/puppetlabs/bin/puppet")
    if found is None:
        skip_or_fail("puppet is not installed")
    return found  # type: ignore[return-value]


@pytest.fixture(scope="session")
def salt_call() -> str:
    found = find_tool(
        "salt-call", "/opt/venv-salt/bin/salt-call", str(REPO / ".venv-salt/bin/salt-call")
    )
    if found is None:
        skip_or_fail("salt-call is not installed (pip install salt==3008.3 into a virtualenv)")
    return found  # type: ignore[return-value]


@pytest.fixture
def token_file(live_server: LiveServer, tmp_path: Path) -> Path:
    path = tmp_path / "virtapi.token"
    path.write_text(live_server.reader_token + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A URL whose server accepts connections but never answers: exercises timeouts."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture
def dead_url() -> str:
    """A URL nothing listens on (connection refused): virtapi is down."""
    return f"http://127.0.0.1:{free_port()}"
