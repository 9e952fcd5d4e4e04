"""The iPXE script and installimage config for a demo VM, checked field by field against the
inventory; hostile values refused at the door and again at the renderer."""

from __future__ import annotations

import hashlib
import re
import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.support.installs import WEB1_HOST, WEB1_MAC, ed25519_key
from virtapi.models import Change, Image, Install, Ipv4Address, Ipv6Address, Vm, VmInterface
from virtapi.pxe import render
from virtapi.services import install_fields, installs
from virtapi.services.errors import Conflict, InvalidInput

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from passlib.hash import sha512_crypt

KEY = "test-application-key"
BASE = "http://virtapi.example.com:8080"


def _web1(s: Any) -> Vm:
    return s.scalar(select(Vm).where(Vm.hostname == WEB1_HOST))


def test_installimage_config_for_demo_vm_matches_inventory(app: Any, demo: Any) -> None:
    keys = [ed25519_key("alice", "alice@laptop"), ed25519_key("bob")]
    db = app.extensions["virtapi.db"]
    with db.session() as s:
        vm = _web1(s)
        install, secret = installs.request_vm_install(
            s, vm, image="debian-12", secret_key=KEY, ssh_keys=keys, root_password="hunter2hunter2"
        )
        plan = installs.install_plan(s, install)
        image = s.scalar(select(Image).where(Image.name == "debian-12"))
        macs = [
            str(i.mac) for i in s.scalars(select(VmInterface).where(VmInterface.vm_id == vm.id))
        ]
        v4 = s.scalars(
            select(Ipv4Address).join(VmInterface).where(VmInterface.vm_id == vm.id)
        ).all()
        v6 = s.scalars(
            select(Ipv6Address).join(VmInterface).where(VmInterface.vm_id == vm.id)
        ).all()
        expected_addresses = [
            f"ADDRESS {macs[0]} {a.address}/{a.network.prefixlen} {a.network.gateway}"
            for a in [*v4, *v6]
        ]
        assert vm.requested_state.name == "rebooting"
        install_id, image_url, image_checksum = install.id, image.url, image.checksum
        image_parts = image.partitioning.split("\n")

    assert secret == installs.install_secret(install, KEY) and len(secret) == 64
    config_url = render.installimage_url(BASE, WEB1_MAC, secret)
    assert config_url == f"{BASE}/installimage/{WEB1_MAC}/{secret}"
    lines = render.installimage_config(plan, config_url).splitlines()

    assert lines[0] == f"# virtapi installimage config: install {install_id} of vm {WEB1_HOST}"
    assert "DRIVE1 /dev/vda" in lines and not any(x.startswith("DRIVE2") for x in lines)
    assert f"HOSTNAME {WEB1_HOST}" in lines
    assert [x for x in lines if x.split(" ")[0] in ("PART", "LV")] == image_parts
    assert f"IMAGE {image_url}" in lines
    assert f"IMAGE_CHECKSUM {image_checksum}" in lines
    assert f"SSHKEYS_URL {config_url}/authorized_keys" in lines
    (hash_line,) = [x for x in lines if x.startswith("ROOT_PASSWORD_HASH ")]
    assert sha512_crypt.verify("hunter2hunter2", hash_line.split(" ", 1)[1])
    assert [x for x in lines if x.startswith("ADDRESS ")] == expected_addresses
    # The demo's literal values, so a wrong join cannot agree with itself.
    assert expected_addresses == [
        f"ADDRESS {WEB1_MAC} 198.51.100.10/24 198.51.100.1",
        f"ADDRESS {WEB1_MAC} 2001:db8:100::a/64 2001:db8:100::1",
    ]
    assert render.authorized_keys(plan) == "".join(k + "\n" for k in keys)


def test_ipxe_scripts(app: Any, demo: Any) -> None:
    secret = "ab" * 32
    script = render.installer_script(
        hostname=WEB1_HOST,
        mac="52-54-00-00-E9-01",
        kernel_url="http://pxe.example.com/rescue/vmlinuz",
        initrd_url="http://pxe.example.com/rescue/initrd",
        config_url=render.installimage_url(BASE + "/", "5254.0000.e901", secret),
    )
    assert script.splitlines() == [
        "#!ipxe",
        f"# virtapi: installing {WEB1_HOST} ({WEB1_MAC})",
        "kernel http://pxe.example.com/rescue/vmlinuz initrd=initrd "
        f"installimage={BASE}/installimage/{WEB1_MAC}/{secret} BOOTIF=01-52-54-00-00-e9-01",
        "initrd --name initrd http://pxe.example.com/rescue/initrd",
        "boot",
    ]
    local = render.local_boot_script()
    assert local.startswith("#!ipxe\n") and "sanboot" in local and "exit" in local
    assert "kernel" not in local


