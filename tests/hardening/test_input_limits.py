"""Hostile input across the real endpoints: each case answers a clear 4xx and writes nothing.

Absurd numbers, floats and strings where integers belong, invalid MACs, addresses and prefixes
in many spellings, path traversal, NUL and control characters, non-UTF-8, deep nesting and
oversized bodies, over vms, nodes, networks, addresses, interfaces, images and installs.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.api.helpers import H, db_of, vm_id
from tests.support.installs import ed25519_key
from virtapi.models import Change

GiB = 1024**3
VM = {"hostname": "new1.c1001.example.net", "customer_id": 1001, "cores": 1, "ram": GiB}
DISK = {"size": GiB, "storage_type": "ceph", "cache_option": "none", "ceph_pool": "rbd"}
IMAGE = {"name": "deb", "os": "debian", "version": "12", "url": "http://img.example/d.tgz",
         "partitioning": "PART / ext4 all"}  # fmt: skip
INSTALL = {"image": "debian-12", "ssh_keys": [ed25519_key("limits")]}

HOSTILE_STRINGS = ["../etc/passwd", "%2e%2e%2fx", "a\x00b", "a\nb", "a\rb", "a\x1bb", "a\u202eb"]
BAD_MACS = ["52:54:00:zz:00:01", "52-54-00-00-00-0", "5254.0000.0001.01", "", "1",
            "ff:ff:ff:ff:ff:ff:ff", "0x525400000001", "52:54:00:00:00:01:", "52:54-00:00-00:01",
            "52:54:00:00:00:1g", "52 54 00 00 00 01", "52:54:00:00:00:01\x00"]  # fmt: skip
BAD_V4 = ["10.20.0.300", "010.20.0.5", "10.20.0", "::ffff:10.20.0.5", "10.20.0.5/24",
          "0x0a140005", "167903237", "10.20.0.5\x00", "", "10.20.0.5.1", "１０.20.0.5"]  # fmt: skip
BAD_V6 = ["2001:db8:100::zz", "2001:db8:100::1%eth0", "2001:db8:100:::1", "2001:db8:100::5/64",
          "2001:db8:100::1::2", "12345::1", ""]  # fmt: skip
BAD_PREFIX4 = ["10.0.0.0/33", "10.0.0.1/24", "300.0.0.0/24", "10.0.0.0", "10.0.0.0/-1",
               "10.0.0.0/24\x00", "010.000.000.000/24", "0x0a000000/8", "10.0.0.0/8/8",
               "10.0.0.0/ 8", "10.0.0.0/08x", "::/0"]  # fmt: skip
BAD_PREFIX6 = ["2001:db8::/129", "2001:db8::1/64", "10.0.0.0/8", "2001:db8::", "2001:db8::/-1"]
ABSURD_INTS = [10**12, 10**30, -1, 0, 1.5, 1e3, "2", True, None, [], {}]
# Byte counts: 10^12 is a fine disk, but not 2^70 bytes, a negative size or a float.
ABSURD_SIZES = [2**70, 10**30, -1, 0, -(2**63), 1.5, 1e12, "1G", True, None]


def _cases() -> list[tuple[str, str, str, Any]]:
    cases: list[tuple[str, str, str, Any]] = []

    def add(label: str, method: str, path: str, body: Any) -> None:
        cases.append((label, method, path, body))

    for v in ABSURD_INTS:
        add(f"vm cores={v!r}", "POST", "/api/v1/vms", {**VM, "cores": v})
        add(f"vm patch cores={v!r}", "PATCH", "/api/v1/vms/{vm}", {"cores": v})
        add(f"vlan vni={v!r}", "POST", "/api/v1/vlans", {"name": "v", "vni": v})
        add(f"interface vm_id={v!r}", "POST", "/api/v1/vm-interfaces", {"vm_id": v})
    for v in ABSURD_SIZES:
        add(f"vm ram={v!r}", "POST", "/api/v1/vms", {**VM, "ram": v})
        add(f"vm disk size={v!r}", "POST", "/api/v1/vms", {**VM, "disks": [{**DISK, "size": v}]})
        add(f"storage size={v!r}", "POST", "/api/v1/storage", {"vm_id": 1, **DISK, "size": v})
    for s in ["-lead.example.net", "UPPER..example.net", "a_b.example.net", "1.2.3.4"]:
        add(f"vm hostname={s!r}", "POST", "/api/v1/vms", {**VM, "hostname": s})
        add(f"node fqdn={s!r}", "POST", "/api/v1/nodes", {"fqdn": s})
    for s in [*HOSTILE_STRINGS, "x" * 300, "a b", "-x", ".x", "x{y}", "x%{y}", "x:y", "x'y"]:
        add(f"vm hostname={s!r}", "POST", "/api/v1/vms", {**VM, "hostname": s})
        add(f"node fqdn={s!r}", "POST", "/api/v1/nodes", {"fqdn": s})
        add(f"vlan name={s!r}", "POST", "/api/v1/vlans", {"name": s})
        add(f"image name={s!r}", "POST", "/api/v1/images", {**IMAGE, "name": s})
        add(f"install hostname={s!r}", "POST", "/api/v1/vms/{vm}/install",
            {**INSTALL, "hostname": s})  # fmt: skip
    for s in ["a\x00b", "a\nb", "x\n  - evil: 1", "a\x1bb", "a\u2028b", "a\u202eb"]:
        add(f"node location={s!r}", "POST", "/api/v1/nodes", {"fqdn": "n1.example.com",
                                                               "location": s})  # fmt: skip
        add(f"node area={s!r}", "POST", "/api/v1/nodes", {"fqdn": "n1.example.com", "area": s})
    for s in ["http://x/\nkernel evil", "javascript:alert(1)", "file:///etc/passwd"]:
        add(f"image url={s!r}", "POST", "/api/v1/images", {**IMAGE, "url": s})
    for s in ["PART / ext4 all\x00", "#!ipxe\nchain http://evil/"]:
        add(f"image partitioning={s!r}", "POST", "/api/v1/images", {**IMAGE, "partitioning": s})
        add(f"install partitioning={s!r}", "POST", "/api/v1/vms/{vm}/install",
            {**INSTALL, "partitioning": s})  # fmt: skip
    for key in ["ssh-ed25519 AAAA\nssh-rsa AAAA", "ssh-ed25519 AAAA x\x00", "ssh-ed25519", "x"]:
        add(f"install ssh key={key!r}", "POST", "/api/v1/vms/{vm}/install",
            {**INSTALL, "ssh_keys": [key]})  # fmt: skip
    for mac in [*BAD_MACS, "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01"]:
        add(f"interface mac={mac!r}", "POST", "/api/v1/vm-interfaces", {"vm_id": 1, "mac": mac})
    for mac in BAD_MACS:
        add(f"vm interface mac={mac!r}", "POST", "/api/v1/vms",
            {**VM, "interfaces": [{"mac": mac}]})  # fmt: skip
    for a in BAD_V4:
        add(f"ipv4 address={a!r}", "POST", "/api/v1/ipv4-addresses",
            {"address": a, "network_id": 1})  # fmt: skip
    for a in BAD_V6:
        add(f"ipv6 address={a!r}", "POST", "/api/v1/ipv6-addresses",
            {"address": a, "network_id": 2})  # fmt: skip
    for p in BAD_PREFIX4:
        add(f"ipv4 prefix={p!r}", "POST", "/api/v1/ipv4-networks", {"prefix": p})
    for p in BAD_PREFIX6:
        add(f"ipv6 prefix={p!r}", "POST", "/api/v1/ipv6-networks", {"prefix": p})
    for gw in ["10.99.0.300", "2001:db8::1", "10.98.0.1"]:
        add(f"ipv4 gateway={gw!r}", "POST", "/api/v1/ipv4-networks",
            {"prefix": "10.99.0.0/24", "gateway": gw})  # fmt: skip
    add("unknown field", "POST", "/api/v1/vms", {**VM, "is_admin": True})
    add("body is a list", "POST", "/api/v1/vms", [VM])
    add("body is a string", "POST", "/api/v1/nodes", "n1.example.com")
    return cases


CASES = _cases()


def _path(app: Any, template: str) -> str:
    return template.replace("{vm}", str(vm_id(app, "web1")))


def _changes(app: Any) -> int:
    with db_of(app).session() as s:
        return int(s.scalar(select(func.count()).select_from(Change)) or 0)


@pytest.mark.parametrize("who", ["admin", "customer_a"])
def test_hostile_bodies_get_a_clear_4xx_and_write_nothing(
    app: Any, client: Any, api_tokens: Any, demo: Any, who: str
) -> None:
    headers = H(getattr(api_tokens, who))
    before = _changes(app)
    wrong = []
    for label, method, template, body in CASES:
        resp = client.open(_path(app, template), method=method, json=body, headers=headers)
        data = resp.get_json(silent=True) or {}
        if not (400 <= resp.status_code < 500 and data.get("message")):
            wrong.append(f"{label}: {resp.status_code} {resp.get_data(as_text=True)[:200]}")
    assert wrong == [], "\n".join(wrong)
    assert _changes(app) == before, "a refused request wrote something"


BAD_PATHS = [
    "/api/v1/vms/99999999999999999999999",
    "/api/v1/vms/9223372036854775808",
    "/api/v1/vms/-1",
    "/api/v1/vms/..%2f..%2fetc%2fpasswd",
    "/api/v1/vms/%2e%2e",
    "/api/v1/vms/%00",
    "/api/v1/vms/1%0a",
    "/api/v1/nodes/99999999999999999999999",
    "/api/v1/nodes/..%2fx",
    "/api/v1/vm-interfaces/1e9",
    "/api/v1/ipv4-networks/99999999999999999999999",
    "/api/v1/ipv4-addresses/%ff",
    "/api/v1/images/..",
    "/api/v1/vms/99999999999999999999999/install",
    "/api/v1/storage/1.5",
    "/api/v1/vms?limit=10000000000000000000",
    "/api/v1/vms?offset=-1",
    "/api/v1/vms?customer_id=abc",
    "/api/v1/vms?hostname=%00",
    "/api/v1/nodes?fqdn=%00",
]


@pytest.mark.parametrize("who", ["admin", "customer_a"])
def test_hostile_paths_and_queries_get_4xx(
    client: Any, api_tokens: Any, demo: Any, who: str
) -> None:
    headers = H(getattr(api_tokens, who))
    wrong = []
    for path in BAD_PATHS:
        for method in ("GET", "PATCH", "DELETE"):
            if "?" in path and method != "GET":
                continue
            resp = client.open(path, method=method, json={} if method == "PATCH" else None,
                               headers=headers)  # fmt: skip
            data = resp.get_json(silent=True) or {}
            if not (400 <= resp.status_code < 500 and data.get("message")):
                wrong.append(f"{method} {path}: {resp.status_code} {resp.get_data()[:200]!r}")
    assert wrong == [], "\n".join(wrong)


RAW_BODIES = [
    ("not UTF-8", b'{"hostname": "\xff\xfe"}', 400),
    ("UTF-16", json.dumps(VM).encode("utf-16"), 400),
    ("deep list", b"[" * 100_000 + b"]" * 100_000, 400),
    ("deep object", b'{"a":' * 5000 + b"1" + b"}" * 5000, 400),
    ("truncated", b'{"hostname": "x', 400),
    ("NaN", b'{"cores": NaN}', None),
    ("huge number", b'{"cores": 1e400}', None),
    ("huge integer literal", b'{"cores": ' + b"9" * 5000 + b"}", None),
    ("duplicate keys", b'{"cores": 1, "cores": 99999999999999}', None),
    ("oversized", b'{"hostname": "' + b"a" * (11 * 1024 * 1024) + b'"}', 413),
]


@pytest.mark.parametrize(("label", "raw", "status"), RAW_BODIES, ids=[c[0] for c in RAW_BODIES])
@pytest.mark.parametrize("path", ["/api/v1/vms", "/api/v1/nodes", "/api/v1/ipv4-networks"])
def test_raw_bodies(
    app: Any, client: Any, api_tokens: Any, label: str, raw: bytes, status: int | None, path: str
) -> None:
    before = _changes(app)
    resp = client.post(path, data=raw, headers=H(api_tokens.admin),
                       content_type="application/json")  # fmt: skip
    assert 400 <= resp.status_code < 500, resp.get_data()[:300]
    if status is not None:
        assert resp.status_code == status
    assert resp.get_json()["message"]
    assert _changes(app) == before


IMPORT_NODE = {"fqdn": "n1.example.com", "location": "dc9 rack 1"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fqdn", "../../etc/x"),
        ("fqdn", "n1.example.com\n- evil"),
        ("fqdn", "1.2.3.4"),
        ("location", "x\nclasses: {evil: {}}"),
        ("location", "a\x1bb"),
        ("area", "a\u202eb"),
    ],
)
def test_bulk_import_refuses_hostile_values(
    app: Any, client: Any, api_tokens: Any, field: str, value: str
) -> None:
    before = _changes(app)
    doc = {"version": 1, "nodes": [{**IMPORT_NODE, field: value}]}
    resp = client.post("/api/v1/import", json=doc, headers=H(api_tokens.admin))
    assert resp.status_code == 422, resp.get_json()
    assert any(field in key for key in resp.get_json()["errors"]), resp.get_json()
    assert _changes(app) == before
    # The same document with a sane value imports.
    resp = client.post("/api/v1/import", json={"version": 1, "nodes": [IMPORT_NODE]},
                       headers=H(api_tokens.admin))  # fmt: skip
    assert resp.status_code == 201, resp.get_json()


BEYOND_64_BITS = ["9223372036854775808", "2142165840230252164415488", "0"]


@pytest.mark.parametrize("ref", BEYOND_64_BITS)
def test_ids_beyond_64_bits_in_paths_are_404_not_500(
    app: Any, client: Any, api_tokens: Any, demo: Any, ref: str
) -> None:
    """Found by schemathesis: the drivers cannot bind such ids (OverflowError on SQLite)."""
    reader, op = H(api_tokens.reader), H(api_tokens.operator)
    iface = {"interface_id": 1}
    for method, url, headers, body in (
        ("get", f"/api/v1/ipv4-networks/{ref}/available", reader, None),
        ("get", f"/api/v1/ipv6-networks/{ref}/available", reader, None),
        ("post", f"/api/v1/ipv4-networks/{ref}/allocate", op, iface),
        ("post", f"/api/v1/ipv6-networks/{ref}/allocate", op, iface),
        ("post", f"/api/v1/nodes/{ref}/report", reader, {"state": "running", "facts": {}}),
        ("get", f"/api/v1/vms/{ref}", reader, None),
        ("patch", f"/api/v1/vlans/{ref}", op, {"name": "x"}),
    ):
        resp = getattr(client, method)(url, headers=headers, json=body)
        assert resp.status_code == 404, (url, resp.status_code)
        assert resp.json["code"] == "not_found" and resp.json["message"], url
