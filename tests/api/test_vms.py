"""VMs: nested representation, placement, customers' limits and quotas, deletes."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from tests.api.helpers import GiB, H, db_of, vm_id
from virtapi.models import Change, Storage, Vm, VmInterface


def test_vm_shows_host_interfaces_and_disks(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    db1 = client.get(f"/api/v1/vms/{vm_id(app, 'db1')}", headers=H(api_tokens.customer_a))
    assert db1.status_code == 200, db1.json
    vm = db1.json
    assert vm["host"]["fqdn"] == "hv01.dc1.example.com" and vm["virt_method"] == "kvm"
    assert vm["requested_state"] == "running" and vm["actual_state"] == "running"
    iface = vm["interfaces"][0]
    assert iface["name"] == f"{vm['id']}-{iface['id']}" and iface["bridge"] == f"br-{iface['name']}"
    assert iface["mac"] == "52:54:00:00:e9:03"
    assert iface["vlans"] == [{"id": iface["vlans"][0]["id"], "vni": 10001, "name": "backend"}]
    assert iface["ipv4_addresses"] == ["198.51.100.12"]
    assert iface["ipv6_addresses"] == ["2001:db8:100::c"]
    assert [(d["storage_type"], d["ceph_pool"], d["discard"]) for d in vm["disks"]] == [
        ("lvm", None, None),
        ("ceph", "vms-ssd", True),
    ]
    assert vm["disks"][0]["read_iops_limit"] == 2000


def test_vm_list_filters(client: Any, api_tokens: Any, demo: Any) -> None:
    rd = H(api_tokens.reader)

    def hosts(query: str) -> list[str]:
        resp = client.get(f"/api/v1/vms?{query}", headers=rd)
        assert resp.status_code == 200, resp.json
        return [v["hostname"].split(".")[0] for v in resp.json["results"]]

    assert hosts("customer_id=1002") == ["app1", "app2"]
    assert hosts("hypervisor=hv01.dc1.example.com") == ["web1", "db1"]
    assert hosts("state=stopped") == ["app2"]
    assert hosts("hostname=web2.c1001.example.net") == ["web2"]
    hv = client.get("/api/v1/virt-nodes?fqdn=hv02.dc1.example.com", headers=rd).json["results"][0]
    assert hosts(f"hypervisor={hv['node_id']}") == ["web2", "app1"]
    # A customer's list is its own, whatever it filters on.
    mine = client.get("/api/v1/vms?customer_id=1002", headers=H(api_tokens.customer_a)).json
    assert mine["count"] == 0
    assert client.get("/api/v1/vms", headers=H(api_tokens.customer_a)).json["count"] == 3


def test_operator_creates_placed_vm(client: Any, api_tokens: Any, demo: Any) -> None:
    op = H(api_tokens.operator)
    hv1 = client.get("/api/v1/virt-nodes?fqdn=hv01.dc1.example.com", headers=op).json["results"][0]
    body = {
        "hostname": "new.c7.example.net",
        "cores": 2,
        "ram": 2 * GiB,
        "customer_id": 7,
        "virt_node_id": hv1["id"],
        "virt_method": "qemu",
    }
    resp = client.post("/api/v1/vms", json=body, headers=op)
    assert resp.status_code == 201, resp.json
    assert resp.json["host"]["fqdn"] == "hv01.dc1.example.com"
    assert resp.json["virt_method"] == "qemu" and resp.json["requested_state"] == "stopped"
    url = resp.headers["Location"]
    moved = client.patch(url, json={"virt_method": "kvm"}, headers=op).json
    assert moved["virt_method"] == "kvm" and moved["host"]["virt_node_id"] == hv1["id"]
    unplaced = client.patch(url, json={"virt_node_id": None}, headers=op).json
    assert unplaced["host"] is None and unplaced["virt_method"] is None
    hv2 = client.get("/api/v1/virt-nodes?fqdn=hv02.dc1.example.com", headers=op).json["results"][0]
    bad = client.patch(url, json={"virt_node_id": hv2["id"], "virt_method": "qemu"}, headers=op)
    assert bad.status_code == 422 and "does not run qemu" in bad.json["message"]
    missing = client.post(
        "/api/v1/vms", json={**body, "hostname": "x", "customer_id": None}, headers=op
    )
    assert missing.status_code == 422
    nocust = {k: v for k, v in body.items() if k != "customer_id"} | {"hostname": "y"}
    resp = client.post("/api/v1/vms", json=nocust, headers=op)
    assert resp.status_code == 422 and "customer_id" in resp.json["errors"]


def test_customer_creates_own_vm_placed_automatically(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    ca = H(api_tokens.customer_a)
    resp = client.post(
        "/api/v1/vms", json={"hostname": "mine.example.net", "cores": 1, "ram": GiB}, headers=ca
    )
    assert resp.status_code == 201, resp.json
    # virtapi picks the hypervisor; the customer may only name the method.
    assert resp.json["customer_id"] == 1001 and resp.json["host"]["fqdn"].startswith("hv")
    assert resp.json["virt_method"] == "kvm" and resp.json["actual_state"] == "pending"
    for extra in ({"virt_node_id": 1}, {"actual_state": "running"}, {"uuid": str(uuid.uuid4())}):
        bad = client.post(
            "/api/v1/vms",
            json={"hostname": "p.example.net", "cores": 1, "ram": GiB, **extra},
            headers=ca,
        )
        assert bad.status_code == 403 and set(bad.json["errors"]) == set(extra), bad.json
    other = client.post(
        "/api/v1/vms",
        json={"hostname": "o.example.net", "cores": 1, "ram": GiB, "customer_id": 1002},
        headers=ca,
    )
    assert other.status_code == 403
    patch = client.patch(resp.headers["Location"], json={"virt_node_id": 1}, headers=ca)
    assert patch.status_code == 403 and "placement" in patch.json["message"]
    ok = client.patch(resp.headers["Location"], json={"requested_state": "running"}, headers=ca)
    assert ok.status_code == 200 and ok.json["requested_state"] == "running"


def test_quota(app: Any, client: Any, api_tokens: Any, demo: Any) -> None:
    # Customer 1002: max 5 VMs, 8 cores, 16 GiB RAM, 500 GiB disk; uses 2 VMs, 3 cores, 10 GiB.
    cb = H(api_tokens.customer_b)
    quota = client.get("/api/v1/customer-quotas/1002", headers=cb)
    assert quota.status_code == 200
    assert quota.json["used"] == {"vms": 2, "cores": 3, "ram": 10 * GiB, "disk": 40 * GiB}
    big = client.post(
        "/api/v1/vms", json={"hostname": "big.example.net", "cores": 6, "ram": GiB}, headers=cb
    )
    assert big.status_code == 403 and big.json["code"] == "quota_exceeded"
    assert "cores would use 9 of 8" in big.json["message"]
    app1 = vm_id(app, "app1")
    resize = client.patch(f"/api/v1/vms/{app1}", json={"ram": 16 * GiB}, headers=cb)
    assert resize.status_code == 403 and set(resize.json["errors"]) == {"ram"}
    assert (
        client.patch(f"/api/v1/vms/{app1}", json={"ram": 12 * GiB}, headers=cb).status_code == 200
    )
    disk = client.post(
        "/api/v1/storage",
        json={"vm_id": app1, "size": 461 * GiB, "storage_type": "lvm"},
        headers=cb,
    )
    assert disk.status_code == 403 and "disk" in disk.json["errors"]
    # Operators are not bound by the quota they set; they may raise it.
    op = H(api_tokens.operator)
    assert (
        client.patch(f"/api/v1/vms/{app1}", json={"ram": 32 * GiB}, headers=op).status_code == 200
    )
    over = client.post(
        "/api/v1/vms", json={"hostname": "o.example.net", "cores": 1, "ram": 1}, headers=cb
    )
    assert over.status_code == 403 and set(over.json["errors"]) == {"ram"}
    raised = client.patch(
        "/api/v1/customer-quotas/1002", json={"max_cores": 100, "max_ram": None}, headers=op
    )
    assert raised.status_code == 200 and raised.json["max_cores"] == 100
    assert (
        client.patch("/api/v1/customer-quotas/1002", json={"max_cores": 1}, headers=cb).status_code
        == 403
    )
    for _ in range(3):
        ok = client.post(
            "/api/v1/vms", json={"hostname": f"v{_}.example.net", "cores": 1, "ram": 1}, headers=cb
        )
        assert ok.status_code == 201
    sixth = client.post(
        "/api/v1/vms", json={"hostname": "v9.example.net", "cores": 1, "ram": 1}, headers=cb
    )
    assert sixth.status_code == 403 and "vms would use 6 of 5" in sixth.json["message"]


def test_delete_vm_removes_children_and_logs_each(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    db1 = vm_id(app, "db1")
    resp = client.delete(f"/api/v1/vms/{db1}", headers=H(api_tokens.customer_a))
    assert resp.status_code == 204
    with db_of(app).session() as s:
        assert s.get(Vm, db1) is None
        assert s.scalar(select(func.count()).select_from(Storage).where(Storage.vm_id == db1)) == 0
        assert (
            s.scalar(select(func.count()).select_from(VmInterface).where(VmInterface.vm_id == db1))
            == 0
        )
        deleted = s.execute(
            select(Change.object_type, Change.actor).where(Change.action == "delete")
        ).all()
        assert sorted(t for t, _ in deleted) == [
            "storage",
            "storage",
            "storage_ceph",
            "vm",
            "vm_interface",
        ]
        assert all(actor.endswith(":customer_a") for _, actor in deleted)
        freed = s.execute(
            select(Change.object_type, Change.after).where(Change.action == "update")
        ).all()
        assert ("ipv4", {"vm_interface_id": None}) in freed
