"""Import/export carries the storage side (issue 17): backup stores and schedules, snapshots,
base images and their clones, IPv6 prefix pools and routed /64s, checked by the rules the API
applies."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from tests.api.helpers import GiB, H, db_of, vm_id
from virtapi.db import Database
from virtapi.models import BackupSchedule, Ipv6RoutedPrefix, Snapshot, Storage
from virtapi.services.audit import set_actor
from virtapi.services.errors import InvalidInput
from virtapi.services.transfer import export_inventory, import_inventory


def _post(client: Any, headers: dict[str, str], path: str, body: dict[str, Any]) -> Any:
    resp = client.post(path, json=body, headers=headers)
    assert resp.status_code == 201, (path, resp.get_json())
    return resp.get_json()


def _disk(client: Any, headers: dict[str, str], vm: int, kind: str) -> int:
    disks = client.get(f"/api/v1/storage?vm_id={vm}", headers=headers).json["results"]
    return next(d["id"] for d in disks if d["storage_type"] == kind)


def _storage_fleet(app: Any, client: Any, api_tokens: Any) -> None:
    """Everything storage-side through the API, on top of the demo fleet."""
    op = H(api_tokens.operator)
    _post(
        client,
        op,
        "/api/v1/backup-stores",
        {"name": "nfs1", "kind": "path", "target": "backup01:/srv/backups"},
    )
    _post(client, op, "/api/v1/backup-stores", {"name": "rbd-b", "kind": "rbd", "target": "bk"})
    _post(
        client,
        op,
        "/api/v1/base-images",
        {"name": "deb13", "storage_type": "ceph", "ceph_pool": "rbd", "size": 4 * GiB},
    )
    _post(
        client,
        op,
        "/api/v1/base-images",
        {
            "name": "deb13-local",
            "storage_type": "qcow2",
            "size": 2 * GiB,
            "source_url": "https://example.org/deb13.qcow2",
        },
    )
    web1, db1 = vm_id(app, "web1"), vm_id(app, "db1")
    for vm in (web1, db1):
        _post(
            client,
            op,
            "/api/v1/storage",
            {"vm_id": vm, "size": 10 * GiB, "storage_type": "ceph", "base_image": "deb13"},
        )
    qcow = _post(client, op, "/api/v1/storage",
                 {"vm_id": web1, "size": 3 * GiB, "storage_type": "qcow2",
                  "base_image": "deb13-local"})["id"]  # fmt: skip
    snap = _post(client, op, "/api/v1/snapshots", {"storage_id": qcow, "name": "before"})
    _post(
        client,
        op,
        "/api/v1/snapshots",
        {"storage_id": _disk(client, op, web1, "ceph"), "name": "nightly-1"},
    )
    reader = H(api_tokens.reader)
    report = client.post(
        f"/api/v1/snapshots/{snap['id']}/report", json={"state": "present"}, headers=reader
    )
    assert report.status_code in (200, 204), report.get_json()
    _post(
        client,
        op,
        "/api/v1/backup-schedules",
        {"vm_id": web1, "store": "nfs1", "on_calendar": "Mon..Fri 02:00", "retention": 7},
    )
    _post(
        client,
        op,
        "/api/v1/backup-schedules",
        {"storage_id": qcow, "store": "rbd-b", "on_calendar": "daily", "retention": 3},
    )
    _post(client, op, "/api/v1/ipv6-prefix-pools", {"prefix": "2001:db8:f00::/56"})
    for vm in (web1, db1):
        iface = client.get(f"/api/v1/vms/{vm}", headers=op).json["interfaces"][0]["id"]
        _post(client, op, "/api/v1/ipv6-routed-prefixes", {"vm_interface_id": iface})


def _export(database: Database) -> dict[str, Any]:
    with database.session() as s:
        return export_inventory(s)


def _import(database: Database, doc: Any) -> Any:
    with database.session() as s:
        set_actor(s, None, "test")
        return import_inventory(s, doc)


def test_storage_round_trip(
    app: Any, client: Any, api_tokens: Any, demo: Any, other_url: str
) -> None:
    _storage_fleet(app, client, api_tokens)
    first = _export(db_of(app))
    assert [s["name"] for s in first["backup_stores"]] == ["nfs1", "rbd-b"]
    assert first["prefix_pools"] == [{"prefix": "2001:db8:f00::/56", "description": ""}]
    web1 = next(v for v in first["vms"] if v["hostname"].startswith("web1"))
    assert web1["backup_schedules"] == [
        {"store": "nfs1", "on_calendar": "Mon..Fri 02:00", "retention": 7}
    ]
    assert web1["interfaces"][0]["routed_prefix"] == "2001:db8:f00::/64"
    qcow = next(d for d in web1["disks"] if d["base_image"] == "deb13-local")
    assert qcow["snapshots"] == [
        {"name": "before", "requested_state": "present", "state": "present", "rollback": False}
    ]
    assert qcow["backup_schedules"][0]["store"] == "rbd-b"

    other = Database(other_url)
    try:
        summary = _import(other, yaml.safe_load(yaml.safe_dump(first)))
        assert {k: summary.counts[k] for k in ("backup_stores", "base_images", "prefix_pools",
                                               "routed_prefixes", "snapshots",
                                               "backup_schedules")} == {
            "backup_stores": 2, "base_images": 2, "prefix_pools": 1, "routed_prefixes": 2,
            "snapshots": 2, "backup_schedules": 2,
        }  # fmt: skip
        assert _export(other) == first
        with other.session() as s:
            clones = s.scalar(select(func.count()).where(Storage.base_image_id.is_not(None)))
            assert clones == 3
            # The host's report stands; a pending snapshot has none.
            reported = dict(s.execute(select(Snapshot.name, Snapshot.reported_at)).all())
            assert reported["before"] is not None and reported["nightly-1"] is None
            assert s.scalar(select(func.count()).select_from(Ipv6RoutedPrefix)) == 2
            assert s.scalar(select(func.count()).select_from(BackupSchedule)) == 2
    finally:
        other.dispose()


def _refused(database: Database, doc: dict[str, Any], path: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        _import(database, doc)
    assert path in caught.value.errors, caught.value.errors
    return caught.value.message


@pytest.fixture
def storage_doc(app: Any, client: Any, api_tokens: Any, demo: Any) -> dict[str, Any]:
    """The export of the demo fleet plus the storage side, made through the API."""
    _storage_fleet(app, client, api_tokens)
    return _export(db_of(app))


def _only(doc: dict[str, Any], **sections: Any) -> dict[str, Any]:
    return {"version": doc["version"], **sections}


def test_the_api_rules_refuse_bad_storage_entries(
    app: Any, storage_doc: dict[str, Any], other_url: str
) -> None:
    other = Database(other_url)
    try:
        doc = storage_doc
        bad = copy.deepcopy(doc)
        bad["backup_stores"][0]["target"] = "/srv/../etc; rm"
        assert "backup path" in _refused(other, bad, "backup_stores[0].target")
        bad = copy.deepcopy(doc)
        bad["backup_stores"][1]["kind"] = "tape"
        assert "tape" in _refused(other, bad, "backup_stores[1].kind")
        bad = copy.deepcopy(doc)
        bad["base_images"][0]["storage_type"] = "raw"
        _refused(other, bad, "base_images[0].storage_type")
        bad = copy.deepcopy(doc)
        bad["base_images"][0]["ceph_pool"] = None
        _refused(other, bad, "base_images[0].ceph_pool")
        web1 = next(i for i, v in enumerate(doc["vms"]) if v["hostname"].startswith("web1"))
        bad = copy.deepcopy(doc)
        bad["vms"][web1]["backup_schedules"][0]["on_calendar"] = "*-02-30"
        assert "never elapses" in _refused(
            other, bad, f"vms[{web1}].backup_schedules[0].on_calendar"
        )
        bad = copy.deepcopy(doc)
        bad["vms"][web1]["backup_schedules"][0]["retention"] = 0
        _refused(other, bad, f"vms[{web1}].backup_schedules[0].retention")
        bad = copy.deepcopy(doc)
        bad["vms"][web1]["backup_schedules"][0]["store"] = "nope"
        _refused(other, bad, f"vms[{web1}].backup_schedules[0].store")
        qcow = next(j for j, d in enumerate(doc["vms"][web1]["disks"]) if d["type"] == "qcow2"
                    and d["base_image"])  # fmt: skip
        disk_path = f"vms[{web1}].disks[{qcow}]"
        bad = copy.deepcopy(doc)
        bad["vms"][web1]["disks"][qcow]["size"] = GiB  # smaller than its base image
        assert "smaller than base image" in _refused(other, bad, f"{disk_path}.size")
        bad = copy.deepcopy(doc)
        bad["vms"][web1]["disks"][qcow]["type"] = "raw"
        message = _refused(other, bad, f"{disk_path}.storage_id")
        assert "no snapshots" in message or "base image" in message
        bad = copy.deepcopy(doc)
        bad["vms"][web1]["disks"][qcow]["snapshots"][0]["name"] = "Bad Name"
        _refused(other, bad, f"{disk_path}.snapshots[0].name")
        bad = copy.deepcopy(doc)
        bad["vms"][web1]["interfaces"][0]["routed_prefix"] = "2001:db8:f00::/63"
        assert "/64" in _refused(other, bad, f"vms[{web1}].interfaces[0].routed_prefix")
        bad = copy.deepcopy(doc)
        bad["vms"][web1]["interfaces"][0]["routed_prefix"] = "2001:db8:abc::/64"
        assert "no IPv6 prefix pool" in _refused(
            other, bad, f"vms[{web1}].interfaces[0].routed_prefix"
        )
        bad = copy.deepcopy(doc)
        bad["prefix_pools"][0]["prefix"] = "2001:db8:100::/48"  # holds the demo's public /64
        assert "overlaps" in _refused(other, bad, "prefix_pools[0].prefix")
        bad = copy.deepcopy(doc)
        bad["prefix_pools"].append({"prefix": "2001:db8:f00:80::/57"})
        _refused(other, bad, "prefix_pools[1].prefix")
        # Nothing of the refused documents was written.
        assert _export(other)["vms"] == []
    finally:
        other.dispose()


def test_an_existing_pool_and_store_are_referred_to(app: Any, storage_doc: dict[str, Any]) -> None:
    """A second batch may name stores, images and pools that already exist; a pool that
    overlaps an existing one is refused by the API's own check."""
    vm = {"hostname": "late.example.net", "customer_id": 1001, "cores": 1, "ram": GiB,
          "interfaces": [{"mac": "52:54:00:99:00:01", "routed_prefix": "2001:db8:f00:ff::/64"}],
          "disks": [{"type": "ceph", "size": 8 * GiB, "ceph": {"pool": "rbd"},
                     "base_image": "deb13",
                     "backup_schedules": [{"store": "nfs1", "on_calendar": "weekly",
                                           "retention": 2}]}]}  # fmt: skip
    summary = _import(db_of(app), _only(storage_doc, vms=[vm]))
    assert summary.counts["routed_prefixes"] == 1 and summary.counts["backup_schedules"] == 1
    late = next(v for v in _export(db_of(app))["vms"] if v["hostname"] == "late.example.net")
    assert late["interfaces"][0]["routed_prefix"] == "2001:db8:f00:ff::/64"
    assert late["disks"][0]["base_image"] == "deb13"
    taken = copy.deepcopy(vm)
    taken["hostname"] = "later.example.net"
    taken["interfaces"][0]["mac"] = "52:54:00:99:00:02"
    assert "already exists" in _refused(
        db_of(app), _only(storage_doc, vms=[taken]), "vms[0].interfaces[0].routed_prefix"
    )
    assert "overlaps" in _refused(
        db_of(app), _only(storage_doc, prefix_pools=[{"prefix": "2001:db8:f00:8::/61"}]),
        "prefix_pools[0].prefix",
    )  # fmt: skip
