"""POST /api/v1/vms creates the complete VM in one transaction, also under concurrent load."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.api.helpers import GiB, H, db_of
from virtapi.models import Ipv4Address, Ipv4Network, Ipv6Network, Storage, Vlan, Vm, VmInterface


def ids(app: Any) -> dict[str, int]:
    with db_of(app).session() as s:
        return {
            "v4": s.scalar(select(Ipv4Network.id).where(Ipv4Network.description == "public IPv4")),
            "v6": s.scalar(select(Ipv6Network.id).where(Ipv6Network.description == "public IPv6")),
            "backend": s.scalar(select(Vlan.id).where(Vlan.customer_id == 1001)),
            "private": s.scalar(select(Vlan.id).where(Vlan.customer_id == 1002)),
        }


def rows(app: Any) -> tuple[int, ...]:
    with db_of(app).session() as s:
        return tuple(
            s.scalar(select(func.count()).select_from(m)) or 0
            for m in (Vm, VmInterface, Storage, Ipv4Address)
        )


def body(app: Any, **extra: Any) -> dict[str, Any]:
    n = ids(app)
    return {
        "hostname": "web3.c1001.example.net",
        "cores": 2,
        "ram": 4 * GiB,
        "virt_method": "kvm",
        "requested_state": "running",
        "disks": [
            {"size": 20 * GiB, "storage_type": "ceph", "cache_option": "writeback",
             "ceph_pool": "rbd"},
            {"size": 10 * GiB, "storage_type": "lvm", "cache_option": "none"},
        ],
        "interfaces": [
            {"ipv4_network_id": n["v4"], "ipv6_network_id": n["v6"], "vlans": [n["backend"]]}
        ],
        **extra,
    }  # fmt: skip


def test_customer_creates_complete_vm(app: Any, client: Any, api_tokens: Any, demo: Any) -> None:
    resp = client.post("/api/v1/vms", json=body(app), headers=H(api_tokens.customer_a))
    assert resp.status_code == 201, resp.json
    vm = resp.json
    assert vm["customer_id"] == 1001 and vm["host"]["fqdn"].endswith(".dc1.example.com")
    assert (vm["requested_state"], vm["actual_state"], vm["transition_pending"]) == (
        "running",
        "pending",
        True,
    )
    (iface,) = vm["interfaces"]
    assert iface["mac"].startswith("52:54:00:")
    assert iface["ipv4_addresses"] == ["198.51.100.2"]
    assert iface["ipv6_addresses"] == ["2001:db8:100::2"]
    assert [v["vni"] for v in iface["vlans"]] == [10001]
    assert [(d["storage_type"], d["cache_option"], d["ceph_pool"]) for d in vm["disks"]] == [
        ("ceph", "writeback", "rbd"),
        ("lvm", "none", None),
    ]
    # The least-loaded hypervisor: hv03 carries only app2 in the demo.
    assert vm["host"]["fqdn"] == "hv03.dc1.example.com"


def test_customer_limits(app: Any, client: Any, api_tokens: Any, demo: Any) -> None:
    ca = H(api_tokens.customer_a)
    n = ids(app)
    before = rows(app)
    for extra, field in (
        ({"virt_node_id": 1}, "virt_node_id"),
        ({"interfaces": [{"mac": "52:54:00:12:34:56"}]}, "interfaces[0].mac"),
        ({"interfaces": [{"ipv4_network_id": n["v4"], "ipv4_address": "198.51.100.77"}]},
         "interfaces[0].ipv4_address"),
        ({"disks": [{"size": GiB, "storage_type": "lvm", "read_iops_limit": 10}]},
         "disks[0].read_iops_limit"),
    ):  # fmt: skip
        resp = client.post("/api/v1/vms", json=body(app, **extra), headers=ca)
        assert resp.status_code == 403, resp.json
        assert field in resp.json["errors"]
    # Another customer's VLAN does not exist for A.
    resp = client.post(
        "/api/v1/vms", json=body(app, interfaces=[{"vlans": [n["private"]]}]), headers=ca
    )
    assert resp.status_code == 404
    assert rows(app) == before


def test_failed_creation_leaves_nothing(app: Any, client: Any, api_tokens: Any, demo: Any) -> None:
    op = H(api_tokens.operator)
    n = ids(app)
    before = rows(app)
    resp = client.post("/api/v1/vms", json=body(app, customer_id=7, ram=512 * GiB), headers=op)
    assert resp.status_code == 409 and resp.json["code"] == "no_capacity"
    assert "128 GiB RAM free" not in resp.json["message"]
    assert "no running hypervisor with kvm has 512 GiB RAM free" in resp.json["message"]
    # The second interface asks for a taken address: the first one's address is not kept either.
    taken = {"ipv4_network_id": n["v4"], "ipv4_address": "198.51.100.10"}
    resp = client.post(
        "/api/v1/vms",
        json=body(app, customer_id=7, interfaces=[{"ipv4_network_id": n["v4"]}, taken]),
        headers=op,
    )
    assert resp.status_code == 409 and "already assigned" in resp.json["message"]
    resp = client.post(
        "/api/v1/vms",
        json=body(app, customer_id=7, disks=[{"size": GiB, "storage_type": "ceph"}]),
        headers=op,
    )
    assert resp.status_code == 422 and "ceph_pool" in resp.json["message"]
    resp = client.post(
        "/api/v1/vms", json=body(app, customer_id=7, requested_state="deleted"), headers=op
    )
    assert resp.status_code == 422
    resp = client.post(
        "/api/v1/vms", json=body(app, customer_id=7, interfaces=[{"speed": 1}]), headers=op
    )
    assert resp.status_code == 422
    assert rows(app) == before


def test_operator_pins_and_patch_moves_with_validation(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    op = H(api_tokens.operator)
    hv = {
        v["fqdn"].split(".")[0]: v["id"]
        for v in client.get("/api/v1/virt-nodes", headers=op).json["results"]
    }
    resp = client.post(
        "/api/v1/vms",
        json=body(app, customer_id=7, virt_node_id=hv["hv02"], interfaces=[
            {"mac": "52:54:00:ab:cd:ef", "ipv4_address": "198.51.100.200"}]),
        headers=op,
    )  # fmt: skip
    assert resp.status_code == 201, resp.json
    assert resp.json["host"]["virt_node_id"] == hv["hv02"]
    assert resp.json["interfaces"][0]["ipv4_addresses"] == ["198.51.100.200"]
    url = resp.headers["Location"]
    big = client.patch(url, json={"ram": 200 * GiB}, headers=op)
    assert big.status_code == 409 and "cannot grow on hv02" in big.json["message"]
    client.patch(f"/api/v1/nodes/{3}", json={"state": "maintenance"}, headers=op)
    moved = client.patch(url, json={"virt_node_id": hv["hv03"]}, headers=op)
    assert moved.status_code == 409 and "state maintenance" in moved.json["message"]
    moved = client.patch(url, json={"virt_node_id": hv["hv01"], "virt_method": "kvm"}, headers=op)
    assert moved.status_code == 200 and moved.json["host"]["virt_node_id"] == hv["hv01"]
    # A requested state goes through the same checks as the actions endpoint.
    bad = client.patch(url, json={"requested_state": "rebooting"}, headers=op)
    assert bad.status_code == 409 and "it is pending" in bad.json["message"]
    ok = client.patch(url, json={"requested_state": "stopped"}, headers=op)
    assert ok.status_code == 200 and ok.json["requested_state"] == "stopped"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_parallel_http_creations(app: Any, api_tokens: Any, demo: Any) -> None:
    """20 concurrent POST /vms through the app: complete VMs or clean 409s, nothing else."""
    n = ids(app)
    op = H(api_tokens.operator)
    barrier = threading.Barrier(20)
    results: list[Any] = [None] * 20

    def post(i: int) -> None:
        client = app.test_client()
        request = body(
            app,
            hostname=f"par{i}.example.net",
            customer_id=9,
            cores=8,
            ram=24 * GiB,
            disks=[{"size": 10 * GiB, "storage_type": "lvm"}],
            interfaces=[{"ipv4_network_id": n["v4"], "ipv6_network_id": n["v6"]}],
        )
        barrier.wait()
        resp = client.post("/api/v1/vms", json=request, headers=op)
        results[i] = (resp.status_code, resp.json)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    codes = sorted(code for code, _ in results)
    # RAM is the limit: free 108 + 116 + 126 GiB → 4 + 4 + 5 VMs of 24 GiB.
    assert codes.count(201) == 13, results
    assert codes.count(409) == 7 and set(codes) == {201, 409}
    made = [b for code, b in results if code == 201]
    addrs = [b["interfaces"][0]["ipv4_addresses"][0] for b in made]
    macs = [b["interfaces"][0]["mac"] for b in made]
    assert len(set(addrs)) == len(set(macs)) == 13
    with db_of(app).session() as s:
        assert s.scalar(select(func.count()).where(Vm.customer_id == 9)) == 13
        assert (
            s.scalar(select(func.count()).select_from(Storage).join(Vm).where(Vm.customer_id == 9))
            == 13
        )
