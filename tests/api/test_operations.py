"""VM actions, host reports, migration, node heartbeats and IPAM endpoints over HTTP."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from virtapi.config import override
from virtapi.db import Database
from virtapi.models import Ipv4Network, Ipv6Network, Node, Vm, VmInterface


def H(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def vm_uuid(app: Any, hostname: str) -> str:
    db: Database = app.extensions["virtapi.db"]
    with db.session() as s:
        return str(s.scalar(select(Vm.uuid).where(Vm.hostname.startswith(hostname + "."))))


def test_actions_follow_the_state_machine(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    web1 = vm_uuid(app, "web1")  # customer 1001, running
    a, b = H(api_tokens.customer_a), H(api_tokens.customer_b)
    resp = client.post(f"/api/v1/vms/{web1}/actions", json={"action": "stop"}, headers=a)
    assert resp.status_code == 202, resp.json
    assert resp.json["requested_state"] == "stopped" and resp.json["actual_state"] == "running"
    assert resp.json["transition_pending"] is True
    resp = client.post(f"/api/v1/vms/{web1}/stop", headers=a)
    assert resp.status_code == 409 and "waiting for its hypervisor" in resp.json["message"]
    resp = client.post(f"/api/v1/vms/{web1}/reboot", headers=a)
    assert resp.status_code == 202  # actual is still running, so a reboot is possible
    # Another customer's VM does not exist for B; readers may not act.
    assert client.post(f"/api/v1/vms/{web1}/start", headers=b).status_code == 404
    assert client.post(f"/api/v1/vms/{web1}/start", headers=H(api_tokens.reader)).status_code == 403
    resp = client.post(f"/api/v1/vms/{web1}/actions", json={"action": "explode"}, headers=a)
    assert resp.status_code == 422 and "action" in resp.json["errors"]
    assert client.post("/api/v1/vms/not-a-uuid/start", headers=a).status_code == 404

    app2 = vm_uuid(app, "app2")  # customer 1002, stopped
    resp = client.post(f"/api/v1/vms/{app2}/reboot", headers=b)
    assert resp.status_code == 409 and "it is stopped" in resp.json["message"]
    assert client.post(f"/api/v1/vms/{app2}/start", headers=b).status_code == 202


def test_reports_reach_requests_and_delete_frees(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    web1 = vm_uuid(app, "web1")
    a, reader = H(api_tokens.customer_a), H(api_tokens.reader)
    client.post(f"/api/v1/vms/{web1}/stop", headers=a)
    assert (
        client.post(f"/api/v1/vms/{web1}/report", json={"state": "stopped"}, headers=a).status_code
        == 403
    )
    resp = client.post(f"/api/v1/vms/{web1}/report", json={"state": "stopped"}, headers=reader)
    assert resp.status_code == 200, resp.json
    assert resp.json["transition_pending"] is False and resp.json["reported_at"]
    resp = client.post(f"/api/v1/vms/{web1}/report", json={"state": "dancing"}, headers=reader)
    assert resp.status_code == 422 and "dancing" in resp.json["message"]

    assert client.post(f"/api/v1/vms/{web1}/delete", headers=a).status_code == 202
    resp = client.post(f"/api/v1/vms/{web1}/start", headers=a)
    assert resp.status_code == 409 and "being deleted" in resp.json["message"]
    resp = client.post(f"/api/v1/vms/{web1}/report", json={"state": "deleted"}, headers=reader)
    assert resp.status_code == 200 and resp.json["deleted"] is True
    assert client.post(f"/api/v1/vms/{web1}/start", headers=a).status_code == 404
    db: Database = app.extensions["virtapi.db"]
    with db.session() as s:
        net = s.scalar(select(Ipv4Network).where(Ipv4Network.description == "public IPv4"))
        net_id = net.id
    resp = client.get(f"/api/v1/ipv4-networks/{net_id}/available?count=1", headers=reader)
    assert resp.json["available"] == ["198.51.100.2"]
    assert resp.json["assigned"] == 4  # web1's 198.51.100.10 is free again


def test_migrate_by_operators_only_and_validated(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    db1 = vm_uuid(app, "db1")  # 4 cores, 16 GiB, 100 GiB lvm, on hv01
    op = H(api_tokens.operator)
    resp = client.post(f"/api/v1/vms/{db1}/migrate", json={"hypervisor": "hv03"}, headers=op)
    assert resp.status_code == 200, resp.json
    assert resp.json["hypervisor"] == "hv03.dc1.example.com" and resp.json["method"] == "kvm"
    resp = client.post(f"/api/v1/vms/{db1}/migrate", json={"hypervisor": "hv03"}, headers=op)
    assert resp.status_code == 409 and "already on hv03" in resp.json["message"]
    resp = client.post(
        f"/api/v1/vms/{db1}/migrate", json={"hypervisor": "hv02", "method": "qemu"}, headers=op
    )
    assert resp.status_code == 409
    assert "does not support qemu" in resp.json["message"]
    resp = client.post(f"/api/v1/vms/{db1}/migrate", json={"hypervisor": "ceph01"}, headers=op)
    assert resp.status_code == 404 and "no hypervisor" in resp.json["message"]
    resp = client.post(f"/api/v1/vms/{db1}/migrate", json={}, headers=op)
    assert resp.status_code == 200 and resp.json["hypervisor"] != "hv03.dc1.example.com"
    for tok in (api_tokens.customer_a, api_tokens.reader):
        resp = client.post(
            f"/api/v1/vms/{db1}/migrate", json={"hypervisor": "hv03"}, headers=H(tok)
        )
        assert resp.status_code == 403


def test_node_heartbeat_and_stale_flag(app: Any, client: Any, api_tokens: Any, demo: Any) -> None:
    reader, op = H(api_tokens.reader), H(api_tokens.operator)
    resp = client.post(
        "/api/v1/nodes/hv01.dc1.example.com/report",
        json={"state": "running", "facts": {"kernel": "6.1.0", "cpus": 32}},
        headers=reader,
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["stale"] is False and resp.json["reported_state"] == "running"
    node_id = resp.json["id"]
    node = client.get(f"/api/v1/nodes/{node_id}", headers=reader).json
    assert node["stale"] is False and node["facts"] == {"kernel": "6.1.0", "cpus": 32}
    others = client.get("/api/v1/nodes?fqdn=hv02.dc1.example.com", headers=reader).json
    assert others["results"][0]["stale"] is True  # never reported
    assert (
        client.post(f"/api/v1/nodes/{node_id}/report", json={}, headers=reader).status_code == 200
    )
    resp = client.post("/api/v1/nodes/nope.example.com/report", json={}, headers=reader)
    assert resp.status_code == 404
    resp = client.post(f"/api/v1/nodes/{node_id}/report", json={"facts": [1]}, headers=reader)
    assert resp.status_code == 422
    headers = H(api_tokens.customer_a)
    assert (
        client.post(f"/api/v1/nodes/{node_id}/report", json={}, headers=headers).status_code == 403
    )
    override(app, node_stale_seconds=0)
    assert client.get(f"/api/v1/nodes/{node_id}", headers=op).json["stale"] is True


def test_available_and_allocate(app: Any, client: Any, api_tokens: Any, demo: Any) -> None:
    db: Database = app.extensions["virtapi.db"]
    with db.session() as s:
        v4 = s.scalar(select(Ipv4Network.id).where(Ipv4Network.description == "public IPv4"))
        v6 = s.scalar(select(Ipv6Network.id).where(Ipv6Network.description == "public IPv6"))
        # A VM's NIC: the public networks are VM networks (no purpose).
        iface = s.scalar(select(VmInterface.id).join(Vm).where(Vm.hostname.like("app1.%")))
        node_nic = s.scalar(
            select(VmInterface.id).join(Node).where(Node.fqdn == "ceph01.dc1.example.com")
        )
    reader, op = H(api_tokens.reader), H(api_tokens.operator)
    resp = client.get(f"/api/v1/ipv4-networks/{v4}/available?count=3", headers=reader)
    assert resp.status_code == 200, resp.json
    assert resp.json == {
        "network_id": v4,
        "prefix": "198.51.100.0/24",
        "gateway": "198.51.100.1",
        "size": 256,
        "reserved": 3,
        "assigned": 5,
        "free": 248,
        "available": ["198.51.100.2", "198.51.100.3", "198.51.100.4"],
    }
    resp = client.get(f"/api/v1/ipv6-networks/{v6}/available", headers=reader)
    assert resp.json["available"][0] == "2001:db8:100::2" and len(resp.json["available"]) == 10
    assert resp.json["free"] == 2**64 - 2 - 5
    assert client.get("/api/v1/ipv4-networks/999/available", headers=reader).status_code == 404
    resp = client.get(f"/api/v1/ipv4-networks/{v4}/available?count=5000", headers=reader)
    assert resp.status_code == 422

    resp = client.post(
        f"/api/v1/ipv4-networks/{v4}/allocate", json={"interface_id": node_nic}, headers=op
    )
    assert resp.status_code == 422 and "management" in resp.json["message"]
    resp = client.post(
        f"/api/v1/ipv4-networks/{v4}/allocate", json={"interface_id": iface}, headers=op
    )
    assert resp.status_code == 201, resp.json
    assert resp.json["address"] == "198.51.100.2" and resp.json["vm_interface_id"] == iface
    resp = client.post(
        f"/api/v1/ipv4-networks/{v4}/allocate",
        json={"interface_id": iface, "address": "198.51.100.2"},
        headers=op,
    )
    assert resp.status_code == 409 and "already assigned" in resp.json["message"]
    resp = client.post(
        f"/api/v1/ipv6-networks/{v6}/allocate",
        json={"interface_id": iface, "address": "2001:db8:100::1"},
        headers=op,
    )
    assert resp.status_code == 409 and "gateway" in resp.json["message"]
    resp = client.post(
        f"/api/v1/ipv4-networks/{v4}/allocate", json={"interface_id": 99999}, headers=op
    )
    assert resp.status_code == 404
    resp = client.post(
        f"/api/v1/ipv4-networks/{v4}/allocate",
        json={"interface_id": iface},
        headers=H(api_tokens.customer_a),
    )
    assert resp.status_code == 403


def test_address_resource_allocates_through_ipam(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    db: Database = app.extensions["virtapi.db"]
    with db.session() as s:
        v4 = s.scalar(select(Ipv4Network.id).where(Ipv4Network.description == "public IPv4"))
        iface = s.scalar(select(VmInterface.id).join(Vm).where(Vm.hostname.like("app1.%")))
    op = H(api_tokens.operator)
    resp = client.post(
        "/api/v1/ipv4-addresses", json={"network_id": v4, "vm_interface_id": iface}, headers=op
    )
    assert resp.status_code == 201, resp.json
    assert resp.json["address"] == "198.51.100.2" and resp.json["vm_interface_id"] == iface
    resp = client.post(
        "/api/v1/ipv4-addresses",
        json={"address": "198.51.100.1", "vm_interface_id": iface},
        headers=op,
    )
    assert resp.status_code == 409 and "gateway" in resp.json["message"]
    resp = client.post("/api/v1/ipv4-addresses", json={"network_id": v4}, headers=op)
    assert resp.status_code == 422 and "address" in resp.json["errors"]


def test_vlans_get_free_vnis_and_stay_private(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    a, b, op = H(api_tokens.customer_a), H(api_tokens.customer_b), H(api_tokens.operator)
    override(app, vni_range=(10001, 10010))
    mine = client.post("/api/v1/vlans", json={"name": "lab"}, headers=a)
    assert mine.status_code == 201, mine.json
    # 10001 and 10002 are the demo's: the lowest free one of the range is next.
    assert mine.json["vni"] == 10003 and mine.json["customer_id"] == 1001
    assert client.post("/api/v1/vlans", json={"name": "x", "vni": 5}, headers=a).status_code == 403
    db: Database = app.extensions["virtapi.db"]
    with db.session() as s:
        ifaces = {
            vm.hostname.split(".")[0]: vm.interfaces[0].id
            for vm in s.scalars(select(Vm).where(Vm.hostname.like("%.c100%")))
        }
    url = f"/api/v1/vlans/{mine.json['id']}"
    # B's VM interface does not exist for A; an operator cannot bridge it in either.
    resp = client.patch(url, json={"members": [ifaces["app1"]]}, headers=a)
    assert resp.status_code == 404
    resp = client.patch(url, json={"members": [ifaces["app1"]]}, headers=op)
    assert resp.status_code == 409 and "private to customer 1001" in resp.json["message"]
    resp = client.patch(url, json={"members": [ifaces["web1"], ifaces["db1"]]}, headers=a)
    assert resp.status_code == 200 and len(resp.json["members"]) == 2
    assert client.get(url, headers=b).status_code == 404
    override(app, vni_range=(10001, 10003))
    full = client.post("/api/v1/vlans", json={"name": "more"}, headers=op)
    assert full.status_code == 409 and full.json["code"] == "exhausted"
