"""Customer A against customer B's objects: every read and write endpoint answers 404, and
nothing in the database changes (not even the change log)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from tests.api.helpers import GiB, H, db_of, vm_id
from virtapi.models import (
    Base,
    Change,
    Ipv4Address,
    Ipv6Address,
    Storage,
    Vlan,
    VmInterface,
)


def _snapshot(app: Any) -> dict[str, list[tuple[Any, ...]]]:
    with db_of(app).session() as s:
        return {
            t.name: [tuple(r) for r in s.execute(select(t).order_by(*t.primary_key.columns))]
            for t in Base.metadata.sorted_tables
        }


def _b_objects(app: Any) -> dict[str, int]:
    """Ids of customer B's objects (and an A object to aim B's ids at)."""
    app1, web1 = vm_id(app, "app1"), vm_id(app, "web1")
    with db_of(app).session() as s:
        iface = s.scalar(select(VmInterface.id).where(VmInterface.vm_id == app1))
        return {
            "vm": app1,
            "iface": iface,
            "vlan": s.scalar(select(Vlan.id).where(Vlan.customer_id == 1002)),
            "ipv4": s.scalar(select(Ipv4Address.id).where(Ipv4Address.vm_interface_id == iface)),
            "ipv6": s.scalar(select(Ipv6Address.id).where(Ipv6Address.vm_interface_id == iface)),
            "disk": s.scalar(select(Storage.id).where(Storage.vm_id == app1)),
            "change": s.scalar(select(Change.id).where(Change.customer_id == 1002).limit(1)),
            "quota": 1002,
            "a_vm": web1,
            "a_iface": s.scalar(select(VmInterface.id).where(VmInterface.vm_id == web1)),
            "a_vlan": s.scalar(select(Vlan.id).where(Vlan.customer_id == 1001)),
        }


def cases(b: dict[str, int]) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, url, json body): every endpoint that names one of B's objects."""
    items = {
        "vms": (b["vm"], {"cores": 1}),
        "vm-interfaces": (b["iface"], {"vlans": []}),
        "vlans": (b["vlan"], {"name": "mine"}),
        "ipv4-addresses": (b["ipv4"], {"vm_interface_id": None}),
        "ipv6-addresses": (b["ipv6"], {"vm_interface_id": None}),
        "storage": (b["disk"], {"size": GiB}),
        "customer-quotas": (b["quota"], {"max_vms": 100}),
    }
    out: list[tuple[str, str, dict[str, Any] | None]] = []
    for path, (key, body) in items.items():
        url = f"/api/v1/{path}/{key}"
        out += [("GET", url, None), ("PATCH", url, body), ("DELETE", url, None)]
    out.append(("GET", f"/api/v1/changes/{b['change']}", None))
    # Writes to A's own objects or new objects that would reach into B's.
    out += [
        ("POST", "/api/v1/vm-interfaces", {"vm_id": b["vm"]}),
        ("POST", "/api/v1/vm-interfaces", {"vm_id": b["a_vm"], "vlans": [b["vlan"]]}),
        ("POST", "/api/v1/storage", {"vm_id": b["vm"], "size": GiB, "storage_type": "lvm"}),
        ("POST", "/api/v1/vlans", {"name": "grab", "members": [b["iface"]]}),
        ("PATCH", f"/api/v1/vlans/{b['a_vlan']}", {"members": [b["a_iface"], b["iface"]]}),
        ("PATCH", f"/api/v1/vm-interfaces/{b['a_iface']}", {"vlans": [b["vlan"]]}),
    ]
    return out


