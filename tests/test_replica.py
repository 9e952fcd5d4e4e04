"""A streaming replica takes the reads; writes go to the primary; reads survive its loss.

Two private PostgreSQL clusters on loopback: a primary and a replica made by pg_basebackup -R.
To show honestly where a read was answered, the replica's WAL replay is paused: a row then
written on the primary is invisible to reads served by the replica, and visible again once
replay resumes or the replica is gone and reads fall back to the primary.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from bench.fleet import generate
from tests.conftest import skip_or_fail
from tests.support.pg import PostgresCluster, pg_bindir
from virtapi import migrate
from virtapi.app import create_app
from virtapi.db import Database, get_read_session, get_session
from virtapi.services import tokens


@pytest.fixture(scope="module")
def clusters() -> Iterator[tuple[PostgresCluster, PostgresCluster]]:
    bindir = pg_bindir()
    if bindir is None:
        skip_or_fail("PostgreSQL server binaries (initdb, pg_basebackup) not installed")
    primary = PostgresCluster(bindir).init().start()  # type: ignore[arg-type]
    migrate.upgrade(primary.url())
    replica = primary.start_replica()
    yield primary, replica
    replica.destroy()
    primary.destroy()


def _sql(url: str, sql: str) -> Any:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def _wait_replayed(primary: PostgresCluster, replica: PostgresCluster) -> None:
    lsn = _sql(primary.url(), "SELECT pg_current_wal_lsn()::text")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _sql(replica.url(), f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn"):
            return
        time.sleep(0.05)
    raise AssertionError("the replica did not catch up within 30 s")


def _fleet(n: int) -> dict[str, Any]:
    doc = generate(hypervisors=1, vms_per_hypervisor=1, ceph_nodes=0, networks=1)
    doc["nodes"][0]["fqdn"] = f"hv-batch{n}.example.com"
    doc["nodes"][0]["interfaces"][0]["mac"] = f"0c:c4:7a:00:10:{n:02x}"
    doc["nodes"][0]["interfaces"][0]["addresses"] = []
    doc["networks"] = {"ipv4": [], "ipv6": []}
    doc["vlans"], doc["ceph_pools"] = [], []
    vm = doc["vms"][0]
    vm.update(hostname=f"batch{n}.example.net", uuid=None)
    vm["placement"]["hypervisor"] = doc["nodes"][0]["fqdn"]
    vm["interfaces"] = [{"mac": f"52:54:00:00:10:{n:02x}"}]
    vm["disks"] = [{"type": "lvm", "size": 2**30}]
    return doc


def _hostnames(client: Any, header: dict[str, str]) -> set[str]:
    resp = client.get("/api/v1/export", headers=header)
    assert resp.status_code == 200, resp.get_json()
    return {vm["hostname"] for vm in resp.get_json()["vms"]}


def test_reads_from_the_replica_writes_to_the_primary_fallback_when_down(
    clusters: tuple[PostgresCluster, PostgresCluster],
) -> None:
    primary, replica = clusters
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": primary.url(),
            "DATABASE_READ_URL": replica.url(),
            "REPLICA_RETRY_SECONDS": 0,
            "SECRET_KEY": "test",
        }
    )
    db = app.extensions["virtapi.db"]
    with db.session() as s:
        _, admin = tokens.create_token(s, "admin", name="replica test")
    header = {"Authorization": f"Bearer {admin}"}
    client = app.test_client()
    try:
        with app.test_request_context("/"):
            # The read session really is on the standby, the ordinary one on the primary.
            assert get_read_session().scalar(text("SELECT pg_is_in_recovery()")) is True
            assert get_session().scalar(text("SELECT pg_is_in_recovery()")) is False

        # A write through the API lands on the primary (a standby would refuse it).
        resp = client.post("/api/v1/import", json=_fleet(1), headers=header)
        assert resp.status_code == 201, resp.get_json()
        _wait_replayed(primary, replica)
        assert _hostnames(client, header) == {"batch1.example.net"}

        # With replay paused, the next write reaches the primary but not the replica: reads
        # that miss it were answered by the replica.
        _sql(replica.url(), "SELECT pg_wal_replay_pause()")
        resp = client.post("/api/v1/import", json=_fleet(2), headers=header)
        assert resp.status_code == 201, resp.get_json()
        assert _sql(primary.url(), "SELECT count(*) FROM vm") == 2
        assert _sql(replica.url(), "SELECT count(*) FROM vm") == 1
        assert _hostnames(client, header) == {"batch1.example.net"}
        _sql(replica.url(), "SELECT pg_wal_replay_resume()")
        _wait_replayed(primary, replica)
        assert _hostnames(client, header) == {"batch1.example.net", "batch2.example.net"}

        # Replica gone: reads fall back to the primary and still answer, fully current.
        _sql(replica.url(), "SELECT pg_wal_replay_pause()")
        resp = client.post("/api/v1/import", json=_fleet(3), headers=header)
        assert resp.status_code == 201
        replica.stop()
        assert _hostnames(client, header) == {f"batch{n}.example.net" for n in (1, 2, 3)}
        with app.test_request_context("/"):
            assert get_read_session() is get_session()
    finally:
        db.dispose()


def test_without_a_replica_reads_share_the_request_session(app: Any) -> None:
    with app.test_request_context("/"):
        assert get_read_session() is get_session()


def test_a_dead_replica_is_left_alone_for_a_while(tmp_path: Any) -> None:
    """After one failed connect, reads go straight to the primary until the retry time."""
    from sqlalchemy import event

    from tests.support.pg import free_port
    from virtapi.db import Database

    dead = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/postgres"
    db = Database(f"sqlite:///{tmp_path / 'p.sqlite'}", dead, replica_retry_seconds=600)
    attempts = []
    event.listen(db.read_engine, "do_connect", lambda *a: attempts.append(1))
    try:
        assert db.read_session() is None
        assert db.read_session() is None
        assert len(attempts) == 1
        db.replica_retry_seconds = 0
        db._replica_down_until = 0.0
        assert db.read_session() is None
        assert len(attempts) == 2
    finally:
        db.dispose()


def test_a_sqlite_read_url_is_accepted(tmp_path: Path) -> None:
    """A second SQLite file as the read database (tests, a laptop) builds its engine too."""
    url = f"sqlite:///{tmp_path / 'read.sqlite'}"
    db = Database(url, read_url=url)
    session = db.read_session()
    assert session is not None
    assert session.execute(text("SELECT 1")).scalar() == 1
    session.close()
    db.dispose()
