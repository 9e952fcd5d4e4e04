"""The REST API and ``virtapi import`` accept and refuse exactly the same values, stored alike.

One table of good and bad values per kind (MAC, IPv4/IPv6 address, prefix, hostname, FQDN,
VNI, size) goes through the real endpoints with the Flask test client and through the import
function, on the same database. Each import runs in a transaction that is rolled back, so the
database is empty again for the next one; the API calls come after and commit. For every value
the test compares accepted-or-refused and the normal form found in the database afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.api.helpers import H, db_of
from virtapi.models import (
    BackupSchedule,
    BackupStore,
    Ipv4Address,
    Ipv4Network,
    Ipv6Address,
    Ipv6Network,
    Ipv6PrefixPool,
    Node,
    Snapshot,
    Vlan,
    Vm,
    VmInterface,
)
from virtapi.services.audit import set_actor
from virtapi.services.errors import InvalidInput
from virtapi.services.transfer import import_inventory

GiB = 1024**3
NET4, NET6 = "10.0.0.0/8", "2001:db8::/32"

MACS = [
    "52:54:00:ab:cd:01", "52:54:00:AB:CD:02", "52-54-00-ab-cd-03", "5254.00ab.cd04",
    "525400abcd05", "525400-abcd06", "02:00:00:00:00:07",
    "1", "", " 52:54:00:ab:cd:08", "52:54:00:ab:cd:09 ", "01:00:5e:00:00:01",
    "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "52:54:00:ab:cd", "52:54-00:ab-cd:0a",
    "52:54:00:ab:cd:0g", "0x525400abcd0b", "52:54:00:ab:cd:0c:0d", 5, None,
]  # fmt: skip
IPV4 = [
    "10.0.0.1", "10.255.255.254", " 10.0.0.2", "10.0.0.3 ", "010.0.0.4", "10.0.0.005",
    "::ffff:10.0.0.6", "10.0.0.7/32", "10.0.7", "167772168", "10.0.0.256", "11.0.0.1", "", 7,
]  # fmt: skip
IPV6 = [
    "2001:db8::1", "2001:DB8::2", "2001:0db8:0000:0000:0000:0000:0000:0003", " 2001:db8::4",
    "2001:db8::5%eth0", "2001:db8::6/128", "2001:db8:::7", "::ffff:10.0.0.8", "10.0.0.9",
    "2001:db9::1", "",
]  # fmt: skip
PREFIX4 = [
    "192.0.2.0/24", "198.51.100.0/25", "203.0.113.0/32", "192.0.2.1/24", "192.0.2.0",
    "192.0.2.0/33", " 100.64.0.0/10", "100.64.0.0/10 ", "010.0.0.0/8", "100.64.0.0/ 10",
    "2001:db8::/32", "100.64.0.0/-1", "",
]  # fmt: skip
PREFIX6 = [
    "2001:db8::/32", "2001:DB9:1::/48", "2001:db8:2::1/48", "2001:db8:3::/129", "10.0.0.0/8",
    " 2001:db8:4::/48", "2001:db8:5::",
]  # fmt: skip
HOSTNAMES = [
    "web1.example.net", "web2", "a" * 63 + ".example.net", "Web3.example.net",
    "web4.example.net.", "web_5.example.net", "a" * 64 + ".example.net", "-web6.example.net",
    "web7-.example.net", "web8..example.net", "10.0.0.1", " web9.example.net", "",
    ("a" * 62 + ".") * 4 + "b",
]  # fmt: skip
VNIS = [1, 4096, 2**24 - 1, 0, -1, 2**24, "5", 1.5, True, None]
# The largest first: it fills a hypervisor on its own, the next ones go to the other.
SIZES = [2**63 - 1, 1, GiB, 0, -1, 2**63, "1", 1.5, True, None]
CALENDARS = [
    "daily", "Mon..Fri 02:00", "*-*-01 03:30:00", "Sat *-*-* 04:00 UTC", "*-02-29 00:00",
    "*-*-* 25:00", "*-02-30", "Mon..Fry 02:00", "", "hourly; rm", 5, None,
]  # fmt: skip
BACKUP_PATHS = [
    "/srv/backups", "backup01.example.net:/srv/backups", "/srv/b_1-x.y", "srv/backups",
    "/srv/../etc", "/srv/b; rm -rf /", "", "/srv/with space", 7,
]  # fmt: skip
SNAPSHOT_NAMES = ["before-upgrade", "n1", "a" * 64, "a" * 65, "Bad", "-x", "x y", "", 3, None]
POOL_PREFIXES = [
    "2001:db8:f00::/48", "2001:db8:f01::/64", "2001:db8:f02::/65", "2001:db8:f03::1/64",
    "10.0.0.0/8", "2001:db8:f04::", "",
]  # fmt: skip


@dataclass
class Kind:
    """How one kind of value reaches the import and the API, and where it is stored."""

    document: Callable[[int, Any], dict[str, Any]]
    request: Callable[[int, Any, dict[str, int]], tuple[str, dict[str, Any]]]
    stored: Callable[[Session], set[str]]
    setup: Callable[[Any, dict[str, str]], dict[str, int]] = lambda client, headers: {}


def _column(*columns: Any) -> Callable[[Session], set[str]]:
    return lambda s: {str(v) for c in columns for v in s.scalars(select(c))}


def _networks(s: Session) -> set[str]:
    return {
        f"{n.network}/{n.prefixlen}"
        for model in (Ipv4Network, Ipv6Network)
        for n in s.scalars(select(model))
    }


def _post(client: Any, headers: dict[str, str], path: str, body: dict[str, Any]) -> int:
    resp = client.post(path, json=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    return int(resp.get_json()["id"])


def _hypervisors(client: Any, headers: dict[str, str]) -> dict[str, int]:
    """Two empty hypervisors as large as the columns allow: the API places every VM it creates."""
    for name in ("hv1", "hv2"):
        node = _post(client, headers, "/api/v1/nodes", {"fqdn": f"{name}.example.net"})
        hypervisor = {"node_id": node, "cores": 2**31 - 1, "ram": 2**63 - 1, "methods": ["kvm"]}
        _post(client, headers, "/api/v1/virt-nodes", hypervisor)
    return {}


def _vm(hostname: Any = "v.example.net", ram: Any = GiB) -> dict[str, Any]:
    return {"hostname": hostname, "customer_id": 1001, "cores": 1, "ram": ram}


def _store_doc(i: int, target: Any = "/srv/backups") -> dict[str, Any]:
    return {"name": f"s{i}", "kind": "path", "target": target}


def _disk_vm(i: int, **disk: Any) -> dict[str, Any]:
    return {**_vm(f"d{i}.example.net"), "disks": [{"type": "qcow2", "size": GiB, **disk}]}


def _one_vm(client: Any, headers: dict[str, str]) -> dict[str, int]:
    """A VM with a qcow2 disk and a backup store, for schedules and snapshots."""
    _hypervisors(client, headers)
    vm = _post(client, headers, "/api/v1/vms", _vm())
    disk = {"vm_id": vm, "size": GiB, "storage_type": "qcow2"}
    _post(client, headers, "/api/v1/backup-stores", _store_doc(999))
    return {"vm": vm, "disk": _post(client, headers, "/api/v1/storage", disk)}


def _networks_doc(version: int, cidr: str, unassigned: list[Any]) -> dict[str, Any]:
    return {"networks": {f"ipv{version}": [{"cidr": cidr, "unassigned": unassigned}]}}


def _address_kind(version: int, net: str, model: Any) -> Kind:
    return Kind(
        document=lambda i, v: _networks_doc(version, net, [v]),
        request=lambda i, v, ids: (
            f"/api/v1/ipv{version}-addresses",
            {"address": v, "network_id": ids["net"]},
        ),
        stored=_column(model.address),
        setup=lambda client, headers: {
            "net": _post(client, headers, f"/api/v1/ipv{version}-networks", {"prefix": net})
        },
    )


def _prefix_kind(version: int) -> Kind:
    return Kind(
        document=lambda i, v: _networks_doc(version, v, []),
        request=lambda i, v, ids: (f"/api/v1/ipv{version}-networks", {"prefix": v}),
        stored=_networks,
    )


KINDS: dict[str, tuple[Kind, list[Any]]] = {
    "mac": (
        Kind(
            document=lambda i, v: {
                "nodes": [{"fqdn": f"n{i}.example.net", "interfaces": [{"mac": v}]}]
            },
            request=lambda i, v, ids: ("/api/v1/vm-interfaces", {"node_id": ids["node"], "mac": v}),
            stored=_column(VmInterface.mac),
            setup=lambda client, headers: {
                "node": _post(client, headers, "/api/v1/nodes", {"fqdn": "n.example.net"})
            },
        ),
        MACS,
    ),
    "ipv4 address": (_address_kind(4, NET4, Ipv4Address), IPV4),
    "ipv6 address": (_address_kind(6, NET6, Ipv6Address), IPV6),
    "ipv4 prefix": (_prefix_kind(4), PREFIX4),
    "ipv6 prefix": (_prefix_kind(6), PREFIX6),
    "vm hostname": (
        Kind(
            document=lambda i, v: {"vms": [_vm(v)]},
            request=lambda i, v, ids: ("/api/v1/vms", _vm(v)),
            stored=_column(Vm.hostname),
            setup=_hypervisors,
        ),
        HOSTNAMES,
    ),
    "node fqdn": (
        Kind(
            document=lambda i, v: {"nodes": [{"fqdn": v}]},
            request=lambda i, v, ids: ("/api/v1/nodes", {"fqdn": v}),
            stored=_column(Node.fqdn),
        ),
        HOSTNAMES,
    ),
    "vni": (
        Kind(
            document=lambda i, v: {"vlans": [{"vni": v, "name": f"v{i}"}]},
            request=lambda i, v, ids: ("/api/v1/vlans", {"vni": v, "name": f"v{i}"}),
            stored=_column(Vlan.vni),
        ),
        VNIS,
    ),
    "vm ram": (
        Kind(
            document=lambda i, v: {"vms": [_vm(f"r{i}.example.net", v)]},
            request=lambda i, v, ids: ("/api/v1/vms", _vm(f"r{i}.example.net", v)),
            stored=_column(Vm.ram),
            setup=_hypervisors,
        ),
        SIZES,
    ),
    "backup on_calendar": (
        Kind(
            document=lambda i, v: {
                "backup_stores": [_store_doc(i)],
                "vms": [
                    {
                        **_vm(f"c{i}.example.net"),
                        "backup_schedules": [{"store": f"s{i}", "on_calendar": v, "retention": 1}],
                    }
                ],
            },  # fmt: skip
            request=lambda i, v, ids: (
                "/api/v1/backup-schedules",
                {"vm_id": ids["vm"], "store": "s999", "on_calendar": v, "retention": 1},
            ),
            stored=_column(BackupSchedule.on_calendar),
            setup=_one_vm,
        ),
        CALENDARS,
    ),
    "backup store target": (
        Kind(
            document=lambda i, v: {"backup_stores": [_store_doc(i, v)]},
            request=lambda i, v, ids: ("/api/v1/backup-stores", _store_doc(i, v)),
            stored=_column(BackupStore.target),
        ),
        BACKUP_PATHS,
    ),
    "snapshot name": (
        Kind(
            document=lambda i, v: {"vms": [_disk_vm(i, snapshots=[{"name": v}])]},
            request=lambda i, v, ids: ("/api/v1/snapshots", {"storage_id": ids["disk"], "name": v}),
            stored=_column(Snapshot.name),
            setup=_one_vm,
        ),
        SNAPSHOT_NAMES,
    ),
    "ipv6 prefix pool": (
        Kind(
            document=lambda i, v: {"prefix_pools": [{"prefix": v}]},
            request=lambda i, v, ids: ("/api/v1/ipv6-prefix-pools", {"prefix": v}),
            stored=lambda s: {str(p.cidr) for p in s.scalars(select(Ipv6PrefixPool))},
        ),
        POOL_PREFIXES,
    ),
}


def _via_import(app: Any, doc: dict[str, Any], stored: Callable[[Session], set[str]]) -> Any:
    """The normal form the import stores for the document's one value, or None if refused."""
    with db_of(app).session() as s:
        before = stored(s)
        set_actor(s, None, "test")
        try:
            import_inventory(s, {"version": 1, **doc})
            s.flush()
            return stored(s) - before
        except InvalidInput:
            return None
        finally:
            s.rollback()


