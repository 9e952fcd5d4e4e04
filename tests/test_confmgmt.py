"""GET /enc, /hiera, /pillar: shapes, ETag/304, 404, auth."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from flask import g
from sqlalchemy import update

from tests.conftest import Tokens
from virtapi.models import Node, Vm

HV = "hv01.dc1.example.com"
CEPH = "ceph01.dc1.example.com"
VM = "web1.c1001.example.net"
ENDPOINTS = [f"/enc/{HV}", f"/hiera/{HV}", f"/hiera/{HV}/virtapi::roles", f"/pillar/{HV}"]


@pytest.fixture
def reader(api_tokens: Tokens, demo: Any) -> dict[str, str]:
    return Tokens.header(api_tokens.reader)


def test_a_cached_hit_makes_no_orm_session_and_sets_no_cookie(
    app: Any, client: Any, reader: dict[str, str]
) -> None:
    """A hit is answered from its one statement: no ORM Session made only to label it with the
    caller, no cookie session saved; a miss builds in the request's ordinary session."""
    made: list[bool] = []
    app.teardown_request(lambda _exc: made.append("db_session" in g))  # before any request
    first = client.get(f"/enc/{HV}", headers=reader)
    assert first.status_code == 200 and made == [True]
    for headers, status in (
        (reader, 200),
        ({**reader, "If-None-Match": first.headers["ETag"]}, 304),
    ):
        resp = client.get(f"/enc/{HV}", headers=headers)
        assert resp.status_code == status
        assert "Set-Cookie" not in resp.headers and "Cookie" not in resp.vary
    assert made == [True, False, False]


def test_enc_hypervisor(client: Any, reader: dict[str, str]) -> None:
    resp = client.get(f"/enc/{HV}", headers=reader)
    assert resp.status_code == 200
    assert resp.mimetype == "application/yaml"
    enc = yaml.safe_load(resp.data)
    assert enc["environment"] == "production"
    assert list(enc["classes"]) == ["virtapi::node_network", "virtapi::hypervisor"]
    (eno1,) = enc["classes"]["virtapi::node_network"]["interfaces"]["management"]
    assert (eno1["name"], eno1["ipv4"][0]["gateway"]) == ("eno1", "10.20.0.1")
    params = enc["classes"]["virtapi::hypervisor"]
    assert {vm["hostname"] for vm in params["vms"]} == {VM, "db1.c1001.example.net"}
    assert params["vxlans"][0]["remotes_ipv4"] == ["10.20.0.12"]
    assert enc["parameters"]["virtapi_roles"] == ["hypervisor"]
    assert enc["parameters"]["virtapi_location"] == "dc1 rack 1"
    assert enc["parameters"]["virtapi_state"] == "running"


def test_enc_ceph_and_vm(client: Any, reader: dict[str, str]) -> None:
    ceph = yaml.safe_load(client.get(f"/enc/{CEPH}", headers=reader).data)
    assert list(ceph["classes"]) == [
        "virtapi::node_network",
        "virtapi::ceph",
        "virtapi::ceph::mon",
        "virtapi::ceph::osd",
    ]
    assert ceph["classes"]["virtapi::ceph"]["mon_host"].count(":6789") == 3
    assert ceph["classes"]["virtapi::ceph::mon"] == {"port": 6789}
    guest = yaml.safe_load(client.get(f"/enc/{VM}", headers=reader).data)
    assert list(guest["classes"]) == ["virtapi::guest"]
    assert guest["classes"]["virtapi::guest"]["interfaces"][0]["ipv4"][0]["address"] == (
        "198.51.100.10"
    )
    assert guest["parameters"]["virtapi_customer_id"] == 1001


def test_hiera_hash_and_key(client: Any, reader: dict[str, str]) -> None:
    data = client.get(f"/hiera/{HV}", headers=reader).get_json()
    assert data["virtapi::roles"] == ["hypervisor"]
    assert len(data["virtapi::hypervisor::vms"]) == 2
    assert data["virtapi::hypervisor::vg_name"] == "vg0"
    one = client.get(f"/hiera/{HV}/virtapi::hypervisor::vg_name", headers=reader)
    assert one.status_code == 200 and one.get_json() == {"virtapi::hypervisor::vg_name": "vg0"}
    missing = client.get(f"/hiera/{HV}/virtapi::ceph::mon_host", headers=reader)
    assert missing.status_code == 404
    assert missing.get_json()["code"] == "unknown_key"


