"""A real virtapi over HTTP for the integration tests: gunicorn on 127.0.0.1, demo data.

`live_server` is session-scoped: one `virtapi demo` into a fresh SQLite database and one
gunicorn process (two workers) serve every integration test; it is stopped at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import skip_or_fail
from tests.support.paths import REPO
from tests.support.pg import free_port
from tests.support.server import (
    Server,
    load_demo,
    self_signed_cert,
    server_env,
    start_server,
    stop,
)

HIERA_TRAP = "dc1 rack 3 %{facts.fqdn}"

# Lines Facter prints in containers without access to /proc/1/environ; harmless.
_FACTER_NOISE = re.compile(r"(Facter: .*Permission denied|/proc/1/environ)")


def clean_stderr(text: str) -> str:
    """stderr without Facter's harmless permission noise, for asserting on what remains."""
    return "\n".join(line for line in text.splitlines() if not _FACTER_NOISE.search(line))


def find_tool(name: str, *candidates: str) -> str | None:
    for candidate in (os.environ.get(f"VIRTAPI_{name.upper().replace('-', '_')}"), *candidates):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which(name)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if find_tool("gunicorn") is None and not _importable("gunicorn"):
        skip_or_fail("gunicorn is not installed")
    base = tmp_path_factory.mktemp("live")
    instance = base / "instance"
    instance.mkdir()
    database_url = f"sqlite:///{base / 'virtapi.sqlite'}"
    env = server_env(instance, database_url)
    tokens = load_demo(env)
    assert "reader" in tokens, tokens
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
    _node_networks(database_url)

    server = start_server(base, env, tokens=tokens)
    try:
        yield server
    finally:
        stop(server.proc)


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


@pytest.fixture(scope="session")
def live_tls_server(
    live_server: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The same database served over HTTPS with a self-signed certificate, to prove that
    the clients verify certificates by default and accept a configured CA file."""
    if shutil.which("openssl") is None:
        skip_or_fail("openssl is not installed")
    base = tmp_path_factory.mktemp("tls")
    cert, key = self_signed_cert(base)
    env = server_env(base, live_server.database_url)
    server = start_server(base, env, tls=(cert, key))
    try:
        yield server
    finally:
        stop(server.proc)


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
def token_file(live_server: Server, tmp_path: Path) -> Path:
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


def _node_networks(database_url: str) -> None:
    """Issue 16: hv01 and hv02 get an underlay NIC (VXLAN runs over it) and hv01 a storage NIC
    on a storage network with a gateway (which its .network file must leave out), through the
    service functions the API calls."""
    from sqlalchemy import select

    from virtapi.db import Database
    from virtapi.models import Node
    from virtapi.services.network import interfaces, ipam, networks

    db = Database(database_url)
    with db.session() as s:
        underlay = networks.create_network(s, 4, "10.40.0.0/24", purpose="underlay")
        storage = networks.create_network(
            s, 4, "10.30.0.0/24", gateway="10.30.0.1", purpose="storage"
        )
        nics = [
            ("hv01", "eno2", "0c:c4:7a:00:01:01", storage, "10.30.0.11"),
            ("hv01", "eno3", "0c:c4:7a:00:02:01", underlay, "10.40.0.11"),
            ("hv02", "eno3", "0c:c4:7a:00:02:02", underlay, "10.40.0.12"),
        ]
        for host, name, mac, network, address in nics:
            node = s.scalars(select(Node).where(Node.fqdn == f"{host}.dc1.example.com")).one()
            nic = interfaces.create_interface(
                s, None, node, {"node_ifname": name, "mac": mac, "purpose": network.purpose}
            )
            ipam.allocate(s, network, nic, address)
    db.dispose()
