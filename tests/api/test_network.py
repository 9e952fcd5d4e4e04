"""Interfaces, VLANs, networks and addresses through the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.api.helpers import H, db_of, vm_id
from virtapi.models import Change


def test_network_prefix_rules(client: Any, api_tokens: Any) -> None:
    op = H(api_tokens.operator)
    resp = client.post(
        "/api/v1/ipv4-networks",
        json={"prefix": "192.0.2.0/24", "gateway": "192.0.2.1"},
        headers=op,
    )
    assert resp.status_code == 201, resp.json
    net = resp.json
    assert (net["prefix"], net["network"], net["prefixlen"], net["last_address"]) == (
        "192.0.2.0/24",
        "192.0.2.0",
        24,
        "192.0.2.255",
    )
    host_bits = client.post("/api/v1/ipv4-networks", json={"prefix": "10.0.0.5/8"}, headers=op)
    assert host_bits.status_code == 422
    assert "host bits set; did you mean 10.0.0.0/8" in host_bits.json["errors"]["prefix"][0]
    for bad in ("10.0.0.0", "10.0.0.0/33", "2001:db8::/64", "nonsense/8", 7):
        resp = client.post("/api/v1/ipv4-networks", json={"prefix": bad}, headers=op)
        assert resp.status_code == 422 and "prefix" in resp.json["errors"], bad
    overlap = client.post("/api/v1/ipv4-networks", json={"prefix": "192.0.2.128/25"}, headers=op)
    assert overlap.status_code == 409 and "overlaps" in overlap.json["message"]
    gw = client.post(
        "/api/v1/ipv4-networks", json={"prefix": "10.9.0.0/16", "gateway": "10.8.0.1"}, headers=op
    )
    assert gw.status_code == 422 and "gateway" in gw.json["errors"]
    v6 = client.post(
        "/api/v1/ipv6-networks",
        json={"prefix": "2001:DB8:0:0::/64", "gateway": "2001:db8:0:0:0:0:0:1"},
        headers=op,
    )
    assert v6.status_code == 201 and v6.json["prefix"] == "2001:db8::/64"
    assert v6.json["gateway"] == "2001:db8::1"
    found = client.get("/api/v1/ipv4-networks?contains=192.0.2.77", headers=op).json
    assert [n["id"] for n in found["results"]] == [net["id"]]
    exact = client.get("/api/v1/ipv6-networks?prefix=2001:db8::/64", headers=op).json
    assert exact["count"] == 1


def test_addresses_any_spelling_and_network_lookup(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    op = H(api_tokens.operator)
    resp = client.post(
        "/api/v1/ipv6-addresses", json={"address": "2001:DB8:100:0::0099"}, headers=op
    )
    assert resp.status_code == 201, resp.json
    assert resp.json["address"] == "2001:db8:100::99"
    assert resp.json["prefix"] == "2001:db8:100::/64" and resp.json["vm_interface_id"] is None
    dup = client.post("/api/v1/ipv6-addresses", json={"address": "2001:db8:100::99"}, headers=op)
    assert dup.status_code == 409 and dup.json["errors"] == {"address": ["already in use"]}
    outside = client.post("/api/v1/ipv4-addresses", json={"address": "203.0.113.5"}, headers=op)
    assert outside.status_code == 422 and "no IPv4 network contains" in outside.json["message"]
    bad = client.post("/api/v1/ipv4-addresses", json={"address": "300.1.1.1"}, headers=op)
    assert bad.status_code == 422 and "address" in bad.json["errors"]

    web1 = client.get(f"/api/v1/vms/{vm_id(app, 'web1')}", headers=op).json
    iface = web1["interfaces"][0]["id"]
    assigned = client.patch(resp.headers["Location"], json={"vm_interface_id": iface}, headers=op)
    assert assigned.status_code == 200 and assigned.json["vm_id"] == web1["id"]
    web1 = client.get(f"/api/v1/vms/{web1['id']}", headers=op).json
    assert "2001:db8:100::99" in web1["interfaces"][0]["ipv6_addresses"]
    free = client.get("/api/v1/ipv4-addresses?free=true", headers=op).json
    assert free["count"] == 0
    in_net = client.get("/api/v1/ipv4-addresses?network=10.20.0.0/24", headers=op).json
    assert in_net["count"] == 6
    one = client.get("/api/v1/ipv4-addresses?address=198.51.100.10", headers=op).json
    assert one["count"] == 1 and one["results"][0]["vm_id"] == web1["id"]

    net = client.get("/api/v1/ipv6-networks?prefix=2001:db8:100::/64", headers=op).json
    refused = client.delete(f"/api/v1/ipv6-networks/{net['results'][0]['id']}", headers=op)
    assert refused.status_code == 409
    assert "ipv6.network_id" in refused.json["message"]


def test_interfaces_and_macs(app: Any, client: Any, api_tokens: Any, demo: Any) -> None:
    op = H(api_tokens.operator)
    web1 = vm_id(app, "web1")
    gen = client.post("/api/v1/vm-interfaces", json={"vm_id": web1}, headers=op)
    assert gen.status_code == 201, gen.json
    assert (
        gen.json["mac"].startswith("52:54:00:") and gen.json["name"] == f"{web1}-{gen.json['id']}"
    )
    given = client.post(
        "/api/v1/vm-interfaces", json={"vm_id": web1, "mac": "AA-BB-CC-00-11-22"}, headers=op
    )
    assert given.status_code == 201 and given.json["mac"] == "aa:bb:cc:00:11:22"
    same = client.post(
        "/api/v1/vm-interfaces", json={"vm_id": web1, "mac": "aabb.cc00.1122"}, headers=op
    )
    assert same.status_code == 409 and same.json["errors"] == {"mac": ["already in use"]}
    found = client.get("/api/v1/vm-interfaces?mac=AABBCC001122", headers=op).json
    assert [i["id"] for i in found["results"]] == [given.json["id"]]
    both = client.post("/api/v1/vm-interfaces", json={"vm_id": web1, "node_id": 1}, headers=op)
    assert both.status_code == 422
    badmac = client.post("/api/v1/vm-interfaces", json={"vm_id": web1, "mac": "zz"}, headers=op)
    assert badmac.status_code == 422 and "mac" in badmac.json["errors"]

    ca = H(api_tokens.customer_a)
    mine = client.post("/api/v1/vm-interfaces", json={"vm_id": web1}, headers=ca)
    assert mine.status_code == 201
    hand = client.post(
        "/api/v1/vm-interfaces", json={"vm_id": web1, "mac": "02:00:00:00:00:01"}, headers=ca
    )
    assert hand.status_code == 403 and hand.json["errors"] == {"mac": ["operators only"]}
    addr = client.post("/api/v1/ipv4-addresses", json={"address": "198.51.100.99"}, headers=ca)
    assert addr.status_code == 403 and "addresses" in addr.json["message"]


def test_vlan_members_and_change_log(app: Any, client: Any, api_tokens: Any, demo: Any) -> None:
    ca = H(api_tokens.customer_a)
    web1 = client.get(f"/api/v1/vms/{vm_id(app, 'web1')}", headers=ca).json
    web2 = client.get(f"/api/v1/vms/{vm_id(app, 'web2')}", headers=ca).json
    i1, i2 = web1["interfaces"][0]["id"], web2["interfaces"][0]["id"]
    resp = client.post("/api/v1/vlans", json={"name": "front", "members": [i1]}, headers=ca)
    assert resp.status_code == 201, resp.json
    vlan = resp.json
    assert vlan["customer_id"] == 1001 and vlan["vni"] >= 10000 and vlan["members"] == [i1]
    vni = client.post("/api/v1/vlans", json={"name": "x", "vni": 5}, headers=ca)
    assert vni.status_code == 403 and vni.json["errors"] == {"vni": ["operators only"]}
    url = resp.headers["Location"]
    resp = client.patch(url, json={"members": [i1, i2]}, headers=ca)
    assert resp.status_code == 200 and resp.json["members"] == [i1, i2]
    members = client.get(f"/api/v1/vm-interfaces?vlan_id={vlan['id']}", headers=ca).json
    assert [m["id"] for m in members["results"]] == [i1, i2]
    by_vni = client.get(f"/api/v1/vlans?vni={vlan['vni']}", headers=ca).json
    assert by_vni["count"] == 1
    assert client.patch(url, json={"members": [i2]}, headers=ca).status_code == 200

    log = client.get(f"/api/v1/changes?object_type=vlans&object_id={vlan['id']}", headers=ca).json
    assert [(c["action"], c["after"]["interfaces"]) for c in log["results"]] == [
        ("create", [str(i1)]),
        ("update", [str(i1), str(i2)]),
        ("update", [str(i2)]),
    ]
    assert log["results"][2]["before"] == {"interfaces": [str(i1), str(i2)]}
    assert all(c["actor"].endswith(":customer_a") for c in log["results"])
    dup = client.post(
        "/api/v1/vlans", json={"name": "d", "vni": vlan["vni"]}, headers=H(api_tokens.operator)
    )
    assert dup.status_code == 409 and dup.json["errors"] == {"vni": ["already in use"]}
    with db_of(app).session() as s:
        assert (
            s.scalar(select(Change.customer_id).where(Change.object_type == "vlan").limit(1))
            == 1001
        )


def test_vni_allocation_skips_a_taken_vni(app: Any, api_tokens: Any, demo: Any) -> None:
    from virtapi.auth import Principal
    from virtapi.models import Vlan
    from virtapi.services.network import vlans

    operator = Principal(0, "test", "operator", None)
    # 10001 and 10002 are the demo's: taken, as by a concurrent, committed creation.
    with db_of(app).session() as s:
        vlan = vlans.create_vlan(s, operator, {"name": "race"}, (10001, 10003))
        assert vlan.vni == 10003 and vlan.id is not None
    with db_of(app).session() as s:
        assert s.scalar(select(Vlan.vni).where(Vlan.name == "race")) == 10003
        logged = s.scalars(select(Change.after).where(Change.object_type == "vlan")).all()
        assert [a["vni"] for a in logged if a and a.get("name") == "race"] == [10003]