def test_only_hashes_of_secrets_are_stored(app: Any, demo: Any) -> None:
    db = app.extensions["virtapi.db"]
    with db.session() as s:
        install, secret = installs.request_vm_install(
            s, _web1(s), image="debian-12", secret_key=KEY, root_password="hunter2hunter2"
        )
    with db.session() as s:
        row = s.get(Install, install.id)
        assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert row.root_password_hash.startswith("$6$")
        assert "hunter2" not in row.root_password_hash
        logged = " ".join(str(c.after) for c in s.scalars(select(Change)))
        assert "install" in {c.object_type for c in s.scalars(select(Change))}
        assert secret not in logged and row.secret_hash not in logged
        assert row.root_password_hash not in logged
        assert installs.secret_matches(row, secret)
        assert not installs.secret_matches(row, "0" * 64)
        assert not installs.secret_matches(row, secret.upper())
        assert not installs.secret_matches(row, None)
        # Another key derives another secret: the key, not the stored data, is what protects it.
        assert installs.install_secret(row, "other-key") != secret


def test_second_request_while_active_conflicts(app: Any, demo: Any) -> None:
    db = app.extensions["virtapi.db"]
    with db.session() as s:
        installs.request_vm_install(s, _web1(s), image="debian-12", secret_key=KEY)
    with pytest.raises(Conflict), db.session() as s:
        installs.request_vm_install(s, _web1(s), image="ubuntu-24.04", secret_key=KEY)
    with db.session() as s:
        install = installs.active_install(s, vm_id=_web1(s).id)
        installs.report_progress(s, install, phase="partitioning", percent=10)
    with pytest.raises(Conflict), db.session() as s:
        installs.request_vm_install(s, _web1(s), image="ubuntu-24.04", secret_key=KEY)
    with db.session() as s:
        installs.finish(s, installs.active_install(s, vm_id=_web1(s).id))
    with db.session() as s:
        again, _ = installs.request_vm_install(s, _web1(s), image="ubuntu-24.04", secret_key=KEY)
        assert (
            again.state == "pending" and again.partitioning == "PART /boot ext3 1G\nPART / ext4 all"
        )


HOSTILE_HOSTNAMES = [
    "web1\n#!ipxe",
    "web1 evil",
    "#!ipxe",
    "web1;reboot",
    "$(reboot)",
    "`id`",
    "${root-path}",
    "web1\r\nkernel http://evil/x",
    "web1.example.com\n",
    "a" * 64 + ".example.com",
    "",
]


@pytest.mark.parametrize("hostname", HOSTILE_HOSTNAMES)
def test_hostile_hostnames_refused(app: Any, demo: Any, hostname: str) -> None:
    db = app.extensions["virtapi.db"]
    with pytest.raises(InvalidInput), db.session() as s:
        installs.request_vm_install(
            s, _web1(s), image="debian-12", secret_key=KEY, hostname=hostname
        )


@pytest.mark.parametrize(
    "partitioning",
    [
        "PART / ext4 all\nIMAGE http://evil.example.com/x.tar.gz",
        "PART / ext4 all; rm -rf /",
        "PART / ext4 $(reboot)",
        "PART / ext4 all\n#!ipxe",
        "PART / ext4 all # comment",
        "PART / ext4",
        "PART / ext4 lots",
        "LV vg0 root / ext4",
        "SWRAID 1",
        "LV vg0 root / ext4 all",  # no PART at all
    ],
)
def test_hostile_partitioning_refused(partitioning: str) -> None:
    with pytest.raises(InvalidInput):
        install_fields.partitioning(partitioning)


def test_partitioning_normalised() -> None:
    got = install_fields.partitioning("\r\n  PART  /boot ext3 1G \r\n\n\tLV vg0 root / ext4 all\n")
    assert got == "PART /boot ext3 1G\nLV vg0 root / ext4 all"


