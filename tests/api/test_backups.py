"""Backups (issue 17 point 2): operators' stores, customers' schedules on their own VMs with
validated OnCalendar, host-reported runs, retention, age, overdue, restore into a new disk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.helpers import GiB, H, db_of, vm_id
from virtapi.models import BackupSchedule
from virtapi.services import backups


def _store(client: Any, op: dict[str, str]) -> None:
    store = {"name": "nfs1", "kind": "path", "target": "backup01:/srv/backups"}
    assert client.post("/api/v1/backup-stores", json=store, headers=op).status_code == 201


def test_stores_are_for_operators_and_validated(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    op, ca = H(api_tokens.operator), H(api_tokens.customer_a)
    store = {"name": "nfs1", "kind": "path", "target": "backup01:/srv/backups"}
    assert client.post("/api/v1/backup-stores", json=store, headers=ca).status_code == 403
    bad = client.post(
        "/api/v1/backup-stores", json={**store, "target": "/srv/../etc; rm"}, headers=op
    )
    assert bad.status_code == 422 and "target" in bad.json["errors"]
    kind = client.post("/api/v1/backup-stores", json={**store, "kind": "tape"}, headers=op)
    assert kind.status_code == 422 and kind.json["errors"] == {
        "kind": ["Must be one of: rbd, path."]
    }
    assert client.post("/api/v1/backup-stores", json=store, headers=op).status_code == 201
    rbd = {"name": "rbd-backup", "kind": "rbd", "target": "backups"}
    assert client.post("/api/v1/backup-stores", json=rbd, headers=op).status_code == 201


def test_schedules_runs_retention_and_restore(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    op, ca, cb, host = (
        H(api_tokens.operator),
        H(api_tokens.customer_a),
        H(api_tokens.customer_b),
        H(api_tokens.reader),
    )
    _store(client, op)
    web1 = vm_id(app, "web1")
    schedule = {"vm_id": web1, "store": "nfs1", "on_calendar": "Mon..Fri 02:00", "retention": 2}
    bad_cal = client.post(
        "/api/v1/backup-schedules", json={**schedule, "on_calendar": "*-*-* 25:00"}, headers=ca
    )
    assert bad_cal.status_code == 422 and "on_calendar" in bad_cal.json["errors"]
    never = client.post(
        "/api/v1/backup-schedules", json={**schedule, "on_calendar": "*-02-30"}, headers=ca
    )
    assert never.status_code == 422 and never.json["errors"] == {"on_calendar": ["never elapses"]}
    both = client.post("/api/v1/backup-schedules", json={**schedule, "storage_id": 1}, headers=ca)
    assert both.status_code == 422 and "vm_id" in both.json["errors"]
    other = client.post("/api/v1/backup-schedules", json=schedule, headers=cb)
    assert other.status_code == 404 and "vm_id" in other.json["errors"]
    made = client.post("/api/v1/backup-schedules", json=schedule, headers=ca)
    assert made.status_code == 201, made.json
    assert made.json["last_success_at"] is None and made.json["overdue"] is False
    sid = made.json["id"]
    assert client.get(f"/api/v1/backup-schedules/{sid}", headers=cb).status_code == 404

    disk = client.get(f"/api/v1/vms/{web1}", headers=op).json["disks"][0]["id"]
    now = datetime.now(UTC)
    runs = []
    for days in (3, 2, 1):
        started = now - timedelta(days=days)
        run = {
            "storage_id": disk,
            "started_at": started.isoformat(),
            "finished_at": (started + timedelta(minutes=5)).isoformat(),
            "bytes": 123456,
            "result": "success",
        }
        assert (
            client.post(f"/api/v1/backup-schedules/{sid}/runs", json=run, headers=ca).status_code
            == 403
        )
        resp = client.post(f"/api/v1/backup-schedules/{sid}/runs", json=run, headers=host)
        assert resp.status_code == 201, resp.json
        runs.append(resp.json["id"])
    foreign = client.post(
        f"/api/v1/backup-schedules/{sid}/runs",
        json={"storage_id": 999999, "started_at": now.isoformat(), "result": "running"},
        headers=host,
    )
    assert foreign.status_code == 422 and "storage_id" in foreign.json["errors"]
    # Retention 2: the oldest success is gone; the list shows age, only to its customer.
    listed = client.get(f"/api/v1/backups?vm_id={web1}", headers=ca).json["results"]
    assert [b["id"] for b in listed] == runs[1:]
    assert 86000 < listed[-1]["age_seconds"] < 87000
    assert client.get("/api/v1/backups", headers=cb).json["count"] == 0
    assert client.get(f"/api/v1/backups/{runs[2]}", headers=cb).status_code == 404
    assert client.get(f"/api/v1/backup-schedules/{sid}", headers=ca).json["last_success_at"]

    # Restore into a new disk of another (or a new) VM of the same customer.
    db1 = vm_id(app, "db1")
    restored = client.post(f"/api/v1/backups/{runs[2]}/restore", json={"vm_id": db1}, headers=ca)
    assert restored.status_code == 201, restored.json
    assert (restored.json["vm_id"], restored.json["storage_type"], restored.json["size"]) == (
        db1,
        "lvm",
        20 * GiB,
    )
    theirs = client.post(f"/api/v1/backups/{runs[2]}/restore", json={"vm_id": db1}, headers=cb)
    assert theirs.status_code == 404

    # Overdue: the schedule should have elapsed since the last success, beyond the grace.
    with db_of(app).session() as s:
        row = s.get(BackupSchedule, sid)
        assert row is not None
        assert backups.last_success(s, row) == datetime.fromisoformat(listed[-1]["finished_at"])
        wednesday = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)  # next elapse: Thu 02:00
        assert backups.overdue(row, wednesday, now=wednesday + timedelta(hours=12)) is False
        thursday = datetime(2026, 12, 3, tzinfo=UTC)
        grace_ends = thursday + timedelta(hours=2) + backups.DEFAULT_GRACE
        assert backups.overdue(row, wednesday, now=grace_ends - timedelta(minutes=1)) is False
        assert backups.overdue(row, wednesday, now=grace_ends + timedelta(minutes=1)) is True


def test_hypervisor_document_has_timers_and_restores(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    from virtapi.services.node_document import build_node_document

    op, host = H(api_tokens.operator), H(api_tokens.reader)
    _store(client, op)
    db1 = vm_id(app, "db1")
    second = client.get(f"/api/v1/vms/{db1}", headers=op).json["disks"][1]["id"]
    whole = {"vm_id": db1, "store": "nfs1", "on_calendar": "daily", "retention": 7}
    one = {"storage_id": second, "store": "nfs1", "on_calendar": "*-*-* 0/6:00", "retention": 3}
    sids = [
        client.post("/api/v1/backup-schedules", json=body, headers=op).json["id"]
        for body in (whole, one)
    ]
    started = datetime(2026, 12, 1, 2, tzinfo=UTC)
    run = client.post(
        f"/api/v1/backup-schedules/{sids[1]}/runs",
        json={
            "storage_id": second,
            "started_at": started.isoformat(),
            "finished_at": (started + timedelta(minutes=1)).isoformat(),
            "result": "success",
        },
        headers=host,
    ).json
    web1 = vm_id(app, "web1")
    restore = f"/api/v1/backups/{run['id']}/restore"
    nopool = client.post(restore, json={"vm_id": web1}, headers=op)
    assert nopool.status_code == 422 and nopool.json["errors"] == {
        "ceph_pool": ["required for ceph"]
    }
    new = client.post(restore, json={"vm_id": web1, "ceph_pool": "rbd"}, headers=op)
    assert new.status_code == 201 and (new.json["storage_type"], new.json["ceph_pool"]) == (
        "ceph",
        "rbd",
    )
    with db_of(app).session() as s:
        doc = build_node_document(s, "hv01.dc1.example.com")
    assert doc is not None
    timers = doc["hypervisor"]["backup_timers"]
    assert [(t["unit"], t["on_calendar"], t["disks"]) for t in timers] == [
        (f"virtapi-backup-{sids[0]}", "daily", ["vda", "vdb"]),
        (f"virtapi-backup-{sids[1]}", "*-*-* 0/6:00", ["vdb"]),
    ]
    assert timers[0]["store"] == {"name": "nfs1", "kind": "path", "target": "backup01:/srv/backups"}
    assert timers[0]["vm"].startswith("db1.")
    restored = [d for vm in doc["hypervisor"]["vms"] for d in vm["disks"] if d["restore_from"]]
    assert len(restored) == 1
    assert restored[0]["restore_from"]["source"] == f"vm{db1}-disk{second}"
    assert restored[0]["restore_from"]["taken_at"] == started.isoformat()
    # Where the backup command put the copy (its layout), for the host to restore from.
    assert restored[0]["restore_from"]["copy"] == (
        f"vm{db1}-disk{second}/{started.strftime('%Y%m%dT%H%M%S.%fZ')}.qcow2"
    )
    # Deleting the disks ends their schedule and restore rows too, each in the change log.
    assert client.delete(f"/api/v1/storage/{new.json['id']}", headers=op).status_code == 204
    assert client.delete(f"/api/v1/storage/{second}", headers=op).status_code == 204
    assert client.get(f"/api/v1/backup-schedules/{sids[1]}", headers=op).status_code == 404
    assert client.get(f"/api/v1/backup-schedules/{sids[0]}", headers=op).status_code == 200
    log = client.get("/api/v1/changes?object_type=disk_restore", headers=op).json["results"]
    assert [c["action"] for c in log] == ["create", "delete"]
