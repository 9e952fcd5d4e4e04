"""The ETag check and the write happen under a row lock: a change committed meanwhile is seen."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import text

from tests.api.helpers import H, db_of


def test_patch_checks_if_match_under_row_lock(app: Any, api_tokens: Any, db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE; row locks are PostgreSQL's")
    client = app.test_client()
    op = H(api_tokens.operator)
    client.get("/api/v1/whoami", headers=op)
    created = client.post("/api/v1/nodes", json={"fqdn": "lock.example.com"}, headers=op)
    url, tag, node_id = created.headers["Location"], created.headers["ETag"], created.json["id"]

    engine = db_of(app).engine
    result: dict[str, Any] = {}
    with engine.connect() as holder, engine.connect() as watcher:
        tx = holder.begin()
        holder.execute(text("SELECT id FROM node WHERE id = :id FOR UPDATE"), {"id": node_id})

        def patch() -> None:
            result["resp"] = app.test_client().patch(
                url, json={"location": "mine"}, headers={**op, "If-Match": tag}
            )

        worker = threading.Thread(target=patch)
        worker.start()
        # Proceed only once the request is blocked on our lock, so the outcome is deterministic.
        for _ in range(1000):
            waiting = watcher.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            ).scalar()
            watcher.rollback()  # pg_stat_activity is a per-transaction snapshot
            if waiting:
                break
            time.sleep(0.01)
        assert waiting, ("the PATCH never waited for the row lock", result)
        holder.execute(text("UPDATE node SET location = 'theirs' WHERE id = :id"), {"id": node_id})
        tx.commit()
        worker.join(30)
    assert result["resp"].status_code == 412
    assert client.get(url, headers=op).json["location"] == "theirs"


def test_concurrent_vlan_creation_gets_distinct_vnis(
    app: Any, api_tokens: Any, db_url: str
) -> None:
    """However the requests interleave, every one succeeds with its own VNI."""
    op = H(api_tokens.operator)
    app.test_client().get("/api/v1/whoami", headers=op)
    results: list[Any] = []
    barrier = threading.Barrier(6)

    def create(n: int) -> None:
        barrier.wait()
        results.append(app.test_client().post("/api/v1/vlans", json={"name": f"c{n}"}, headers=op))

    workers = [threading.Thread(target=create, args=(n,)) for n in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [r.status_code for r in results] == [201] * 6, [r.json for r in results]
    assert len({r.json["vni"] for r in results}) == 6


def test_concurrent_creations_cannot_overrun_a_quota(
    app: Any, api_tokens: Any, demo: Any, db_url: str
) -> None:
    """Customer 1002 has room for 5 more cores: of six 2-core VMs asked for at once, two fit."""
    cb = H(api_tokens.customer_b)
    app.test_client().get("/api/v1/whoami", headers=cb)
    results: list[Any] = []
    barrier = threading.Barrier(6)

    def create(n: int) -> None:
        barrier.wait()
        body = {"hostname": f"burst{n}.example.net", "cores": 2, "ram": 1}
        results.append(app.test_client().post("/api/v1/vms", json=body, headers=cb))

    workers = [threading.Thread(target=create, args=(n,)) for n in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 201, 403, 403, 403, 403], [r.json for r in results]
    assert {r.json["code"] for r in results if r.status_code == 403} == {"quota_exceeded"}