@pytest.mark.parametrize("kind", list(KINDS))
def test_api_and_import_agree(app: Any, client: Any, api_tokens: Any, kind: str) -> None:
    spec, table = KINDS[kind]
    imported = [_via_import(app, spec.document(i, v), spec.stored) for i, v in enumerate(table)]

    headers = H(api_tokens.admin)
    ids = spec.setup(client, headers)
    posted = []
    for i, value in enumerate(table):
        with db_of(app).session() as s:
            before = spec.stored(s)
        path, body = spec.request(i, value, ids)
        resp = client.post(path, json=body, headers=headers)
        assert resp.status_code in (201, 409, 422), (value, resp.status_code, resp.get_json())
        assert resp.status_code != 409, (value, resp.get_json())
        with db_of(app).session() as s:
            posted.append(spec.stored(s) - before if resp.status_code == 201 else None)

    disagreements = [
        f"{v!r}: import {'refused' if a is None else sorted(a)}, "
        f"API {'refused' if b is None else sorted(b)}"
        for v, a, b in zip(table, imported, posted, strict=True)
        if a != b
    ]
    assert disagreements == []
    accepted = [v for v, a in zip(table, imported, strict=True) if a is not None]
    refused = [v for v, a in zip(table, imported, strict=True) if a is None]
    # Each table holds both, so the comparison above compared something on both sides.
    assert accepted and refused
    assert all(len(a) == 1 for a in imported if a is not None)
