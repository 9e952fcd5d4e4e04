"""SIGKILL of gunicorn's workers in the middle of a burst of VM creations on PostgreSQL.

Every VM must then be complete (interfaces, addresses, disks) or absent, no allocation may be
left attached to nothing, every VM acknowledged with 201 must exist, and the change log must
match the data.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import BACKENDS
from tests.hardening.consistency import problems, snapshot
from tests.support.server import Server, running_server

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        "postgresql" not in BACKENDS, reason="VIRTAPI_TEST_BACKENDS excludes PostgreSQL"
    ),
]

GiB = 1024**3
REQUESTS = 60
KILL_AFTER = (12, 30)  # SIGKILL every worker once this many answers have arrived


@pytest.fixture
def pg_server(pg_cluster: Any, tmp_path: Any) -> Iterator[Server]:
    name = f"crash{os.getpid()}_{int(time.monotonic() * 1000)}"
    admin = create_engine(pg_cluster.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    with running_server(tmp_path, pg_cluster.url(name), workers=2) as server:
        yield server


def _post(server: Server, path: str, body: Any, token: str) -> int | str:
    req = urllib.request.Request(
        server.url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:  # noqa: S310
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, ConnectionError, OSError) as err:
        return f"connection lost: {err}"


def _vm_body(i: int) -> dict[str, Any]:
    return {
        "hostname": f"crash{i:03d}.c1001.example.net",
        "customer_id": 1001,
        "cores": 1,
        "ram": GiB // 4,
        "disks": [{"size": GiB, "storage_type": "ceph", "cache_option": "none",
                   "ceph_pool": "rbd"}],
        "interfaces": [{"ipv4_network_id": 2, "ipv6_network_id": 2}],
    }  # fmt: skip


def test_vm_burst_killed_midway_leaves_a_consistent_database(pg_server: Server) -> None:
    engine = create_engine(pg_server.database_url)
    before = snapshot(engine)
    token = pg_server.tokens["admin"]
    answered = 0
    lock = threading.Lock()
    kills: list[list[int]] = []

    def create(i: int) -> int | str:
        nonlocal answered
        result = _post(pg_server, "/api/v1/vms", _vm_body(i), token)
        with lock:
            answered += 1
            if answered in KILL_AFTER:
                pids = pg_server.worker_pids()
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                kills.append(pids)
        return result

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(create, range(REQUESTS)))
    assert len(kills) == 2 and all(kills), kills

    statuses = [r for r in results if isinstance(r, int)]
    # The kills hit requests in flight (otherwise this test proved nothing).
    assert len(statuses) < REQUESTS, results
    assert not [s for s in statuses if s >= 500], results
    assert all(s in (201, 409) for s in statuses), results
    assert statuses.count(201) >= 10, results  # gunicorn respawned workers and went on

    with engine.connect() as conn:
        existing = set(conn.execute(text("SELECT hostname FROM vm WHERE hostname LIKE 'crash%'"))
                       .scalars())  # fmt: skip
    acknowledged = {_vm_body(i)["hostname"] for i, r in enumerate(results) if r == 201}
    assert acknowledged <= existing, "a VM answered 201 is missing"
    assert problems(engine, "crash") == []

    after = snapshot(engine)
    created = after.vms - before.vms
    assert created == len(existing)
    assert after.interfaces - before.interfaces == created
    assert after.disks - before.disks == created
    # Addresses are rows only while allocated: the free pool rows did not grow or shrink.
    assert (after.free_ipv4, after.free_ipv6) == (before.free_ipv4, before.free_ipv6)
    engine.dispose()