def test_pillar(client: Any, reader: dict[str, str]) -> None:
    pillar = client.get(f"/pillar/{HV}", headers=reader).get_json()
    assert list(pillar) == ["virtapi"]
    assert pillar["virtapi"]["certname"] == HV
    assert len(pillar["virtapi"]["hypervisor"]["vms"]) == 2


def test_hiera_escapes_interpolation_but_enc_and_pillar_do_not(
    app: Any, client: Any, reader: dict[str, str]
) -> None:
    db = app.extensions["virtapi.db"]
    with db.session() as s:
        s.execute(update(Node).where(Node.fqdn == HV).values(location="rack %{facts.x} 1"))
    hiera = client.get(f"/hiera/{HV}", headers=reader).get_json()
    assert hiera["virtapi::node"]["location"] == "rack %{literal('%')}{facts.x} 1"
    assert "%{facts" not in client.get(f"/hiera/{HV}", headers=reader).get_data(as_text=True)
    enc = yaml.safe_load(client.get(f"/enc/{HV}", headers=reader).data)
    assert enc["parameters"]["virtapi_location"] == "rack %{facts.x} 1"
    pillar = client.get(f"/pillar/{HV}", headers=reader).get_json()
    assert pillar["virtapi"]["node"]["location"] == "rack %{facts.x} 1"


@pytest.mark.parametrize("path", ENDPOINTS)
def test_etag_and_304(client: Any, reader: dict[str, str], path: str) -> None:
    first = client.get(path, headers=reader)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag and client.get(path, headers=reader).headers["ETag"] == etag
    again = client.get(path, headers={**reader, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    stale = client.get(path, headers={**reader, "If-None-Match": '"not-the-etag"'})
    assert stale.status_code == 200


def test_etag_changes_with_the_data(app: Any, client: Any, reader: dict[str, str]) -> None:
    path = f"/pillar/{HV}"
    etag = client.get(path, headers=reader).headers["ETag"]
    other_etag = client.get("/pillar/hv03.dc1.example.com", headers=reader).headers["ETag"]
    db = app.extensions["virtapi.db"]
    with db.session() as s:
        s.execute(update(Vm).where(Vm.hostname == VM).values(cores=3))
    changed = client.get(path, headers={**reader, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    # Another hypervisor's document is untouched, so its ETag is too.
    other = client.get("/pillar/hv03.dc1.example.com", headers=reader)
    assert other.headers["ETag"] == other_etag


@pytest.mark.parametrize(
    "path",
    [
        "/enc/nope.example.com",
        "/hiera/nope.example.com",
        "/hiera/nope.example.com/virtapi::roles",
        "/pillar/nope",
    ],
)
def test_unknown_certname_is_404_json(client: Any, reader: dict[str, str], path: str) -> None:
    resp = client.get(path, headers=reader)
    assert resp.status_code == 404
    body = resp.get_json()
    assert body["status"] == 404 and body["code"] == "unknown_certname"
    assert "nope" in body["message"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_auth(client: Any, api_tokens: Tokens, demo: Any, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers=Tokens.header("va_wrong")).status_code == 401
    # A customer may see their own VMs through the API, but never a node document:
    # it holds every other customer's VMs on that hypervisor.
    assert client.get(path, headers=Tokens.header(api_tokens.customer_a)).status_code == 403
    for role in ("reader", "operator", "admin"):
        token = getattr(api_tokens, role)
        assert client.get(path, headers=Tokens.header(token)).status_code == 200, role


def test_vm_certname_forbidden_to_its_own_customer(
    client: Any, api_tokens: Tokens, demo: Any
) -> None:
    # Config management runs with reader tokens; customers have the REST API instead.
    resp = client.get(f"/pillar/{VM}", headers=Tokens.header(api_tokens.customer_a))
    assert resp.status_code == 403
