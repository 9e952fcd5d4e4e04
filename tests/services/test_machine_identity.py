"""The SMBIOS UUID check of /pxe/<mac>, as a pure function over unsaved rows."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from virtapi.models import Install, Node, Vm
from virtapi.services.installs import (
    machine_identity_matches,
    machine_identity_recorded,
    parse_machine_uuid,
)

VM_UUID = uuid.UUID("5f0c1e2a-7b3d-4e1f-9a2b-0c1d2e3f4a5b")


@pytest.mark.parametrize(
    "text",
    [
        "5f0c1e2a-7b3d-4e1f-9a2b-0c1d2e3f4a5b",
        "5F0C1E2A-7B3D-4E1F-9A2B-0C1D2E3F4A5B",
        "5f0c1e2a7b3d4e1f9a2b0c1d2e3f4a5b",
        "{5f0c1e2a-7b3d-4e1f-9a2b-0c1d2e3f4a5b}",
        "urn:uuid:5f0c1e2a-7b3d-4e1f-9a2b-0c1d2e3f4a5b",
        " 5f0c1e2a-7b3d-4e1f-9a2b-0c1d2e3f4a5b\n",
        VM_UUID,
    ],
)
def test_usual_spellings_parse(text: Any) -> None:
    assert parse_machine_uuid(text) == VM_UUID


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        42,
        b"5f0c1e2a7b3d4e1f9a2b0c1d2e3f4a5b",
        "5f0c1e2a7b3d4e1f9a2b0c1d2e3f4a5",  # 31 digits
        "5f0c1e2a7b3d4e1f9a2b0c1d2e3f4a5b0",  # 33
        "0x0c1e2a7b3d4e1f9a2b0c1d2e3f4a5b",  # int(…, 16) would take these three
        "5f0c_1e2a7b3d4e1f9a2b0c1d2e3f4a5",
        "+f0c1e2a7b3d4e1f9a2b0c1d2e3f4a5b",
        "{5f0c1e2a7b3d4e1f9a2b0c1d2e3f4a5b",
        "5f0c1e2a-7b3d-4e1f-9a2b-0c1d2e3f4a5g",
        "5f0c1e2a--7b3d4e1f9a2b0c1d2e3f4a5b",
        "x" * 10_000,
    ],
)
def test_anything_else_does_not(text: Any) -> None:
    assert parse_machine_uuid(text) is None


def test_vm_install_requires_the_vm_uuid() -> None:
    install = Install(vm=Vm(uuid=VM_UUID))
    assert machine_identity_recorded(install)
    assert machine_identity_matches(install, str(VM_UUID).upper())
    for presented in (None, "", "garbage", str(uuid.uuid4()), str(uuid.UUID(int=0))):
        assert not machine_identity_matches(install, presented), presented


@pytest.mark.parametrize(
    ("facts", "recorded", "accepts"),
    [
        # Nothing recorded: nothing to check against, anything goes (the allow-list guards).
        (None, False, None),
        ({}, False, None),
        ({"dmi": "odd", "uuid": None}, False, None),
        ({"uuid": str(VM_UUID).upper()}, True, {str(VM_UUID), VM_UUID.hex}),
        ({"dmi": {"product": {"uuid": str(VM_UUID)}}}, True, {str(VM_UUID), VM_UUID.hex}),
        # Recorded but unusable: fails closed, nothing matches.
        ({"uuid": "garbage"}, True, set()),
        ({"uuid": ["list"]}, True, set()),
        ({"uuid": str(uuid.UUID(int=0))}, True, set()),
        ({"uuid": "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"}, True, set()),
    ],
)
def test_node_install_checks_recorded_facts(
    facts: Any, recorded: bool, accepts: set[Any] | None
) -> None:
    install = Install(node=Node(fqdn="n1.example.net", facts=facts))
    assert machine_identity_recorded(install) is recorded
    tried = {None, "", "garbage", str(VM_UUID), VM_UUID.hex, str(uuid.UUID(int=0)), "F" * 32}
    for presented in tried:
        assert machine_identity_matches(install, presented) is (
            accepts is None or presented in accepts
        ), presented