@pytest.mark.parametrize(
    "url",
    [
        "http://images.example.com/a b.tar.gz",
        "http://images.example.com/a.tar.gz\nIMAGE http://evil/",
        "http://images.example.com/$(id).tar.gz",
        "http://images.example.com/x.tar.gz;reboot",
        "http://images.example.com/x.tar.gz?a=1&b=2",
        "http://images.example.com/${net0/ip}",
        "http://images.example.com/'x'",
        "ftp://images.example.com/x.tar.gz",
        "file:///etc/shadow",
    ],
)
def test_hostile_urls_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        install_fields.url(url)


def test_ssh_keys_validated() -> None:
    good = ed25519_key("carol", "carol@example.com")
    assert install_fields.ssh_keys([good, good]) == [good]
    for bad in (
        good + "\nssh-ed25519 AAAA injected",
        "ssh-ed25519 not-base64!",
        "ssh-ed25519 " + ed25519_key("x").split(" ")[1][:-8],  # truncated: not a key of that type
        "ssh-rsa " + ed25519_key("x").split(" ")[1],  # blob says ed25519
        "#!ipxe",
        "",
    ):
        with pytest.raises(InvalidInput):
            install_fields.ssh_keys([bad])
    with pytest.raises(InvalidInput):
        install_fields.ssh_keys(good)  # a string, not a list


def test_macs_in_every_spelling() -> None:
    for spelling in (
        "52:54:00:00:E9:01",
        "52-54-00-00-e9-01",
        "525400-00e901",
        "5254.0000.e901",
        "52540000E901",
    ):
        assert install_fields.mac(spelling) == WEB1_MAC
    for bad in ("", "52:54:00:00:e9", "zz:54:00:00:e9:01", "52:54:00:00:e9:01:02:03"):
        with pytest.raises(InvalidInput):
            install_fields.mac(bad)


def test_renderer_refuses_unsafe_values_that_bypassed_validation() -> None:
    plan = installs.InstallPlan(
        install_id=1,
        target="vm",
        hostname="web1\n#!ipxe",
        image_name="x",
        image_url="http://images.example.com/x.tar.gz",
        image_checksum="",
        partitioning="PART / ext4 all",
        drive="/dev/vda",
        ssh_keys=(),
        root_password_hash=None,
        nics=(),
    )
    with pytest.raises(render.UnsafeValue):
        render.installimage_config(plan, BASE + "/installimage/x")
    with pytest.raises(render.UnsafeValue):
        render.installer_script(
            hostname="web1",
            mac=WEB1_MAC,
            kernel_url="http://pxe.example.com/vmlinuz ${evil}",
            initrd_url="http://pxe.example.com/initrd",
            config_url=BASE,
        )
    for field, value in (
        ("image_url", "http://x/\nIMAGE http://evil/"),
        ("partitioning", "PART / ext4 all\nIMAGE http://evil/"),
        ("root_password_hash", "$6$salt$x\nIMAGE http://evil/"),
        ("drive", "/dev/vda /dev/vdb"),
    ):
        bad = installs.InstallPlan(**{**plan.__dict__, "hostname": "web1", field: value})
        with pytest.raises((render.UnsafeValue, InvalidInput)):
            render.installimage_config(bad, BASE + "/installimage/x")


_INERT = re.compile(r"[A-Za-z0-9._~/%+=,@:\[\] -]*")


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("aZ09 ./:-_#$;&|`'\"\\\n\r\t(){}!*?<>=%+,@~[]")),
        max_size=40,
    )
)
def test_accepted_values_are_inert(text: str) -> None:
    """Whatever the validators let through holds no character that ends a line, starts a
    comment, or means anything to iPXE or a shell."""
    for check in (
        install_fields.hostname,
        lambda v: install_fields.name(v, "name"),
        install_fields.url,
        install_fields.checksum,
    ):
        try:
            value = check(text)
        except InvalidInput:
            continue
        assert _INERT.fullmatch(value), (check, value)
    for candidate in (text, f"PART / ext4 {text}", f"PART {text} ext4 all"):
        try:
            value = install_fields.partitioning(candidate)
        except InvalidInput:
            continue
        for line in value.split("\n"):
            assert _INERT.fullmatch(line) and line.split(" ")[0] in ("PART", "LV"), value
