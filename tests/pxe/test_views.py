"""The machine endpoints over HTTP: a full install cycle and every refusal."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.apps import make_app
from tests.support.installs import APP1_UUID, WEB1_HOST, WEB1_MAC, WEB1_UUID, ed25519_key
from virtapi.config import override
from virtapi.models import Install, Node, Vm
from virtapi.services import installs

PUBLIC = "http://virtapi.example.com:8080"
KERNEL = "http://pxe.example.com/rescue/vmlinuz"
INITRD = "http://pxe.example.com/rescue/initrd"
INSTALLER_NET = {"REMOTE_ADDR": "10.20.0.99"}
# What iPXE appends for web1: its SMBIOS UUID, which libvirt makes the domain UUID.
WEB1_PXE = f"/pxe/{WEB1_MAC}?uuid={WEB1_UUID}"


@pytest.fixture
def pxe_app(app: Any, demo: Any) -> Any:
    override(
        app,
        pxe_public_url=PUBLIC,
        pxe_kernel_url=KERNEL,
        pxe_initrd_url=INITRD,
        pxe_allowed_networks=[],
    )
    return app


def _request(app: Any, **kwargs: Any) -> str:
    """Request an install of web1 through the service; returns its URL secret."""
    db = app.extensions["virtapi.db"]
    with db.session() as s:
        vm = s.scalar(select(Vm).where(Vm.hostname == WEB1_HOST))
        _, secret = installs.request_vm_install(
            s, vm, image="debian-12", secret_key=app.config["SECRET_KEY"], **kwargs
        )
    return secret


def _install(app: Any) -> Install:
    db = app.extensions["virtapi.db"]
    with db.session() as s:
        return s.scalars(select(Install).order_by(Install.id.desc())).first()


def _vm_states(app: Any) -> tuple[str, str]:
    db = app.extensions["virtapi.db"]
    with db.session() as s:
        vm = s.scalar(select(Vm).where(Vm.hostname == WEB1_HOST))
        return vm.requested_state.name, vm.actual_state.name


def _installer_url(script: str) -> str:
    match = re.search(r" installimage=(\S+) ", script)
    assert match, script
    return match.group(1)


def test_full_cycle(pxe_app: Any, client: Any) -> None:
    key = ed25519_key("ops", "ops@example.com")
    # Nothing pending: every machine, known or not, boots its disk.
    for mac in (WEB1_MAC, "02:00:00:00:00:01"):
        resp = client.get(f"/pxe/{mac}")
        assert resp.status_code == 200 and resp.mimetype == "text/plain"
        assert "sanboot" in resp.text and "kernel" not in resp.text

    secret = _request(pxe_app, ssh_keys=[key])
    assert _vm_states(pxe_app)[0] == "rebooting"

    # iPXE's ${mac} is colons; any spelling works. Without ?uuid= see the refusal tests.
    resp = client.get(f"/pxe/52-54-00-00-E9-01?uuid={WEB1_UUID}")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    script = resp.text
    assert script.startswith("#!ipxe\n")
    assert f"kernel {KERNEL} " in script and f"initrd --name initrd {INITRD}" in script
    config_url = _installer_url(script)
    assert config_url == f"{PUBLIC}/installimage/{WEB1_MAC}/{secret}"

    path = config_url.removeprefix(PUBLIC)
    resp = client.get(path)
    assert resp.status_code == 200, resp.text
    assert f"HOSTNAME {WEB1_HOST}" in resp.text.splitlines()
    assert f"SSHKEYS_URL {config_url}/authorized_keys" in resp.text.splitlines()
    assert client.get(path + "/authorized_keys").text == key + "\n"

    for phase, percent in (("partitioning", 10), ("extracting", 60)):
        resp = client.post(path + "/status", json={"phase": phase, "percent": percent})
        assert resp.status_code == 200, resp.json
        assert resp.json["state"] == "running" and resp.json["percent"] == percent
    # Form bodies work too, for a plain `curl -d`.
    resp = client.post(
        path + "/status", data={"phase": "bootloader", "percent": "90", "message": "grub"}
    )
    assert resp.status_code == 200 and resp.json["phase"] == "bootloader"
    install = _install(pxe_app)
    assert (install.state, install.phase, install.percent, install.message) == (
        "running",
        "bootloader",
        90,
        "grub",
    )
    assert _vm_states(pxe_app) == ("rebooting", "installing")
    # A reboot mid-install comes back to the installer: the window is still open.
    assert _installer_url(client.get(WEB1_PXE).text) == config_url

    resp = client.post(path + "/done")
    assert resp.status_code == 200 and resp.json["state"] == "done"
    install = _install(pxe_app)
    assert install.state == "done" and install.percent == 100 and install.finished_at
    assert _vm_states(pxe_app)[0] == "running"

    after = client.get(WEB1_PXE)
    assert "sanboot" in after.text and "kernel" not in after.text and secret not in after.text
    for method, url in (
        ("get", path),
        ("get", path + "/authorized_keys"),
        ("post", path + "/status"),
        ("post", path + "/done"),
    ):
        resp = getattr(client, method)(url, json={"phase": "x", "percent": 1})
        assert resp.status_code == 404, (url, resp.status_code)


def test_failure_report(pxe_app: Any, client: Any) -> None:
    secret = _request(pxe_app)
    path = f"/installimage/{WEB1_MAC}/{secret}"
    resp = client.post(path + "/failed", json={"message": "image checksum mismatch"})
    assert resp.status_code == 200 and resp.json["state"] == "failed"
    assert _install(pxe_app).message == "image checksum mismatch"
    assert _vm_states(pxe_app)[0] == "stopped"
    assert "sanboot" in client.get(WEB1_PXE).text
    assert client.get(path).status_code == 404


def test_refusals(pxe_app: Any, client: Any) -> None:
    secret = _request(pxe_app)
    path = f"/installimage/{WEB1_MAC}/{secret}"
    # No secret, a wrong one, one of the wrong shape, another machine's MAC with this secret.
    assert client.get(f"/installimage/{WEB1_MAC}").status_code == 404
    assert client.get(f"/installimage/{WEB1_MAC}/").status_code == 404
    wrong = f"/installimage/{WEB1_MAC}/{'0' * 64}"
    for url in (
        wrong,
        f"/installimage/{WEB1_MAC}/{secret[:-1]}",
        f"/installimage/{WEB1_MAC}/{secret.upper()}",
    ):
        resp = client.get(url)
        assert resp.status_code == 404 and resp.json["code"] == "not_found"
        assert "HOSTNAME" not in resp.text
    assert client.get(f"/installimage/52:54:00:00:e9:02/{secret}").status_code == 404
    assert client.post(wrong + "/status", json={"phase": "x", "percent": 5}).status_code == 404
    assert client.post(wrong + "/done").status_code == 404
    assert _install(pxe_app).state == "pending"
    # Not a MAC at all: a clear 422, not a 500.
    resp = client.get("/pxe/not-a-mac")
    assert resp.status_code == 422 and "MAC" in resp.json["message"]
    # Bad progress reports change nothing.
    for body in ({"phase": "x", "percent": 101}, {"phase": "Bad Phase", "percent": 1}, {}):
        assert client.post(path + "/status", json=body).status_code == 422
    assert _install(pxe_app).state == "pending"
    # The right secret still works.
    assert client.get(path).status_code == 200


def _headers(resp: Any) -> list[tuple[str, str]]:
    return [(k, v) for k, v in resp.headers if k != "X-Request-Id"]


@pytest.mark.parametrize(
    "query",
    [
        "",  # no uuid: what an old chainload URL, or a prober with only the MAC, sends
        "?uuid=",  # iPXE's ${uuid} on firmware without SMBIOS
        "?uuid=00000000-0000-0000-0000-000000000000",
        f"?uuid={APP1_UUID}",  # another VM's
        f"?uuid={str(WEB1_UUID)[:-1]}",  # one digit short
        f"?uuid={str(WEB1_UUID)[:-1]}g",
        f"?uuid=0x{WEB1_UUID.hex[2:]}",  # uuid.UUID() would take this; we don't
        f"?uuid={WEB1_UUID}{WEB1_UUID}",
        "?uuid=%00",
        f"?uuid={'a' * 5000}",
    ],
)
def test_pxe_without_the_machine_uuid_boots_locally(
    pxe_app: Any, client: Any, query: str, caplog: Any
) -> None:
    idle = client.get(WEB1_PXE)  # before any install: the plain local-boot answer
    secret = _request(pxe_app)
    with caplog.at_level("WARNING", logger="virtapi.pxe.views"):
        resp = client.get(f"/pxe/{WEB1_MAC}{query}")
    assert resp.status_code == idle.status_code == 200
    # Indistinguishable: only the per-request X-Request-Id differs (every response has one).
    assert resp.text == idle.text and _headers(resp) == _headers(idle)
    assert secret not in resp.text and "kernel" not in resp.text
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and "SMBIOS UUID" in warned[0]
    assert secret not in warned[0] and str(WEB1_UUID) not in warned[0]
    assert _install(pxe_app).state == "pending"  # refused, not consumed
    assert secret in client.get(WEB1_PXE).text


@pytest.mark.parametrize(
    "spelling",
    [
        str(WEB1_UUID).upper(),  # how iPXE and dmidecode print it
        WEB1_UUID.hex,
        WEB1_UUID.hex.upper(),
        "{" + str(WEB1_UUID) + "}",
        f"urn:uuid:{WEB1_UUID}",
    ],
)
def test_pxe_accepts_any_usual_uuid_spelling(pxe_app: Any, client: Any, spelling: str) -> None:
    secret = _request(pxe_app)
    script = client.get(f"/pxe/{WEB1_MAC}", query_string={"uuid": spelling}).text
    assert _installer_url(script) == f"{PUBLIC}/installimage/{WEB1_MAC}/{secret}"


def test_allow_list_uses_the_socket_peer_only(pxe_app: Any, client: Any) -> None:
    secret = _request(pxe_app)
    path = f"/installimage/{WEB1_MAC}/{secret}"
    override(pxe_app, pxe_allowed_networks=["10.20.0.0/24", "fd00:20::/64"])
    outside = {"REMOTE_ADDR": "203.0.113.7"}
    for method, url in (
        ("get", WEB1_PXE),
        ("get", path),
        ("get", path + "/authorized_keys"),
        ("post", path + "/status"),
        ("post", path + "/done"),
        ("post", path + "/failed"),
    ):
        resp = getattr(client, method)(url, environ_base=outside)
        assert resp.status_code == 403, url
        assert secret not in resp.text
    # A forged X-Forwarded-For does not help: no proxy is trusted by default.
    resp = client.get(WEB1_PXE, environ_base=outside, headers={"X-Forwarded-For": "10.20.0.5"})
    assert resp.status_code == 403
    assert _install(pxe_app).state == "pending"
    # Inside, over IPv4, IPv6 and IPv4-mapped IPv6.
    for peer in ("10.20.0.99", "fd00:20::99", "::ffff:10.20.0.7"):
        resp = client.get(WEB1_PXE, environ_base={"REMOTE_ADDR": peer})
        assert resp.status_code == 200 and secret in resp.text, peer
    assert client.get(path, environ_base=INSTALLER_NET).status_code == 200


def test_misconfigured_allow_list_is_a_clear_error(pxe_app: Any, client: Any) -> None:
    override(pxe_app, pxe_allowed_networks=["10.20.0.0/33"])
    resp = client.get(WEB1_PXE, environ_base=INSTALLER_NET)
    assert resp.status_code == 503 and "PXE_ALLOWED_NETWORKS" in resp.json["message"]


def test_public_url_falls_back_to_request_host_and_is_validated(pxe_app: Any, client: Any) -> None:
    override(pxe_app, pxe_public_url="")
    secret = _request(pxe_app)
    script = client.get(WEB1_PXE, base_url="http://10.20.0.2:5000").text
    assert _installer_url(script) == f"http://10.20.0.2:5000/installimage/{WEB1_MAC}/{secret}"
    # A Host header that would inject into the script is refused, not rendered.
    resp = client.get(WEB1_PXE, headers={"Host": "evil${x}"})
    assert resp.status_code == 400 and "VIRTAPI_PUBLIC_URL" in resp.json["message"]
    override(pxe_app, pxe_public_url="http://virtapi.example.com/$(reboot)")
    resp = client.get(WEB1_PXE)
    assert resp.status_code == 503 and "kernel" not in resp.text
    override(pxe_app, pxe_public_url=PUBLIC, pxe_kernel_url="http://pxe/vmlinuz ${evil}")
    resp = client.get(WEB1_PXE)
    assert resp.status_code == 503 and "VIRTAPI_PXE_KERNEL_URL" in resp.json["message"]


def _request_ceph01(app: Any, facts: Any = None) -> tuple[str, str, str]:
    """Record facts on ceph01, request its install; (mac, fqdn, secret)."""
    db = app.extensions["virtapi.db"]
    with db.session() as s:
        ceph = s.scalar(select(Node).where(Node.fqdn.like("ceph01.%")))
        ceph.facts = facts
        s.flush()
        _, secret = installs.request_node_install(
            s, ceph, image="debian-12", secret_key=app.config["SECRET_KEY"]
        )
        return str(ceph.interfaces[0].mac), ceph.fqdn, secret


def test_node_install_uses_node_interfaces(pxe_app: Any, client: Any) -> None:
    # No SMBIOS UUID in the node's facts: the MAC suffices (the allow-list is the guard).
    mac, fqdn, secret = _request_ceph01(pxe_app, facts={"os": "debian"})
    script = client.get(f"/pxe/{mac.replace(':', '')}").text
    assert _installer_url(script) == f"{PUBLIC}/installimage/{mac}/{secret}"
    # Whatever uuid iPXE appends is ignored then, since there is nothing to check it against.
    script = client.get(f"/pxe/{mac}?uuid={WEB1_UUID}").text
    assert _installer_url(script) == f"{PUBLIC}/installimage/{mac}/{secret}"
    lines = client.get(f"/installimage/{mac}/{secret}").text.splitlines()
    assert "DRIVE1 /dev/sda" in lines and f"HOSTNAME {fqdn}" in lines
    assert f"ADDRESS {mac} 10.20.0.21/24 10.20.0.1" in lines
    assert f"ADDRESS {mac} fd00:20::15/64 fd00:20::1" in lines


NODE_UUID = "4C4C4544-0042-3510-8052-B4C04F4E3732"  # dmidecode's spelling on a Dell


@pytest.mark.parametrize(
    "facts",
    [
        {"uuid": NODE_UUID},  # Salt's grain, Facter's legacy fact
        {"dmi": {"product": {"uuid": NODE_UUID.lower()}}},  # Facter's structured fact
    ],
    ids=["uuid", "dmi.product.uuid"],
)
def test_node_install_requires_recorded_uuid(pxe_app: Any, client: Any, facts: Any) -> None:
    mac, _, secret = _request_ceph01(pxe_app, facts=facts)
    local = client.get("/pxe/02:00:00:00:00:01").text
    for query in ("", "?uuid=", f"?uuid={WEB1_UUID}", "?uuid=4C4C4544"):
        resp = client.get(f"/pxe/{mac}{query}")
        assert resp.status_code == 200 and resp.text == local, query
    for spelling in (NODE_UUID, NODE_UUID.lower().replace("-", ""), "{" + NODE_UUID + "}"):
        script = client.get(f"/pxe/{mac}", query_string={"uuid": spelling}).text
        assert _installer_url(script) == f"{PUBLIC}/installimage/{mac}/{secret}", spelling


@pytest.mark.parametrize(
    "recorded", ["not-a-uuid", 42, "00000000-0000-0000-0000-000000000000", "F" * 32]
)
def test_node_with_unusable_recorded_uuid_fails_closed(
    pxe_app: Any, client: Any, recorded: Any
) -> None:
    """Garbage or a firmware placeholder in the facts is no identity: nothing is served."""
    mac, _, secret = _request_ceph01(pxe_app, facts={"uuid": recorded})
    for query in ("", f"?uuid={recorded}", f"?uuid={WEB1_UUID}"):
        script = client.get(f"/pxe/{mac}{query}").text
        assert "sanboot" in script and secret not in script, query


def test_allow_list_believes_x_forwarded_for_only_from_trusted_proxies(
    db_url: str, tmp_path: Any
) -> None:
    from virtapi.services.demo import load_demo

    app = make_app(
        db_url,
        tmp_path,
        TRUSTED_PROXIES=1,
        PXE_PUBLIC_URL=PUBLIC,
        PXE_ALLOWED_NETWORKS=["10.20.0.0/24"],
    )
    try:
        with app.extensions["virtapi.db"].session() as s:
            load_demo(s)
        secret = _request(app)
        client = app.test_client()
        proxy = {"REMOTE_ADDR": "192.0.2.1"}  # the reverse proxy itself, outside the list
        inside = client.get(WEB1_PXE, environ_base=proxy, headers={"X-Forwarded-For": "10.20.0.5"})
        assert inside.status_code == 200 and secret in inside.text
        outside = client.get(
            WEB1_PXE, environ_base=proxy, headers={"X-Forwarded-For": "203.0.113.9"}
        )
        assert outside.status_code == 403
    finally:
        app.extensions["virtapi.db"].dispose()