def test_customer_a_cannot_reach_customer_b(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    ca = H(api_tokens.customer_a)
    assert client.get("/api/v1/whoami", headers=ca).status_code == 200  # token use recorded now
    b = _b_objects(app)
    assert all(b.values()), b
    before = _snapshot(app)
    failures = []
    for method, url, body in cases(b):
        resp = client.open(url, method=method, json=body, headers=ca)
        if resp.status_code != 404 or resp.json["code"] != "not_found":
            failures.append((method, url, body, resp.status_code, resp.json))
        # The same answer as for an object that does not exist at all.
        assert "1002" not in resp.get_data(as_text=True) or url.endswith("/1002")
    assert not failures, failures
    assert _snapshot(app) == before


def _values(data: Any, key: str) -> Iterator[Any]:
    """Every value stored under ``key`` anywhere in a JSON document."""
    if isinstance(data, dict):
        for k, v in data.items():
            if k == key:
                yield v
            yield from _values(v, key)
    elif isinstance(data, list):
        for item in data:
            yield from _values(item, key)


def test_customer_lists_never_show_b(app: Any, client: Any, api_tokens: Any, demo: Any) -> None:
    ca = H(api_tokens.customer_a)
    b = _b_objects(app)
    own_key = {
        "vms": "vm",
        "vm-interfaces": "iface",
        "vlans": "vlan",
        "ipv4-addresses": "ipv4",
        "ipv6-addresses": "ipv6",
        "storage": "disk",
        "customer-quotas": "quota",
        "changes": "change",
    }
    for path, key in own_key.items():
        page = client.get(f"/api/v1/{path}?limit=1000", headers=ca).json
        assert page["count"] > 0, path
        ids = {r.get("id", r.get("customer_id")) for r in page["results"]}
        assert b[key] not in ids, path
        # Nothing of B's nested anywhere either: its customer id, its hostnames (c1002).
        assert 1002 not in set(_values(page["results"], "customer_id")), path
        assert "c1002" not in str(page["results"]), path
    for query in (
        "vms?customer_id=1002",
        f"vm-interfaces?vm_id={b['vm']}",
        f"storage?vm_id={b['vm']}",
        "vlans?vni=10002",
        f"ipv4-addresses?vm_id={b['vm']}",
        "changes?customer_id=1002",
        f"changes?object_type=vm&object_id={b['vm']}",
        "customer-quotas?customer_id=1002",
    ):
        assert client.get(f"/api/v1/{query}", headers=ca).json["count"] == 0, query


def test_customer_sees_own_objects_and_vocabularies(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    ca = H(api_tokens.customer_a)
    for path in ("vm-states", "storage-types", "cache-options", "virt-methods", "ceph-pools"):
        assert client.get(f"/api/v1/{path}", headers=ca).json["count"] > 0, path
    for path in ("nodes", "virt-nodes", "ceph-osd-nodes", "ipv4-networks", "node-states"):
        assert client.get(f"/api/v1/{path}", headers=ca).status_code == 403, path
    b = _b_objects(app)
    assert client.get(f"/api/v1/vms/{b['a_vm']}", headers=ca).status_code == 200
    assert client.get("/api/v1/customer-quotas/1001", headers=ca).status_code == 200
    log = client.get("/api/v1/changes?object_type=vm", headers=ca).json
    assert log["count"] == 3 and {c["customer_id"] for c in log["results"]} == {1001}


def test_customer_writes_back_its_interface_with_an_operator_attached_shared_vlan(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    op, a = H(api_tokens.operator), H(api_tokens.customer_a)
    shared = client.post("/api/v1/vlans", json={"name": "public"}, headers=op).json["id"]
    other = client.post("/api/v1/vlans", json={"name": "backbone"}, headers=op).json["id"]
    with db_of(app).session() as s:
        iface = s.scalar(select(VmInterface.id).where(VmInterface.vm_id == vm_id(app, "web1")))
    own = [v["id"] for v in client.get(f"/api/v1/vm-interfaces/{iface}", headers=a).json["vlans"]]
    resp = client.patch(
        f"/api/v1/vm-interfaces/{iface}", json={"vlans": [*own, shared]}, headers=op
    )
    assert resp.status_code == 200, resp.json
    seen = client.get(f"/api/v1/vm-interfaces/{iface}", headers=a)
    resp = client.patch(
        f"/api/v1/vm-interfaces/{iface}",
        json={"vlans": [v["id"] for v in seen.json["vlans"]]},
        headers={**a, "If-Match": seen.headers["ETag"]},
    )
    assert resp.status_code == 200, resp.json
    assert sorted(v["id"] for v in resp.json["vlans"]) == sorted([*own, shared])
    # Kept is not granted: the customer cannot attach a shared VLAN it was not given.
    resp = client.patch(
        f"/api/v1/vm-interfaces/{iface}", json={"vlans": [*own, shared, other]}, headers=a
    )
    assert resp.status_code == 404 and "vlans" in resp.json["errors"]
    # Leaving it out detaches it, and then it cannot be named again.
    resp = client.patch(f"/api/v1/vm-interfaces/{iface}", json={"vlans": own}, headers=a)
    assert [v["id"] for v in resp.json["vlans"]] == own
    resp = client.patch(f"/api/v1/vm-interfaces/{iface}", json={"vlans": [*own, shared]}, headers=a)
    assert resp.status_code == 404


def test_vlan_names_are_unique_per_customer_and_among_shared(
    client: Any, api_tokens: Any, demo: Any
) -> None:
    a, b, op = H(api_tokens.customer_a), H(api_tokens.customer_b), H(api_tokens.operator)
    assert client.post("/api/v1/vlans", json={"name": "dup-net"}, headers=a).status_code == 201
    assert client.post("/api/v1/vlans", json={"name": "dup-net"}, headers=b).status_code == 201
    assert client.post("/api/v1/vlans", json={"name": "dup-net"}, headers=op).status_code == 201
    for headers in (a, op):
        resp = client.post("/api/v1/vlans", json={"name": "dup-net"}, headers=headers)
        assert resp.status_code == 409 and resp.json["code"] == "duplicate", resp.json
        assert "name" in resp.json["message"]
