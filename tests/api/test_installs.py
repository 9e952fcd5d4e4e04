"""Images and installs through the API, and the whole install cycle over HTTP."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from tests.support.installs import APP1_UUID, WEB1_HOST, WEB1_MAC, WEB1_UUID, ed25519_key
from tests.support.queries import statements_sent
from virtapi.config import override
from virtapi.models import Change, Install, Node, Vm

PUBLIC = "http://virtapi.example.com"


def H(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


IMAGE = {
    "name": "rocky-9",
    "os": "rocky",
    "version": "9.4",
    "url": "https://images.example.com/Rocky-94-amd64-base.tar.gz",
    "checksum": "sha256:" + "ab" * 32,
    "partitioning": "PART /boot ext3 1G\nPART / xfs all",
}


def test_image_crud_and_roles(client: Any, api_tokens: Any, demo: Any) -> None:
    op = H(api_tokens.operator)
    resp = client.post("/api/v1/images", json=IMAGE, headers=op)
    assert resp.status_code == 201, resp.json
    image = resp.json
    assert {k: image[k] for k in IMAGE} == IMAGE
    location = resp.headers["Location"]

    # Customers and readers may list and read; only operators write.
    for tok in (api_tokens.customer_a, api_tokens.reader):
        listed = client.get("/api/v1/images?os=rocky", headers=H(tok))
        assert listed.status_code == 200 and [i["name"] for i in listed.json["results"]] == [
            "rocky-9"
        ]
        assert client.get(location, headers=H(tok)).json == image
        assert (
            client.post("/api/v1/images", json={**IMAGE, "name": "x"}, headers=H(tok)).status_code
            == 403
        )
        assert client.patch(location, json={"version": "9.5"}, headers=H(tok)).status_code == 403
        assert client.delete(location, headers=H(tok)).status_code == 403
    names = [i["name"] for i in client.get("/api/v1/images", headers=op).json["results"]]
    assert names == ["debian-12", "ubuntu-24.04", "rocky-9"]

    resp = client.patch(location, json={"version": "9.5"}, headers=op)
    assert resp.status_code == 200 and resp.json["version"] == "9.5"
    assert client.delete(location, headers=op).status_code == 204
    assert client.get(location, headers=op).status_code == 404


def test_image_values_that_could_inject_are_refused(
    client: Any, api_tokens: Any, demo: Any
) -> None:
    op = H(api_tokens.operator)
    for field, value in (
        ("name", "rocky 9"),
        ("name", "#!ipxe"),
        ("os", "rocky\nIMAGE x"),
        ("url", "https://images.example.com/x.tar.gz\nPART / ext4 all"),
        ("url", "https://images.example.com/$(reboot).tar.gz"),
        ("url", "https://images.example.com/x.tar.gz;reboot"),
        ("checksum", "sha256:zz"),
        ("partitioning", "PART / ext4 all\nIMAGE http://evil.example.com/x"),
        ("partitioning", "PART / ext4 all && reboot"),
    ):
        resp = client.post("/api/v1/images", json={**IMAGE, field: value}, headers=op)
        assert resp.status_code == 422, (field, value, resp.json)
        assert field in resp.json["errors"], resp.json
    debian = client.get("/api/v1/images?name=debian-12", headers=op).json["results"][0]
    resp = client.patch(f"/api/v1/images/{debian['id']}", json={"url": "http://x/ y"}, headers=op)
    assert resp.status_code == 422
    assert client.get(f"/api/v1/images/{debian['id']}", headers=op).json == debian


def _installer_url(script: str) -> str:
    match = re.search(r" installimage=(\S+) ", script)
    assert match, script
    return match.group(1)


def test_full_cycle_over_http(app: Any, client: Any, api_tokens: Any, demo: Any) -> None:
    override(app, pxe_public_url=PUBLIC, pxe_allowed_networks=["198.51.100.0/24"])
    machine = {"REMOTE_ADDR": "198.51.100.10"}
    customer = H(api_tokens.customer_a)
    key = ed25519_key("customer", "me@home")

    assert client.get(f"/api/v1/vms/{WEB1_UUID}/install", headers=customer).status_code == 404
    resp = client.post(
        f"/api/v1/vms/{WEB1_UUID}/install",
        json={"image": "debian-12", "ssh_keys": [key], "root_password": "s3cret-enough"},
        headers=customer,
    )
    assert resp.status_code == 201, resp.json
    install = resp.json
    assert install["state"] == "pending" and install["hostname"] == WEB1_HOST
    assert install["vm"] == str(WEB1_UUID) and install["image"] == "debian-12"
    assert install["root_password_set"] is True and install["ssh_keys"] == [key]
    assert "root_password" not in install and "secret_hash" not in install
    assert resp.headers["Location"] == f"/api/v1/vms/{WEB1_UUID}/install"
    # A second request while pending: 409, and nothing changed.
    again = client.post(
        f"/api/v1/vms/{WEB1_UUID}/install", json={"image": "ubuntu-24.04"}, headers=customer
    )
    assert again.status_code == 409 and "cancel" in again.json["message"]

    script = client.get(f"/pxe/52:54:00:00:E9:01?uuid={WEB1_UUID}", environ_base=machine).text
    config_url = _installer_url(script)
    assert config_url.startswith(f"{PUBLIC}/installimage/{WEB1_MAC}/")
    secret = config_url.rsplit("/", 1)[1]
    path = config_url.removeprefix(PUBLIC)
    config = client.get(path, environ_base=machine)
    assert config.status_code == 200
    assert f"HOSTNAME {WEB1_HOST}" in config.text and "ROOT_PASSWORD_HASH $6$" in config.text

    for phase, percent in (("partitioning", 5), ("extracting", 50)):
        resp = client.post(
            path + "/status", json={"phase": phase, "percent": percent}, environ_base=machine
        )
        assert resp.status_code == 200
        seen = client.get(f"/api/v1/vms/{WEB1_UUID}/install", headers=customer).json
        assert (seen["state"], seen["phase"], seen["percent"]) == ("running", phase, percent)

    assert client.post(path + "/done", environ_base=machine).status_code == 200
    seen = client.get(f"/api/v1/vms/{WEB1_UUID}/install", headers=customer).json
    assert seen["state"] == "done" and seen["percent"] == 100 and seen["finished_at"]

    after = client.get(f"/pxe/{WEB1_MAC}?uuid={WEB1_UUID}", environ_base=machine).text
    assert "sanboot" in after and secret not in after
    assert client.get(path, environ_base=machine).status_code == 404

    # The secret never shows up in the API or the change log.
    db = app.extensions["virtapi.db"]
    with db.session() as s:
        logged = " ".join(str(c.before) + str(c.after) for c in s.scalars(select(Change)))
        assert secret not in logged and "s3cret-enough" not in logged
        vm = s.scalar(select(Vm).where(Vm.uuid == WEB1_UUID))
        assert vm.requested_state.name == "running"
        actors = {c.actor for c in s.scalars(select(Change).where(Change.object_type == "install"))}
        assert f"installer:{WEB1_MAC}" in actors

    # Done: a new install may be requested.
    again = client.post(
        f"/api/v1/vms/{WEB1_UUID}/install", json={"image": "ubuntu-24.04"}, headers=customer
    )
    assert again.status_code == 201 and again.json["id"] != install["id"]


def test_customers_see_only_their_own_vms(client: Any, api_tokens: Any, demo: Any) -> None:
    a, b = H(api_tokens.customer_a), H(api_tokens.customer_b)
    # customer A on customer B's VM: 404 for request, read and cancel alike.
    url = f"/api/v1/vms/{APP1_UUID}/install"
    assert client.post(url, json={"image": "debian-12"}, headers=a).status_code == 404
    assert client.get(url, headers=a).status_code == 404
    assert client.delete(url, headers=a).status_code == 404
    assert client.post(url, json={"image": "debian-12"}, headers=b).status_code == 201
    assert client.get(url, headers=a).status_code == 404
    assert client.get(url, headers=b).json["state"] == "pending"
    # An operator may see and cancel any VM's install; a reader only sees.
    assert client.get(url, headers=H(api_tokens.reader)).status_code == 200
    assert client.delete(url, headers=H(api_tokens.reader)).status_code == 403
    resp = client.delete(url, headers=H(api_tokens.operator))
    assert resp.status_code == 200 and resp.json["state"] == "cancelled"
    assert client.delete(url, headers=H(api_tokens.operator)).status_code == 404
    # Unknown VM, no token.
    assert (
        client.get(
            f"/api/v1/vms/{'0' * 8}-0000-0000-0000-{'0' * 12}/install", headers=a
        ).status_code
        == 404
    )
    assert client.post(url, json={"image": "debian-12"}).status_code == 401


def test_install_request_validation(client: Any, api_tokens: Any, demo: Any) -> None:
    op = H(api_tokens.operator)
    url = f"/api/v1/vms/{WEB1_UUID}/install"
    for body, field in (
        ({}, "image"),
        ({"image": "windows-95"}, "image"),
        ({"image": "debian-12", "hostname": "web1\n#!ipxe"}, "hostname"),
        ({"image": "debian-12", "hostname": "$(reboot)"}, "hostname"),
        ({"image": "debian-12", "ssh_keys": ["ssh-ed25519 AAAA\nssh-rsa x"]}, "ssh_keys"),
        ({"image": "debian-12", "ssh_keys": "ssh-ed25519 AAAA"}, "ssh_keys"),
        ({"image": "debian-12", "partitioning": "PART / ext4 all\nIMAGE x"}, "partitioning"),
        ({"image": "debian-12", "root_password": "short"}, "root_password"),
        ({"image": "debian-12", "bogus": 1}, "bogus"),
    ):
        resp = client.post(url, json=body, headers=op)
        assert resp.status_code == 422, (body, resp.json)
        assert field in resp.json["errors"], (body, resp.json)
    assert client.get(url, headers=op).status_code == 404  # nothing was half-written
    # By integer id too, with an explicit partitioning.
    with_id = client.post(
        "/api/v1/vms/1/install",
        json={
            "image": "debian-12",
            "partitioning": "PART / ext4 all",
            "hostname": "new.example.com",
        },
        headers=op,
    )
    assert with_id.status_code == 201, with_id.json
    assert with_id.json["hostname"] == "new.example.com"


def test_node_install_operator_only(app: Any, client: Any, api_tokens: Any, demo: Any) -> None:
    db = app.extensions["virtapi.db"]
    with db.session() as s:
        ceph = s.scalar(select(Node).where(Node.fqdn.like("ceph01.%")))
        hv = s.scalar(select(Node).where(Node.fqdn.like("hv01.%")))
        ceph_id, hv_id = ceph.id, hv.id
    url = f"/api/v1/nodes/{ceph_id}/install"
    body = {"image": "debian-12"}
    assert client.post(url, json=body, headers=H(api_tokens.customer_a)).status_code == 403
    assert client.post(url, json=body, headers=H(api_tokens.reader)).status_code == 403
    resp = client.post(url, json=body, headers=H(api_tokens.operator))
    assert resp.status_code == 201 and resp.json["node_id"] == ceph_id and resp.json["vm"] is None
    assert client.post(url, json=body, headers=H(api_tokens.operator)).status_code == 409
    assert client.get(url, headers=H(api_tokens.reader)).json["state"] == "pending"
    # A hypervisor with VMs on it is not wiped.
    resp = client.post(f"/api/v1/nodes/{hv_id}/install", json=body, headers=H(api_tokens.operator))
    assert resp.status_code == 409 and "VM" in resp.json["message"]
    assert (
        client.post(
            "/api/v1/nodes/999999/install", json=body, headers=H(api_tokens.operator)
        ).status_code
        == 404
    )
    for huge in (2**63, 10**25):
        resp = client.post(
            f"/api/v1/nodes/{huge}/install", json=body, headers=H(api_tokens.operator)
        )
        assert resp.status_code == 404
        assert (
            client.get(f"/api/v1/vms/{huge}/install", headers=H(api_tokens.operator)).status_code
            == 404
        )
    with db.session() as s:
        assert s.scalar(select(Install).where(Install.node_id == hv_id)) is None


def test_image_in_use_cannot_be_deleted(client: Any, api_tokens: Any, demo: Any) -> None:
    op = H(api_tokens.operator)
    client.post(f"/api/v1/vms/{WEB1_UUID}/install", json={"image": "debian-12"}, headers=op)
    debian = client.get("/api/v1/images?name=debian-12", headers=op).json["results"][0]
    resp = client.delete(f"/api/v1/images/{debian['id']}", headers=op)
    assert resp.status_code == 409


def test_openapi_documents_install_endpoints(client: Any) -> None:
    spec = client.get("/api/v1/openapi.json").json
    for path in ("/api/v1/images", "/api/v1/vms/{vm}/install", "/api/v1/nodes/{id}/install"):
        assert path in spec["paths"], sorted(spec["paths"])
    assert not any(p.startswith("/pxe") or p.startswith("/installimage") for p in spec["paths"])


def test_vm_representation_carries_install_without_extra_queries(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    op = H(api_tokens.operator)
    vms = client.get("/api/v1/vms", headers=op).json["results"]
    assert [vm["install"] for vm in vms] == [None] * len(vms)

    def list_queries() -> int:
        with statements_sent(app.extensions["virtapi.db"].engine) as seen:
            assert client.get("/api/v1/vms", headers=op).status_code == 200
        return len(seen)

    before = list_queries()
    for vm in vms[:3]:
        url = f"/api/v1/vms/{vm['uuid']}/install"
        assert client.post(url, json={"image": "debian-12"}, headers=op).status_code == 201
    assert list_queries() == before  # one selectin query for all installs, with or without rows

    listed = {vm["uuid"]: vm for vm in client.get("/api/v1/vms", headers=op).json["results"]}
    web1 = client.get(f"/api/v1/vms/{listed[str(WEB1_UUID)]['id']}", headers=op).json
    assert web1["install"]["state"] == "pending" and web1["install"]["image"] == "debian-12"
    assert web1["install"] == client.get(f"/api/v1/vms/{WEB1_UUID}/install", headers=op).json
    assert sum(vm["install"] is not None for vm in listed.values()) == 3
