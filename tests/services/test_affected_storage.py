"""Storage writes (issue 17) close the loop like the others: a dry run previews exactly the
documents the real call changes (the VM's and its hypervisor's) and persists nothing; the
real call names exactly those certnames in the change feed and invalidates their cached
documents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import Tokens
from tests.services.test_affected import _documents
from virtapi.db import Database
from virtapi.models import Change, DataVersion, Storage, Vm
from virtapi.services import json_patch

HV = "hv01.dc1.example.com"
VM = "web1.c1001.example.net"  # customer 1001, on hv01
GiB = 1024**3

Write = tuple[str, str, dict[str, Any] | None]


def _ids(db: Database) -> dict[str, int]:
    with db.session() as s:
        vm = s.execute(select(Vm).where(Vm.hostname == VM)).scalar_one()
        disk = s.execute(select(Storage.id).where(Storage.vm_id == vm.id)).scalars().first()
        return {"vm": vm.id, "disk": disk, "iface": vm.interfaces[0].id}


def _snapshot_create(client: Any, op: dict[str, str], ids: dict[str, int]) -> Write:
    return "POST", "/api/v1/snapshots", {"storage_id": ids["disk"], "name": "s1"}


def _snapshot_delete(client: Any, op: dict[str, str], ids: dict[str, int]) -> Write:
    made = client.post("/api/v1/snapshots", json={"storage_id": ids["disk"], "name": "s2"},
                       headers=op).get_json()  # fmt: skip
    client.post(f"/api/v1/snapshots/{made['id']}/report", json={"state": "present"}, headers=op)
    return "DELETE", f"/api/v1/snapshots/{made['id']}", None


def _schedule_create(client: Any, op: dict[str, str], ids: dict[str, int]) -> Write:
    store = {"name": "nfs1", "kind": "path", "target": "/srv/backups"}
    assert client.post("/api/v1/backup-stores", json=store, headers=op).status_code == 201
    body = {"vm_id": ids["vm"], "store": "nfs1", "on_calendar": "daily", "retention": 3}
    return "POST", "/api/v1/backup-schedules", body


def _clone_create(client: Any, op: dict[str, str], ids: dict[str, int]) -> Write:
    base = {"name": "deb13", "storage_type": "ceph", "ceph_pool": "rbd", "size": 4 * GiB}
    assert client.post("/api/v1/base-images", json=base, headers=op).status_code == 201
    body = {"vm_id": ids["vm"], "size": 8 * GiB, "storage_type": "ceph", "base_image": "deb13"}
    return "POST", "/api/v1/storage", body


def _prefix_allocate(client: Any, op: dict[str, str], ids: dict[str, int]) -> Write:
    pool = {"prefix": "2001:db8:f00::/56"}
    assert client.post("/api/v1/ipv6-prefix-pools", json=pool, headers=op).status_code == 201
    return "POST", "/api/v1/ipv6-routed-prefixes", {"vm_interface_id": ids["iface"]}


WRITES: dict[str, Callable[[Any, dict[str, str], dict[str, int]], Write]] = {
    "snapshot create": _snapshot_create,
    "snapshot delete": _snapshot_delete,
    "backup schedule create": _schedule_create,
    "clone create": _clone_create,
    "routed prefix allocate": _prefix_allocate,
}


def _state(db: Database) -> tuple[int, int]:
    with db.session() as s:
        changes = len(s.execute(select(Change.id)).all())
        return changes, s.execute(select(DataVersion.version)).scalar_one()


@pytest.mark.parametrize("write", list(WRITES))
def test_storage_write_dry_run_feed_and_cache(
    app: Any, client: Any, api_tokens: Tokens, demo: Any, write: str
) -> None:
    db: Database = app.extensions["virtapi.db"]
    op = api_tokens.header(api_tokens.operator)
    reader = api_tokens.header(api_tokens.reader)
    method, path, body = WRITES[write](client, op, _ids(db))
    # Served once, so a stale cache would show after the write.
    cached = {n: client.get(f"/pillar/{n}", headers=reader).get_json() for n in (HV, VM)}
    cursor = client.get("/api/v1/feed", headers=reader).get_json()["cursor"]
    before = _documents(db)
    state = _state(db)

    sep = "&" if "?" in path else "?"
    dry = client.open(f"{path}{sep}dry_run=true", method=method, json=body, headers=op)
    assert dry.status_code == 200, dry.get_json()
    preview = dry.get_json()
    assert preview["dry_run"] is True and preview["affected"] == sorted({HV, VM})
    assert set(preview["documents"]) == {HV, VM}
    assert _state(db) == state  # nothing persisted
    assert client.get(f"/api/v1/feed?since={cursor}", headers=reader).get_json()["nodes"] == []

    real = client.open(path, method=method, json=body, headers=op)
    assert real.status_code == preview["status"], real.get_json()
    after = _documents(db)
    changed = {n for n in after if before.get(n) != after[n]}
    assert changed == {HV, VM}
    for name, patch in preview["documents"].items():
        # PostgreSQL sequences do not roll back: the real call draws the next ids, so there
        # the preview matches in what it changes (paths), on SQLite to the value.
        actual = json_patch.diff(before[name], after[name])
        assert [op["path"] for op in patch] == [op["path"] for op in actual]
        if db.engine.dialect.name == "sqlite":
            assert json_patch.apply(before[name], patch) == after[name]
    feed = client.get(f"/api/v1/feed?since={cursor}", headers=reader).get_json()
    assert set(feed["nodes"]) == {HV, VM}
    for name in (HV, VM):
        served = client.get(f"/pillar/{name}", headers=reader).get_json()
        assert served != cached[name] and served["virtapi"] == after[name]
