"""Golden images (issue 17 point 3): bases per storage type, copy-on-write clones shared by
many VMs, and a base in use refused deletion with its users named."""

from __future__ import annotations

from typing import Any

from tests.api.helpers import GiB, H, db_of, vm_id
from virtapi.services.node_document import build_node_document


def test_golden_images_and_clones(app: Any, client: Any, api_tokens: Any, demo: Any) -> None:
    op, ca = H(api_tokens.operator), H(api_tokens.customer_a)
    base = {"name": "debian-13", "storage_type": "ceph", "ceph_pool": "rbd", "size": 4 * GiB}
    assert client.post("/api/v1/base-images", json=base, headers=ca).status_code == 403
    raw = client.post("/api/v1/base-images", json={**base, "storage_type": "raw"}, headers=op)
    assert raw.status_code == 422 and "storage_type" in raw.json["errors"]
    nopool = {k: v for k, v in base.items() if k != "ceph_pool"}
    assert client.post("/api/v1/base-images", json=nopool, headers=op).json["errors"] == {
        "ceph_pool": ["required for ceph"]
    }
    bad_name = client.post("/api/v1/base-images", json={**base, "name": "a b"}, headers=op)
    assert bad_name.status_code == 422 and "name" in bad_name.json["errors"]
    made = client.post("/api/v1/base-images", json=base, headers=op)
    assert made.status_code == 201 and made.json["method"] == "rbd-clone"
    local = client.post(
        "/api/v1/base-images",
        json={"name": "debian-13-local", "storage_type": "qcow2", "size": 2 * GiB},
        headers=op,
    )
    assert local.status_code == 201

    web1, db1 = vm_id(app, "web1"), vm_id(app, "db1")
    # Many VMs share one base; the clone's pool defaults to the parent's.
    clones = []
    for vm in (web1, db1):
        disk = client.post(
            "/api/v1/storage",
            json={"vm_id": vm, "size": 10 * GiB, "storage_type": "ceph", "base_image": "debian-13"},
            headers=ca,
        )
        assert disk.status_code == 201, disk.json
        assert (disk.json["base_image"], disk.json["ceph_pool"]) == ("debian-13", "rbd")
        clones.append(disk.json["id"])
    wrong_type = client.post(
        "/api/v1/storage",
        json={"vm_id": web1, "size": 10 * GiB, "storage_type": "lvm", "base_image": "debian-13"},
        headers=ca,
    )
    assert wrong_type.status_code == 422 and "base_image" in wrong_type.json["errors"]
    too_small = client.post(
        "/api/v1/storage",
        json={"vm_id": web1, "size": GiB, "storage_type": "ceph", "base_image": "debian-13"},
        headers=ca,
    )
    assert too_small.status_code == 422 and "size" in too_small.json["errors"]
    unknown = client.post(
        "/api/v1/storage",
        json={"vm_id": web1, "size": 9 * GiB, "storage_type": "ceph", "base_image": "nope"},
        headers=ca,
    )
    assert unknown.status_code == 422 and "base_image" in unknown.json["errors"]

    with db_of(app).session() as s:
        doc = build_node_document(s, "hv01.dc1.example.com")
    assert doc is not None
    hv = doc["hypervisor"]
    cloned = [d for vm in hv["vms"] for d in vm["disks"] if d["clone_of"]]
    assert len(cloned) == 2
    assert cloned[0]["clone_of"]["parent"] == "rbd/base-debian-13@golden"
    assert cloned[0]["clone_of"]["method"] == "rbd-clone"
    assert [b["name"] for b in hv["base_images"]] == ["debian-13"]

    # In use: refused, naming every disk and VM that still uses it.
    busy = client.delete(f"/api/v1/base-images/{made.json['id']}", headers=op)
    assert busy.status_code == 409
    assert "web1." in busy.json["message"] and "db1." in busy.json["message"]
    assert busy.json["errors"]["users"] == [
        f"disk {clones[0]} of VM web1.c1001.example.net",
        f"disk {clones[1]} of VM db1.c1001.example.net",
    ]
    for disk_id in clones:
        assert client.delete(f"/api/v1/storage/{disk_id}", headers=ca).status_code == 204
    assert client.delete(f"/api/v1/base-images/{made.json['id']}", headers=op).status_code == 204
