"""Disks: ceph pool and discard, type rules, I/O limits for operators only."""

from __future__ import annotations

from typing import Any

from tests.api.helpers import GiB, H, vm_id


def test_ceph_disk_needs_pool_and_keeps_discard(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    op = H(api_tokens.operator)
    web1 = vm_id(app, "web1")
    nopool = client.post(
        "/api/v1/storage", json={"vm_id": web1, "size": GiB, "storage_type": "ceph"}, headers=op
    )
    assert nopool.status_code == 422 and nopool.json["errors"] == {
        "ceph_pool": ["required for ceph"]
    }
    resp = client.post(
        "/api/v1/storage",
        json={
            "vm_id": web1,
            "size": GiB,
            "storage_type": "ceph",
            "ceph_pool": "rbd",
            "discard": False,
        },
        headers=op,
    )
    assert resp.status_code == 201, resp.json
    disk = resp.json
    assert (disk["ceph_pool"], disk["discard"], disk["cache_option"]) == ("rbd", False, "default")
    moved = client.patch(
        resp.headers["Location"], json={"ceph_pool": "vms-ssd", "discard": True}, headers=op
    )
    assert (moved.json["ceph_pool"], moved.json["discard"]) == ("vms-ssd", True)
    lvm_pool = client.post(
        "/api/v1/storage",
        json={"vm_id": web1, "size": GiB, "storage_type": "lvm", "ceph_pool": "rbd"},
        headers=op,
    )
    assert lvm_pool.status_code == 422 and "ceph_pool" in lvm_pool.json["errors"]
    unknown = client.post(
        "/api/v1/storage", json={"vm_id": web1, "size": GiB, "storage_type": "floppy"}, headers=op
    )
    assert unknown.status_code == 422 and "lvm" in unknown.json["message"]
    listed = client.get("/api/v1/storage?ceph_pool=vms-ssd", headers=op).json
    assert len(listed["results"]) == 2
    pool_id = client.get("/api/v1/ceph-pools?name=vms-ssd", headers=op).json["results"][0]["id"]
    busy = client.delete(f"/api/v1/ceph-pools/{pool_id}", headers=op)
    assert busy.status_code == 409 and "storage_ceph.ceph_pool_id" in busy.json["message"]
    assert client.delete(resp.headers["Location"], headers=op).status_code == 204
    vm = client.get(f"/api/v1/vms/{web1}", headers=op).json
    assert [d["storage_type"] for d in vm["disks"]] == ["lvm"]


def test_customer_disks(app: Any, client: Any, api_tokens: Any, demo: Any) -> None:
    ca = H(api_tokens.customer_a)
    web1 = vm_id(app, "web1")
    resp = client.post(
        "/api/v1/storage",
        json={"vm_id": web1, "size": 10 * GiB, "storage_type": "qcow2", "cache_option": "none"},
        headers=ca,
    )
    assert resp.status_code == 201 and resp.json["cache_option"] == "none"
    limit = client.patch(resp.headers["Location"], json={"read_iops_limit": 10**6}, headers=ca)
    assert limit.status_code == 403 and limit.json["errors"] == {
        "read_iops_limit": ["operators only"]
    }
    grown = client.patch(resp.headers["Location"], json={"size": 20 * GiB}, headers=ca)
    assert grown.status_code == 200 and grown.json["size"] == 20 * GiB
    op = client.patch(
        resp.headers["Location"], json={"read_iops_limit": 500}, headers=H(api_tokens.operator)
    )
    assert op.status_code == 200 and op.json["read_iops_limit"] == 500
