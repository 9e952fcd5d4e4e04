"""Ceph clusters and clients: inventory, the secrets scope, keys encrypted at rest and never
in the change log, exports or documents served to tokens without the scope."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from tests.api.helpers import H, db_of
from tests.support.ceph import cephx_key, with_secret_key
from virtapi.models import CephClient, Change, Node
from virtapi.services import tokens

FSID = "6b1e3c0e-3f1e-4a53-9a0c-2f6a4a3c9d11"


@pytest.fixture
def secrets_token(app: Any) -> str:
    with db_of(app).session() as s:
        _, plaintext = tokens.create_token(s, "operator", name="ceph", secrets_scope=True)
        s.commit()
    return plaintext


@pytest.fixture
def keyed(app: Any, tmp_path: Path) -> Path:
    return with_secret_key(app, tmp_path)


def _cluster(client: Any, token: str, **extra: Any) -> dict[str, Any]:
    body = {"name": "main", "fsid": FSID, "public_network": "10.20.0.0/24", **extra}
    resp = client.post("/api/v1/ceph-clusters", json=body, headers=H(token))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _client(client: Any, token: str, **extra: Any) -> Any:
    body = {"ceph_cluster": "main", "name": "libvirt", "is_default": True, **extra}
    return client.post("/api/v1/ceph-clients", json=body, headers=H(token))


def _use_cluster(client: Any, token: str, fqdn: str, **body: Any) -> None:
    node = client.get(f"/api/v1/nodes?fqdn={fqdn}", headers=H(token)).get_json()["results"][0]
    resp = client.patch(f"/api/v1/nodes/{node['id']}", json=body, headers=H(token))
    assert resp.status_code == 200, resp.get_json()


def test_cluster_and_client_crud(client: Any, api_tokens: Any, keyed: Path) -> None:
    op = api_tokens.operator
    cluster = _cluster(client, op, cluster_network="10.30.0.0/24")
    assert cluster["fsid"] == FSID and cluster["cluster_network"] == "10.30.0.0/24"
    resp = _client(client, op, caps="mon 'profile rbd'")
    assert resp.status_code == 201, resp.get_json()
    made = resp.get_json()
    assert made["name"] == "client.libvirt" and made["is_default"] and not made["has_key"]
    assert made["ceph_cluster"] == "main" and len(made["secret_uuid"]) == 36
    # A second default takes over: one default per cluster.
    second = _client(client, op, name="client.backup").get_json()
    listed = client.get("/api/v1/ceph-clients", headers=H(op)).get_json()["results"]
    assert [c["is_default"] for c in listed] == [False, True] and listed[1]["id"] == second["id"]
    # Same name twice in a cluster: 409 naming the field.
    dup = _client(client, op)
    assert dup.status_code == 409 and "name" in dup.get_json()["errors"]
    # A cluster with clients goes with them; a cluster a node names is refused.
    assert client.delete(f"/api/v1/ceph-clients/{made['id']}", headers=H(op)).status_code == 204
    assert client.delete(f"/api/v1/ceph-clusters/{cluster['id']}", headers=H(op)).status_code == 204


@pytest.mark.parametrize(
    "body, field",
    [
        ({"fsid": "not-a-uuid"}, "fsid"),
        ({"public_network": "10.20.0.1/24"}, "public_network"),
        ({"name": "bad name"}, "name"),
    ],
)
def test_bad_cluster_input_is_422(client: Any, api_tokens: Any, body: dict, field: str) -> None:
    full = {"name": "main", **body}
    resp = client.post("/api/v1/ceph-clusters", json=full, headers=H(api_tokens.operator))
    assert resp.status_code == 422 and field in json.dumps(resp.get_json()["errors"])


@pytest.mark.parametrize(
    "key",
    [
        "not base64 at all",
        "AQ" + "A" * 38,  # 40 characters, but no '==' end
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",  # base64 of the right size, not a cephx key
    ],
)
def test_malformed_key_is_422(
    client: Any, api_tokens: Any, secrets_token: str, keyed: Path, key: str
) -> None:
    _cluster(client, api_tokens.operator)
    resp = _client(client, secrets_token, key=key)
    assert resp.status_code == 422
    assert "cephx key" in json.dumps(resp.get_json()["errors"]["key"])


def test_key_needs_the_secrets_scope_and_a_key_file(
    app: Any, client: Any, api_tokens: Any, secrets_token: str, tmp_path: Path
) -> None:
    _cluster(client, api_tokens.operator)
    resp = _client(client, api_tokens.admin, key=cephx_key())
    assert resp.status_code == 403 and "secrets scope" in resp.get_json()["message"]
    # No key file configured: refused, never stored in clear.
    resp = _client(client, secrets_token, key=cephx_key())
    assert resp.status_code == 409 and "VIRTAPI_SECRET_KEY_FILE" in resp.get_json()["message"]
    with db_of(app).session() as s:
        assert s.scalar(select(CephClient.id)) is None


def test_customers_see_no_ceph(client: Any, api_tokens: Any, keyed: Path) -> None:
    cluster = _cluster(client, api_tokens.operator)
    made = _client(client, api_tokens.operator).get_json()
    for path in (f"/api/v1/ceph-clusters/{cluster['id']}", f"/api/v1/ceph-clients/{made['id']}"):
        assert client.get(path, headers=H(api_tokens.customer_a)).status_code in (403, 404)
        patched = client.patch(path, json={}, headers=H(api_tokens.customer_a))
        assert patched.status_code in (403, 404)
    # A reader may not list keys' owners either: Ceph inventory is for operators.
    assert client.get("/api/v1/ceph-clients", headers=H(api_tokens.reader)).status_code == 403


def test_key_encrypted_at_rest_and_never_logged_or_exported(
    app: Any, client: Any, api_tokens: Any, secrets_token: str, keyed: Path, demo: Any
) -> None:
    key, rotated = cephx_key(), cephx_key(1_800_000_000)
    _cluster(client, api_tokens.operator)
    made = _client(client, secrets_token, key=key).get_json()
    assert made["has_key"] is True and "key" not in made
    resp = client.patch(
        f"/api/v1/ceph-clients/{made['id']}", json={"key": rotated}, headers=H(secrets_token)
    )
    assert resp.status_code == 200
    with db_of(app).session() as s:
        raw = s.execute(text("SELECT key_encrypted FROM ceph_client")).scalar_one()
        changes = s.scalars(select(Change).where(Change.object_type == "ceph_client")).all()
        logged = json.dumps([[c.before, c.after] for c in changes])
    assert raw.startswith("v1:") and key not in raw and rotated not in raw
    assert key not in logged and rotated not in logged and raw not in logged
    # The log still says that the key was set and then changed.
    assert changes[0].after["key_encrypted"] == "<secret>"
    assert changes[-1].before == {"key_encrypted": "<secret>"}
    assert changes[-1].after == {"key_encrypted": "<new secret>"}
    listed = client.get("/api/v1/changes?object_type=ceph-clients", headers=H(api_tokens.admin))
    assert rotated not in listed.get_data(as_text=True)
    export = client.get("/api/v1/export", headers=H(api_tokens.admin))
    assert export.status_code == 200
    text_ = export.get_data(as_text=True)
    assert key not in text_ and rotated not in text_ and "v1:" not in text_


def _documents(client: Any, token: str, fqdn: str) -> dict[str, Any]:
    out = {}
    for path in (f"/enc/{fqdn}", f"/hiera/{fqdn}", f"/pillar/{fqdn}",
                 f"/hiera/{fqdn}/virtapi::hypervisor::ceph_client"):  # fmt: skip
        resp = client.get(path, headers=H(token))
        assert resp.status_code == 200, (path, resp.get_data(as_text=True))
        out[path] = resp
    return out


def test_secrets_scope_on_enc_hiera_pillar(
    client: Any, api_tokens: Any, secrets_token: str, keyed: Path, demo: Any
) -> None:
    key = cephx_key()
    _cluster(client, api_tokens.operator)
    made = _client(client, secrets_token, key=key).get_json()
    _use_cluster(client, api_tokens.operator, "hv01.dc1.example.com", ceph_cluster="main")
    fqdn = "hv01.dc1.example.com"
    # The reader first: fills the per-certname cache with the document it may see.
    plain = _documents(client, api_tokens.reader, fqdn)
    secret = _documents(client, secrets_token, fqdn)
    again = _documents(client, api_tokens.reader, fqdn)
    for path in plain:
        assert key not in plain[path].get_data(as_text=True)
        assert key not in again[path].get_data(as_text=True), "cache served a key"
        # One document hash for both: hosts with and without the scope report alike.
        assert (
            plain[path].headers["X-Virtapi-Document"] == secret[path].headers["X-Virtapi-Document"]
        )
    pillar = secret[f"/pillar/{fqdn}"].get_json()["virtapi"]["hypervisor"]
    assert pillar["ceph_client"] == {
        "name": "client.libvirt", "secret_uuid": made["secret_uuid"],
        "key_secret_present": True, "key": key,
    }  # fmt: skip
    assert plain[f"/pillar/{fqdn}"].get_json()["virtapi"]["hypervisor"]["ceph_client"][
        "key_secret_present"
    ]
    hiera = secret[f"/hiera/{fqdn}"].get_json()
    assert hiera["virtapi::hypervisor::ceph_client"]["key"] == key
    assert hiera["virtapi::hypervisor::ceph_cluster"]["fsid"] == FSID
    one = secret[f"/hiera/{fqdn}/virtapi::hypervisor::ceph_client"].get_json()
    assert one["virtapi::hypervisor::ceph_client"]["key"] == key
    # ENC: cluster and client (and its key) only through Hiera (enc/render.HIERA_ONLY), so an
    # operator's own Hiera level before virtapi's still wins for the cluster.
    enc = secret[f"/enc/{fqdn}"].get_data(as_text=True)
    assert key not in enc and "ceph_client" not in enc and FSID not in enc


def test_client_choice_and_affected_certnames(
    app: Any, client: Any, api_tokens: Any, keyed: Path, demo: Any
) -> None:
    op = api_tokens.operator
    cluster = _cluster(client, op)
    default = _client(client, op).get_json()
    other = _client(client, op, name="client.other", is_default=False).get_json()
    _use_cluster(client, op, "hv01.dc1.example.com", ceph_cluster="main")
    _use_cluster(client, op, "hv02.dc1.example.com", ceph_cluster="main", ceph_client="other")
    with db_of(app).session() as s:
        hv02 = s.scalar(select(Node).where(Node.fqdn == "hv02.dc1.example.com"))
        assert hv02 is not None and hv02.ceph_client_id == other["id"]
    # A client of another cluster is refused, naming the field.
    client.post("/api/v1/ceph-clusters", json={"name": "far"}, headers=H(op))
    far = _client(client, op, ceph_cluster="far", name="client.far").get_json()
    node = client.get("/api/v1/nodes?fqdn=hv01.dc1.example.com", headers=H(op)).get_json()
    resp = client.patch(
        f"/api/v1/nodes/{node['results'][0]['id']}",
        json={"ceph_client": far["id"]},
        headers=H(op),
    )
    assert resp.status_code == 422 and "ceph_client" in resp.get_json()["errors"]
    # Changing the cluster affects exactly the nodes using it.
    resp = client.patch(
        f"/api/v1/ceph-clusters/{cluster['id']}",
        json={"cluster_network": "10.30.0.0/24"},
        headers=H(op),
    )
    assert resp.status_code == 200
    change = client.get(
        "/api/v1/changes?object_type=ceph-clusters", headers=H(api_tokens.admin)
    ).get_json()["results"][-1]
    assert set(change["affected"]) == {"hv01.dc1.example.com", "hv02.dc1.example.com"}
    # The default client shows in hv01's document only; a change to it names the cluster's
    # nodes (a stated superset).
    resp = client.patch(
        f"/api/v1/ceph-clients/{default['id']}", json={"caps": "osd 'profile rbd'"},
        headers=H(op),
    )  # fmt: skip
    change = client.get(
        "/api/v1/changes?object_type=ceph-clients", headers=H(api_tokens.admin)
    ).get_json()["results"][-1]
    assert "hv01.dc1.example.com" in change["affected"]
    doc = client.get("/pillar/hv02.dc1.example.com", headers=H(api_tokens.reader)).get_json()
    assert doc["virtapi"]["hypervisor"]["ceph_client"]["name"] == "client.other"


def test_monitors_and_pools_name_their_cluster(
    client: Any, api_tokens: Any, keyed: Path, demo: Any
) -> None:
    op = api_tokens.operator
    cluster = _cluster(client, op)
    pool = client.post(
        "/api/v1/ceph-pools", json={"name": "ssd", "ceph_cluster": "main"}, headers=H(op)
    )
    assert pool.status_code == 201 and pool.get_json()["ceph_cluster_id"] == cluster["id"]
    bad = client.patch(
        f"/api/v1/ceph-pools/{pool.get_json()['id']}", json={"ceph_cluster": "nope"},
        headers=H(op),
    )  # fmt: skip
    assert bad.status_code == 422 and "ceph_cluster" in bad.get_json()["errors"]
    mons = client.get("/api/v1/ceph-mon-nodes", headers=H(op)).get_json()["results"]
    for mon in mons:
        resp = client.patch(
            f"/api/v1/ceph-mon-nodes/{mon['id']}", json={"ceph_cluster": "main"}, headers=H(op)
        )
        assert resp.status_code == 200 and resp.get_json()["ceph_cluster_id"] == cluster["id"]
    # A monitor's document takes its monitor's cluster; mon_host lists that cluster's monitors.
    doc = client.get(f"/pillar/{mons[0]['fqdn']}", headers=H(api_tokens.reader)).get_json()
    ceph = doc["virtapi"]["ceph"]
    assert ceph["cluster"]["fsid"] == FSID and ceph["cluster"]["mon_host"] == ceph["mon_host"]
    assert "client" not in ceph  # the cluster has no client yet
    # A cluster still named by monitors and pools is not deleted: 409 naming them.
    resp = client.delete(f"/api/v1/ceph-clusters/{cluster['id']}", headers=H(op))
    assert resp.status_code == 409 and "ceph_mon_node" in resp.get_json()["message"]


def test_a_lost_key_file_serves_the_document_without_the_key(
    app: Any, client: Any, api_tokens: Any, secrets_token: str, tmp_path: Path, demo: Any
) -> None:
    """A host must never read a key problem as "unknown node" (404) or get a 500."""
    from virtapi.config import override

    with_secret_key(app, tmp_path / "first")
    _cluster(client, api_tokens.operator)
    assert _client(client, secrets_token, key=cephx_key()).status_code == 201
    _use_cluster(client, api_tokens.operator, "hv01.dc1.example.com", ceph_cluster="main")
    for key_file in (str(with_secret_key(app, tmp_path / "other")), None):
        override(app, secret_key_file=key_file)
        resp = client.get("/pillar/hv01.dc1.example.com", headers=H(secrets_token))
        assert resp.status_code == 200
        ceph_client = resp.get_json()["virtapi"]["hypervisor"]["ceph_client"]
        assert ceph_client["key_secret_present"] is True and "key" not in ceph_client
