"""Snapshots (issue 17 point 1): ownership, quota, rollback only when stopped, host reports,
and what the hypervisor's document tells it to do per storage type."""

from __future__ import annotations

from typing import Any

from tests.api.helpers import H, db_of, vm_id
from virtapi.services.node_document import build_node_document


def _disk(client: Any, headers: dict[str, str], vm: int, kind: str | None = None) -> int:
    disks = client.get(f"/api/v1/storage?vm_id={vm}", headers=headers).json["results"]
    return next(d["id"] for d in disks if kind is None or d["storage_type"] == kind)


def _snap(client: Any, headers: dict[str, str], disk: int, name: str) -> Any:
    return client.post(
        "/api/v1/snapshots", json={"storage_id": disk, "name": name}, headers=headers
    )


def test_customer_snapshots_own_disks_only(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    ca, cb, op = H(api_tokens.customer_a), H(api_tokens.customer_b), H(api_tokens.operator)
    disk_a = _disk(client, op, vm_id(app, "web1"))
    made = _snap(client, ca, disk_a, "before-upgrade")
    assert made.status_code == 201, made.json
    snap = made.json
    assert (snap["state"], snap["requested_state"], snap["method"]) == (
        "pending",
        "present",
        "lvm-thin",
    )
    # Customer B neither sees nor touches A's snapshot or disk: 404, as if absent.
    assert client.get(made.headers["Location"], headers=cb).status_code == 404
    assert client.delete(made.headers["Location"], headers=cb).status_code == 404
    assert client.post(f"/api/v1/snapshots/{snap['id']}/rollback", headers=cb).status_code == 404
    other = _snap(client, cb, disk_a, "mine")
    assert other.status_code == 404 and "storage_id" in other.json["errors"]
    assert client.get("/api/v1/snapshots", headers=cb).json["count"] == 0
    # Operators see everything; names are unique per disk and validated.
    assert client.get("/api/v1/snapshots", headers=op).json["count"] == 1
    dup = _snap(client, op, disk_a, "before-upgrade")
    assert dup.status_code == 409 and dup.json["errors"] == {"name": ["already taken on this disk"]}
    bad = _snap(client, ca, disk_a, "Has Space")
    assert bad.status_code == 422 and "name" in bad.json["errors"]
    raw = _snap(client, op, _disk(client, op, vm_id(app, "app2")), "x")
    assert raw.status_code == 409 and "raw" in raw.json["message"]


def test_snapshot_quota(app: Any, client: Any, api_tokens: Any, demo: Any) -> None:
    ca, op = H(api_tokens.customer_a), H(api_tokens.operator)
    quota = client.get("/api/v1/customer-quotas?customer_id=1001", headers=op).json["results"][0]
    set_quota = client.patch(
        f"/api/v1/customer-quotas/{quota['customer_id']}", json={"max_snapshots": 2}, headers=op
    )
    assert set_quota.status_code == 200 and set_quota.json["max_snapshots"] == 2
    disk = _disk(client, op, vm_id(app, "db1"), "ceph")
    assert _snap(client, ca, disk, "one").status_code == 201
    assert _snap(client, ca, disk, "two").status_code == 201
    over = _snap(client, ca, disk, "three")
    assert over.status_code == 403 and over.json["errors"] == {
        "snapshots": ["would use 3 of 2 (in use: 2)"]
    }
    # A snapshot the host never made goes at once and frees its place.
    one = client.get(f"/api/v1/snapshots?storage_id={disk}", headers=ca).json["results"][0]
    assert client.delete(f"/api/v1/snapshots/{one['id']}", headers=ca).status_code == 204
    assert _snap(client, ca, disk, "three").status_code == 201


def test_rollback_needs_stopped_vm_and_host_reports(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    ca, op, host = H(api_tokens.customer_a), H(api_tokens.operator), H(api_tokens.reader)
    web1 = vm_id(app, "web1")
    uuid = client.get(f"/api/v1/vms/{web1}", headers=op).json["uuid"]
    snap = _snap(client, ca, _disk(client, op, web1), "golden").json
    url = f"/api/v1/snapshots/{snap['id']}"
    not_made = client.post(f"{url}/rollback", headers=ca)
    # The VM runs: refused with the reason.
    assert not_made.status_code == 409 and "must be stopped" in not_made.json["message"]
    assert client.post(f"/api/v1/vms/{uuid}/stop", headers=ca).status_code == 202
    waiting = client.post(f"{url}/rollback", headers=ca)
    assert waiting.status_code == 409 and "actual: running" in waiting.json["message"]
    assert (
        client.post(f"/api/v1/vms/{uuid}/report", json={"state": "stopped"}, headers=host)
    ).status_code == 200
    pending = client.post(f"{url}/rollback", headers=ca)
    assert pending.status_code == 409 and "pending" in pending.json["message"]
    # Customers cannot report; the host (reader token) can.
    assert client.post(f"{url}/report", json={"state": "present"}, headers=ca).status_code == 403
    bogus = client.post(f"{url}/report", json={"state": "pending"}, headers=host)
    # The schema states the reportable states (an enum in the OpenAPI document).
    assert bogus.status_code == 422
    assert bogus.json["errors"] == {"state": ["Must be one of: present, failed, deleted."]}
    present = client.post(f"{url}/report", json={"state": "present"}, headers=host)
    assert present.status_code == 200 and present.json["state"] == "present"
    rolled = client.post(f"{url}/rollback", headers=ca)
    assert rolled.status_code == 200 and rolled.json["rollback"] is True

    with db_of(app).session() as s:
        doc = build_node_document(s, "hv01.dc1.example.com")
    assert doc is not None
    disks = [d for vm in doc["hypervisor"]["vms"] for d in vm["disks"] if d["snapshots"]]
    assert len(disks) == 1
    entry = disks[0]["snapshots"][0]
    vg = disks[0]["lv"].split("/")[0]
    assert entry == {
        "id": snap["id"],
        "name": "golden",
        "ensure": "present",
        "state": "present",
        "rollback": True,
        "method": "lvm-thin",
        "lv": f"{vg}/vm{web1}-disk{_disk(client, op, web1)}-snap-golden",
    }

    done = client.post(
        f"{url}/report", json={"state": "present", "rolled_back": True}, headers=host
    )
    assert done.json["rollback"] is False
    # Deleting asks the host; the snapshot stays until the host reports it gone.
    assert client.delete(url, headers=ca).status_code == 204
    assert client.get(url, headers=ca).json["requested_state"] == "deleted"
    gone = client.post(f"{url}/report", json={"state": "deleted"}, headers=host)
    assert gone.status_code == 204
    assert client.get(url, headers=ca).status_code == 404
    changes = client.get("/api/v1/changes?object_type=snapshot", headers=ca)
    assert changes.status_code == 200
    actions = [c["action"] for c in changes.json["results"]]
    assert actions.count("create") == 1 and actions.count("delete") == 1


def test_document_instructions_per_storage_type(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    op = H(api_tokens.operator)
    app1 = vm_id(app, "app1")
    web2 = vm_id(app, "web2")
    _snap(client, op, _disk(client, op, app1), "q1")
    _snap(client, op, _disk(client, op, web2), "r1")
    with db_of(app).session() as s:
        doc = build_node_document(s, "hv02.dc1.example.com")
    assert doc is not None
    by_host = {vm["hostname"].split(".")[0]: vm["disks"][0] for vm in doc["hypervisor"]["vms"]}
    q1 = by_host["app1"]["snapshots"][0]
    assert (q1["method"], q1["tag"], q1["path"]) == (
        "qcow2-internal",
        "q1",
        by_host["app1"]["path"],
    )
    r1 = by_host["web2"]["snapshots"][0]
    assert r1["method"] == "rbd" and r1["spec"] == f"rbd/{by_host['web2']['image']}@r1"
