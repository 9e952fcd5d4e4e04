"""Node network purposes: a node's NIC and the networks its addresses come from agree.

An interface's purpose (values.PURPOSES; None for every VM interface) must equal the purpose
of the network of each of its addresses; None equals None, so VM interfaces take addresses of
VM networks only, and a management NIC only management addresses. Checked whenever an address
is assigned, an interface's purpose changes or a network's purpose changes, by every caller.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ... import values
from ...models import VmInterface
from ...models.network import ADDRESS_MODELS
from ..errors import InvalidInput
from ..validation import checked


def _shown(purpose: str | None) -> str:
    return purpose if purpose is not None else "none (VM)"


def parse(value: Any, field: str = "purpose") -> str | None:
    """A purpose or None (no purpose); a 422 on ``field`` otherwise."""
    return None if value is None else checked(values.parse_purpose, value, field)


def mismatch(network_purpose: str | None, iface_purpose: str | None) -> str | None:
    """Why an address of a ``network_purpose`` network cannot go to an ``iface_purpose``
    interface, or None if it can (the one rule; the importer calls it too)."""
    if network_purpose == iface_purpose:
        return None
    return f"purpose {_shown(iface_purpose)} ≠ network's {_shown(network_purpose)}"


def check_address(network: Any, iface: VmInterface, field: str = "vm_interface_id") -> None:
    """422 on ``field`` unless ``network``'s purpose is ``iface``'s."""
    problem = mismatch(network.purpose, iface.purpose)
    if problem is None:
        return
    owner = f"node interface {iface.name}" if iface.node_id is not None else "VM interface"
    raise InvalidInput(
        f"{network.cidr} is a {_shown(network.purpose)} network; {owner} "
        f"(purpose {_shown(iface.purpose)}) takes addresses of "
        f"{_shown(iface.purpose)} networks only",
        errors={field: [problem]},
    )


def set_interface_purpose(iface: VmInterface, purpose: str | None) -> None:
    """Give a node interface a purpose (None: none); its current addresses must fit it."""
    purpose = parse(purpose)
    if iface.node_id is None and iface.node is None:  # a VM's interface
        if purpose is None:
            return
        raise InvalidInput(
            "only a node's interfaces have a purpose",
            errors={"purpose": ["only for node interfaces"]},
        )
    for row in [*iface.ipv4_addresses, *iface.ipv6_addresses]:
        if row.network.purpose != purpose:
            raise InvalidInput(
                f"interface {iface.name} holds {row.address} of the "
                f"{_shown(row.network.purpose)} network {row.network.cidr}; release it first",
                errors={"purpose": [f"address {row.address} is of another purpose"]},
            )
    iface.purpose = purpose


def set_network_purpose(session: Session, network: Any, purpose: str | None) -> None:
    """Give a network a purpose (None: a VM network); its assigned addresses must fit it."""
    purpose = parse(purpose)
    model = ADDRESS_MODELS[network.ip_version]
    clash = session.execute(
        select(model.address, VmInterface.id, VmInterface.purpose)
        .join(VmInterface, VmInterface.id == model.vm_interface_id)
        .where(model.network_id == network.id, VmInterface.purpose.is_distinct_from(purpose))
        .order_by(model.address)
        .limit(1)
    ).first()
    if clash is not None:
        address, iface_id, iface_purpose = clash
        raise InvalidInput(
            f"{address} of {network.cidr} is assigned to interface {iface_id} "
            f"(purpose {_shown(iface_purpose)}); release it first",
            errors={"purpose": [f"address {address} is held by a {_shown(iface_purpose)} NIC"]},
        )
    network.purpose = purpose
