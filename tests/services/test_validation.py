"""Names that reach generated YAML, iPXE scripts and installimage configs are inert there."""

from __future__ import annotations

import pytest

from virtapi.services.errors import InvalidInput
from virtapi.services.validation import (
    hostname_problem,
    name_problem,
    ssh_key_problem,
    validate_hostname,
)

GOOD_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9vZGtleWdvb2RrZXlnb29ka2V5Z29vZGtleQ== ops@example"
)


@pytest.mark.parametrize("value", ["web1", "web1.c1001.example.net", "a-b.example.com", "x" * 63])
def test_good_hostnames(value: str) -> None:
    assert hostname_problem(value) is None
    assert validate_hostname(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "-web",
        "web-",
        "Web1",  # certnames are lower case
        "web_1",
        "web 1",
        "web1\n#!ipxe",
        "web1;reboot",
        "$(id)",
        "%{facts.x}",
        "../etc/passwd",
        "a..b",
        "x" * 64,
        "a." * 127 + "b",
        "192.0.2.1",
        "web1\n",  # a trailing newline slips past a careless '$'
    ],
)
def test_bad_hostnames(value: str) -> None:
    assert hostname_problem(value)
    with pytest.raises(InvalidInput) as exc:
        validate_hostname(value)
    assert "hostname" in exc.value.errors


@pytest.mark.parametrize("value", ["rbd", "vms-ssd", "debian-12", "Ubuntu_24.04"])
def test_good_names(value: str) -> None:
    assert name_problem(value) is None


@pytest.mark.parametrize("value", ["", ".hidden", "a/b", "a b", "a\nb", "rbd\n", "x" * 65, "ä"])
def test_bad_names(value: str) -> None:
    assert name_problem(value)


def test_ssh_keys() -> None:
    assert ssh_key_problem(GOOD_KEY) is None
    assert ssh_key_problem(GOOD_KEY.rsplit(" ", 1)[0]) is None
    for bad in (
        GOOD_KEY + "\nssh-rsa AAAA evil",
        "ssh-foo AAAA",
        "AAAA",
        GOOD_KEY + "\r",
        GOOD_KEY + "\n",
    ):
        assert ssh_key_problem(bad)
