"""SIGKILL of gunicorn's workers in the middle of a bulk import on PostgreSQL.

The import is one transaction: killed while it is writing, nothing of it may remain (no node,
VM, address, change row); imported again afterwards, it is complete and consistent.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from bench.fleet import generate
from tests.conftest import BACKENDS
from tests.hardening.consistency import problems
from tests.support.server import running_server
from virtapi import migrate
from virtapi.db import Database
from virtapi.services import tokens

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        "postgresql" not in BACKENDS, reason="VIRTAPI_TEST_BACKENDS excludes PostgreSQL"
    ),
]


def _post(url: str, body: bytes, token: str, result: list[Any]) -> None:
    req = urllib.request.Request(
        url, data=body, method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=600) as resp:  # noqa: S310
            result.append(resp.status)
    except urllib.error.HTTPError as err:
        result.append(err.code)
    except (urllib.error.URLError, ConnectionError, OSError) as err:
        result.append(f"connection lost: {err}")


def _counts(engine: Any) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
            for t in ("node", "vm", "vm_interface", "ipv4", "ipv6", "storage", "vlan", "change")
        }


def test_import_killed_midway_leaves_nothing_then_imports_whole(
    pg_cluster: Any, tmp_path: Any
) -> None:
    name = f"imp{os.getpid()}_{int(time.monotonic() * 1000)}"
    admin_engine = create_engine(pg_cluster.url(), isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = pg_cluster.url(name)
    migrate.upgrade(url)
    db = Database(url)
    with db.session() as s:
        _, token = tokens.create_token(s, "admin", name="importer")
    db.dispose()
    engine = create_engine(url)
    empty = _counts(engine)
    body = json.dumps(generate(hypervisors=20, vms_per_hypervisor=50)).encode()

    with running_server(tmp_path, url, workers=2, demo=False,
                        VIRTAPI_MAX_BODY_BYTES=str(64 * 1024 * 1024)) as server:  # fmt: skip
        result: list[Any] = []
        poster = threading.Thread(
            target=_post, args=(server.url + "/api/v1/import", body, token, result)
        )
        poster.start()
        # Kill once the import's transaction has written something (it has a transaction id).
        deadline = time.monotonic() + 120
        writing = 0
        while not writing and time.monotonic() < deadline and poster.is_alive():
            with admin_engine.connect() as conn:
                writing = conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity "
                         "WHERE datname = :d AND backend_xid IS NOT NULL"), {"d": name},
                ).scalar_one()  # fmt: skip
            time.sleep(0.02)
        assert writing, f"the import never started writing: {result}"
        for pid in server.worker_pids():
            os.kill(pid, signal.SIGKILL)
        poster.join(timeout=120)
        assert result and isinstance(result[0], str), result  # the client saw the connection die
        # PostgreSQL rolls back the dead connection's transaction.
        assert _counts(engine) == empty

        # gunicorn respawned its workers: the same document now imports whole.
        again: list[Any] = []
        _post(server.url + "/api/v1/import", body, token, again)
        assert again == [201]
    after = _counts(engine)
    assert after["vm"] == 1000 and after["node"] > 20
    assert problems(engine, "", interfaces=1, disks=None) == []
    engine.dispose()
    admin_engine.dispose()
