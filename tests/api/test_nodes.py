"""Nodes and roles through the API: CRUD, filters, pagination, roles, ETags, errors."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from virtapi.db import Database
from virtapi.models import Change, Node


def H(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def test_node_crud_round_trip(client: Any, api_tokens: Any) -> None:
    op = H(api_tokens.operator)
    resp = client.post(
        "/api/v1/nodes", json={"fqdn": "n1.example.com", "area": "a", "location": "r1"}, headers=op
    )
    assert resp.status_code == 201, resp.json
    node = resp.json
    assert node["state"] == "running" and node["roles"] == [] and node["area"] == "a"
    assert resp.headers["Location"] == f"/api/v1/nodes/{node['id']}"
    assert resp.headers["ETag"]

    got = client.get(resp.headers["Location"], headers=H(api_tokens.reader))
    assert got.status_code == 200 and got.json == node
    assert got.headers["ETag"] == resp.headers["ETag"]

    patched = client.patch(f"/api/v1/nodes/{node['id']}", json={"state": "maintenance"}, headers=op)
    assert patched.status_code == 200, patched.json
    assert patched.json["state"] == "maintenance"
    assert patched.headers["ETag"] != resp.headers["ETag"]

    assert client.delete(f"/api/v1/nodes/{node['id']}", headers=op).status_code == 204
    assert client.get(f"/api/v1/nodes/{node['id']}", headers=op).status_code == 404


def test_node_validation_messages(client: Any, api_tokens: Any) -> None:
    op = H(api_tokens.operator)
    resp = client.post("/api/v1/nodes", json={"fqdn": "x" * 300, "bogus": 1}, headers=op)
    assert resp.status_code == 422
    assert set(resp.json["errors"]) == {"fqdn", "bogus"}
    assert "bogus" in resp.json["message"] and "fqdn" in resp.json["message"]
    resp = client.post("/api/v1/nodes", json={"fqdn": "n", "state": "sleeping"}, headers=op)
    assert resp.status_code == 422 and "running" in resp.json["message"]
    assert resp.json["errors"] == {"state": ["unknown value 'sleeping'"]}
    resp = client.post(
        "/api/v1/nodes", data="{not json", headers={**op, "Content-Type": "application/json"}
    )
    assert resp.status_code in (400, 422) and resp.json["code"]
    client.post("/api/v1/nodes", json={"fqdn": "dup"}, headers=op)
    resp = client.post("/api/v1/nodes", json={"fqdn": "dup"}, headers=op)
    assert resp.status_code == 409 and resp.json["errors"] == {"fqdn": ["already in use"]}


def test_roles_on_nodes(client: Any, api_tokens: Any) -> None:
    assert client.get("/api/v1/nodes").status_code == 401
    assert client.get("/api/v1/nodes", headers=H(api_tokens.customer_a)).status_code == 403
    assert client.get("/api/v1/nodes", headers=H(api_tokens.reader)).status_code == 200
    resp = client.post("/api/v1/nodes", json={"fqdn": "r"}, headers=H(api_tokens.reader))
    assert resp.status_code == 403 and resp.json["code"] == "forbidden"
    resp = client.post("/api/v1/nodes", json={"fqdn": "a"}, headers=H(api_tokens.admin))
    assert resp.status_code == 201
    node_id = resp.json["id"]
    for tok in (api_tokens.reader, api_tokens.customer_a):
        assert client.patch(f"/api/v1/nodes/{node_id}", json={}, headers=H(tok)).status_code == 403
        assert client.delete(f"/api/v1/nodes/{node_id}", headers=H(tok)).status_code == 403


def test_list_pagination_and_filters(client: Any, api_tokens: Any, demo: Any) -> None:
    rd = H(api_tokens.reader)
    page = client.get("/api/v1/nodes?limit=2", headers=rd).json
    assert page["count"] == 6 and len(page["results"]) == 2 and page["previous"] is None
    assert "limit=2" in page["next"] and "offset=2" in page["next"]
    ids = [n["id"] for n in page["results"]]
    nxt = client.get(page["next"], headers=rd).json
    assert [n["id"] for n in nxt["results"]][0] > ids[-1]
    assert nxt["previous"] is not None
    everything = client.get("/api/v1/nodes?limit=1000", headers=rd).json["results"]
    assert [n["id"] for n in everything] == sorted(n["id"] for n in everything)

    hv = client.get("/api/v1/nodes?role=hypervisor", headers=rd).json
    assert hv["count"] == 3 and all("hypervisor" in n["roles"] for n in hv["results"])
    area_b = client.get("/api/v1/nodes?area=b&role=ceph_mon", headers=rd).json
    assert [n["fqdn"] for n in area_b["results"]] == ["ceph03.dc1.example.com"]
    one = client.get("/api/v1/nodes?fqdn=hv01.dc1.example.com", headers=rd).json
    assert one["count"] == 1 and one["results"][0]["interfaces"][0]["mac"] == "0c:c4:7a:00:00:01"
    assert client.get("/api/v1/nodes?state=offline", headers=rd).json["count"] == 0

    bad = client.get("/api/v1/nodes?colour=red&limit=5000", headers=rd)
    assert bad.status_code == 422 and set(bad.json["errors"]) == {"colour", "limit"}
    assert client.get("/api/v1/virt-nodes?method=qemu", headers=rd).json["count"] == 1


def test_etag_if_match_and_if_none_match(client: Any, api_tokens: Any) -> None:
    op = H(api_tokens.operator)
    created = client.post("/api/v1/nodes", json={"fqdn": "e1"}, headers=op)
    url, tag = created.headers["Location"], created.headers["ETag"]
    assert client.get(url, headers={**op, "If-None-Match": tag}).status_code == 304
    ok = client.patch(url, json={"location": "r2"}, headers={**op, "If-Match": tag})
    assert ok.status_code == 200
    stale = client.patch(url, json={"location": "r3"}, headers={**op, "If-Match": tag})
    assert stale.status_code == 412 and stale.json["code"] == "precondition_failed"
    assert client.get(url, headers=op).json["location"] == "r2"
    assert client.delete(url, headers={**op, "If-Match": tag}).status_code == 412
    assert client.delete(url, headers={**op, "If-Match": ok.headers["ETag"]}).status_code == 204


def test_virt_node_methods_and_delete_conflicts(client: Any, api_tokens: Any, demo: Any) -> None:
    op = H(api_tokens.operator)
    node = client.post("/api/v1/nodes", json={"fqdn": "hv9"}, headers=op).json
    vn = client.post(
        "/api/v1/virt-nodes",
        json={"node_id": node["id"], "cores": 8, "ram": 2**34, "methods": ["kvm", "qemu"]},
        headers=op,
    )
    assert vn.status_code == 201, vn.json
    assert [m["name"] for m in vn.json["methods"]] == ["kvm", "qemu"]
    assert vn.json["fqdn"] == "hv9"
    again = client.post(
        "/api/v1/virt-nodes", json={"node_id": node["id"], "cores": 1, "ram": 1}, headers=op
    )
    assert again.status_code == 409 and "already has this role" in again.json["message"]
    url = f"/api/v1/virt-nodes/{vn.json['id']}"
    resp = client.patch(url, json={"methods": ["qemu"]}, headers=op)
    assert [m["name"] for m in resp.json["methods"]] == ["qemu"]
    resp = client.patch(url, json={"methods": ["lxc"]}, headers=op)
    assert resp.status_code == 422 and "methods" in resp.json["errors"]
    assert client.get(f"/api/v1/nodes/{node['id']}", headers=op).json["roles"] == ["hypervisor"]

    hv1 = client.get("/api/v1/virt-nodes?fqdn=hv01.dc1.example.com", headers=op).json["results"][0]
    resp = client.patch(f"/api/v1/virt-nodes/{hv1['id']}", json={"methods": ["qemu"]}, headers=op)
    assert resp.status_code == 409 and "kvm" in resp.json["message"]
    resp = client.delete(f"/api/v1/nodes/{hv1['node_id']}", headers=op)
    assert resp.status_code == 409 and "VM" in resp.json["message"]
    resp = client.delete("/api/v1/node-states/1", headers=op)
    assert resp.status_code == 409 and "node.node_state_id" in resp.json["message"]


def test_ceph_roles(client: Any, api_tokens: Any) -> None:
    op = H(api_tokens.operator)
    node = client.post("/api/v1/nodes", json={"fqdn": "c1"}, headers=op).json
    mon = client.post("/api/v1/ceph-mon-nodes", json={"node_id": node["id"]}, headers=op)
    assert mon.status_code == 201 and mon.json["port"] == 6789
    osd = client.post("/api/v1/ceph-osd-nodes", json={"node_id": node["id"]}, headers=op)
    assert osd.status_code == 201
    assert client.get(f"/api/v1/nodes/{node['id']}", headers=op).json["roles"] == [
        "ceph_osd",
        "ceph_mon",
    ]
    bad = client.patch(f"/api/v1/ceph-mon-nodes/{mon.json['id']}", json={"port": 70000}, headers=op)
    assert bad.status_code == 422 and "port" in bad.json["errors"]
    missing = client.post("/api/v1/ceph-osd-nodes", json={"node_id": 999999}, headers=op)
    assert missing.status_code == 404 and "node_id" in missing.json["errors"]
    assert client.delete(f"/api/v1/nodes/{node['id']}", headers=op).status_code == 204


def test_node_changes_are_logged_with_token_actor(app: Any, client: Any, api_tokens: Any) -> None:
    op = H(api_tokens.operator)
    node = client.post("/api/v1/nodes", json={"fqdn": "log1"}, headers=op).json
    client.patch(f"/api/v1/nodes/{node['id']}", json={"area": "z"}, headers=op)
    db: Database = app.extensions["virtapi.db"]
    with db.session() as s:
        rows = s.scalars(
            select(Change).where(Change.object_type == "node").order_by(Change.id)
        ).all()
        assert [r.action for r in rows] == ["create", "update"]
        assert all(r.actor.endswith(":operator") and r.actor_token_id for r in rows)
        assert rows[1].before == {"area": None} and rows[1].after == {"area": "z"}
        assert s.scalar(select(Node.area).where(Node.id == node["id"])) == "z"


def test_vocabularies_and_node_nics(client: Any, api_tokens: Any, demo: Any) -> None:
    op = H(api_tokens.operator)
    resp = client.post(
        "/api/v1/vm-states", json={"name": "paused", "description": "held"}, headers=op
    )
    assert resp.status_code == 201 and resp.json["name"] == "paused"
    url = resp.headers["Location"]
    assert (
        client.patch(url, json={"description": "frozen"}, headers=op).json["description"]
        == "frozen"
    )
    bad = client.post("/api/v1/virt-methods", json={"name": "with space"}, headers=op)
    assert bad.status_code == 422 and "name" in bad.json["errors"]
    dup = client.post("/api/v1/storage-types", json={"name": "lvm"}, headers=op)
    assert dup.status_code == 409 and dup.json["errors"] == {"name": ["already in use"]}
    assert client.delete(url, headers=op).status_code == 204
    kvm = client.get("/api/v1/virt-methods?name=kvm", headers=op).json["results"][0]
    busy = client.delete(f"/api/v1/virt-methods/{kvm['id']}", headers=op)
    assert busy.status_code == 409 and "node_method.virt_method_id" in busy.json["message"]

    node = client.post("/api/v1/nodes", json={"fqdn": "nic.example.com"}, headers=op).json
    nic = client.post(
        "/api/v1/vm-interfaces",
        json={"node_id": node["id"], "node_ifname": "eno2", "mac": "0CC47A000099"},
        headers=op,
    )
    assert nic.status_code == 201, nic.json
    # The demo's 10.20.0.0/24 is a management network: a NIC without purpose may not use it.
    refused = client.post(
        "/api/v1/ipv4-addresses",
        json={"address": "10.20.0.99", "vm_interface_id": nic.json["id"]},
        headers=op,
    )
    assert refused.status_code == 422 and "vm_interface_id" in refused.json["errors"]
    patched = client.patch(
        f"/api/v1/vm-interfaces/{nic.json['id']}", json={"purpose": "management"}, headers=op
    )
    assert patched.status_code == 200 and patched.json["purpose"] == "management"
    assert (nic.json["name"], nic.json["bridge"], nic.json["vm_id"]) == ("eno2", None, None)
    addr = client.post(
        "/api/v1/ipv4-addresses",
        json={"address": "10.20.0.99", "vm_interface_id": nic.json["id"]},
        headers=op,
    )
    assert addr.status_code == 201 and addr.json["vm_id"] is None
    shown = client.get(f"/api/v1/nodes/{node['id']}", headers=op).json["interfaces"]
    assert shown == [
        {
            "id": nic.json["id"],
            "name": "eno2",
            "purpose": "management",
            "mac": "0c:c4:7a:00:00:99",
            "ipv4_addresses": ["10.20.0.99"],
            "ipv6_addresses": [],
        }
    ]
    assert client.delete(f"/api/v1/nodes/{node['id']}", headers=op).status_code == 204
    freed = client.get(f"/api/v1/ipv4-addresses/{addr.json['id']}", headers=op).json
    assert freed["vm_interface_id"] is None
