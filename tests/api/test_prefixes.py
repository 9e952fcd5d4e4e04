"""Routed IPv6 /64s per VM interface (issue 17 point 4): pools, automatic allocation, release,
customers' isolation, and the hypervisor's routes."""

from __future__ import annotations

from typing import Any

from tests.api.helpers import H, db_of, vm_id
from virtapi.services.node_document import build_node_document


def _iface(client: Any, headers: dict[str, str], vm: int) -> int:
    return client.get(f"/api/v1/vms/{vm}", headers=headers).json["interfaces"][0]["id"]


def test_pools_and_routed_prefixes(app: Any, client: Any, api_tokens: Any, demo: Any) -> None:
    op, ca, cb = H(api_tokens.operator), H(api_tokens.customer_a), H(api_tokens.customer_b)
    none_yet = client.post(
        "/api/v1/ipv6-routed-prefixes",
        json={"vm_interface_id": _iface(client, op, vm_id(app, "web1"))},
        headers=ca,
    )
    assert none_yet.status_code == 422 and "pool_id" in none_yet.json["errors"]
    assert (
        client.post("/api/v1/ipv6-prefix-pools", json={"prefix": "2001:db8:f00::/48"}, headers=ca)
    ).status_code == 403
    small = client.post(
        "/api/v1/ipv6-prefix-pools", json={"prefix": "2001:db8:f00::/96"}, headers=op
    )
    assert small.status_code == 422 and "prefix" in small.json["errors"]
    pool = client.post(
        "/api/v1/ipv6-prefix-pools", json={"prefix": "2001:db8:f00::/62"}, headers=op
    )
    assert pool.status_code == 201 and pool.json["prefix"] == "2001:db8:f00::/62"
    # Pools and networks share the address space: neither may overlap the other.
    clash = client.post("/api/v1/ipv6-networks", json={"prefix": "2001:db8:f00:1::/64"}, headers=op)
    assert clash.status_code == 409 and "prefix pool 2001:db8:f00::/62" in clash.json["message"]
    over_net = client.post(
        "/api/v1/ipv6-prefix-pools", json={"prefix": "2001:db8:100::/48"}, headers=op
    )
    assert over_net.status_code == 409

    web1, db1, app1 = (_iface(client, op, vm_id(app, h)) for h in ("web1", "db1", "app1"))
    first = client.post("/api/v1/ipv6-routed-prefixes", json={"vm_interface_id": web1}, headers=ca)
    assert first.status_code == 201, first.json
    assert first.json["prefix"] == "2001:db8:f00::/64"
    assert first.json["bridge"].startswith("br-")
    twice = client.post("/api/v1/ipv6-routed-prefixes", json={"vm_interface_id": web1}, headers=op)
    assert twice.status_code == 409 and "already has" in twice.json["message"]
    # Customer B can neither see A's prefix nor route one to A's interface.
    assert client.get(first.headers["Location"], headers=cb).status_code == 404
    assert client.get("/api/v1/ipv6-routed-prefixes", headers=cb).json["count"] == 0
    theirs = client.post("/api/v1/ipv6-routed-prefixes", json={"vm_interface_id": db1}, headers=cb)
    assert theirs.status_code == 404 and "vm_interface_id" in theirs.json["errors"]
    second = client.post("/api/v1/ipv6-routed-prefixes", json={"vm_interface_id": db1}, headers=ca)
    assert second.json["prefix"] == "2001:db8:f00:1::/64"
    # Released /64s are handed out again, lowest first.
    assert client.delete(first.headers["Location"], headers=ca).status_code == 204
    again = client.post("/api/v1/ipv6-routed-prefixes", json={"vm_interface_id": app1}, headers=cb)
    assert again.status_code == 201 and again.json["prefix"] == "2001:db8:f00::/64"
    in_use = client.delete(f"/api/v1/ipv6-prefix-pools/{pool.json['id']}", headers=op)
    assert in_use.status_code == 409

    with db_of(app).session() as s:
        hv02 = build_node_document(s, "hv02.dc1.example.com")
        vm_doc = build_node_document(s, "app1.c1002.example.net")
    assert hv02 is not None and vm_doc is not None
    bridge = f"br-{vm_id(app, 'app1')}-{app1}"
    assert hv02["hypervisor"]["ipv6_routes"] == [{"prefix": "2001:db8:f00::/64", "bridge": bridge}]
    assert vm_doc["vm"]["interfaces"][0]["routed_ipv6"] == "2001:db8:f00::/64"

    # Deleting the interface releases its /64 (and logs it).
    assert client.delete(f"/api/v1/vm-interfaces/{app1}", headers=op).status_code == 204
    assert client.get(again.headers["Location"], headers=op).status_code == 404
    log = client.get("/api/v1/changes?object_type=ipv6_routed_prefix", headers=op).json
    assert [c["action"] for c in log["results"]].count("delete") == 2
