"""Interfaces, MACs, VLANs (VNIs), networks and addresses: the rules beyond column mapping.

MAC and VNI allocation live here so smarter allocators (and IPAM) can replace them in one place.
Uniqueness is finally guaranteed by unique constraints; these functions pick likely-free values.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import netaddr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import (
    Ipv4Address,
    Ipv4Network,
    Ipv6Address,
    Ipv6Network,
    Vlan,
    VmInterface,
)
from ..models.network import MAX_VNI
from .errors import Conflict, InvalidInput

# QEMU/KVM's own OUI, the prefix libvirt uses for guest NICs.
MAC_PREFIX = (0x52, 0x54, 0x00)
FIRST_AUTO_VNI = 10000

AddressModel = type[Ipv4Address] | type[Ipv6Address]
NetworkModel = type[Ipv4Network] | type[Ipv6Network]


def generate_mac(session: Session) -> netaddr.EUI:
    """A random unused MAC under the QEMU prefix."""
    for _ in range(64):
        tail = [random.randrange(256) for _ in range(3)]
        mac = netaddr.EUI(":".join(f"{b:02x}" for b in (*MAC_PREFIX, *tail)))
        if session.scalar(select(VmInterface.id).where(VmInterface.mac == mac)) is None:
            return mac
    raise Conflict("could not find a free MAC address; retry")


def allocate_vni(session: Session) -> int:
    """The next VNI above the highest in use (from FIRST_AUTO_VNI), or the lowest gap."""
    highest = session.scalar(select(func.max(Vlan.vni))) or 0
    candidate = max(highest + 1, FIRST_AUTO_VNI)
    if candidate <= MAX_VNI:
        return candidate
    used = set(session.scalars(select(Vlan.vni)))
    for vni in range(1, MAX_VNI + 1):
        if vni not in used:
            return vni
    raise Conflict("every VNI is in use")


def set_members(session: Session, vlan: Vlan, interfaces: Sequence[VmInterface]) -> None:
    """Make exactly ``interfaces`` members of ``vlan`` (recorded in the change log)."""
    vlan.interfaces[:] = list({i.id: i for i in interfaces}.values())


def set_vlans(session: Session, iface: VmInterface, vlans: Sequence[Vlan]) -> None:
    iface.vlans[:] = list({v.id: v for v in vlans}.values())


def delete_interface(session: Session, iface: VmInterface) -> None:
    """Delete a NIC; its addresses go back to the pool, its VLAN memberships end (all logged)."""
    for address in [*iface.ipv4_addresses, *iface.ipv6_addresses]:
        address.interface = None
    iface.vlans.clear()
    session.delete(iface)


# --- networks and addresses ---------------------------------------------------------------------


def _models(version: int) -> tuple[NetworkModel, AddressModel]:
    return (Ipv4Network, Ipv4Address) if version == 4 else (Ipv6Network, Ipv6Address)


def network_values(net: netaddr.IPNetwork) -> dict[str, Any]:
    return {
        "network": net.network,
        "last_address": netaddr.IPAddress(net.last, net.version),
        "prefixlen": net.prefixlen,
    }


def check_gateway(net: netaddr.IPNetwork, gateway: netaddr.IPAddress | None) -> None:
    if gateway is not None and gateway not in net:
        raise InvalidInput(
            f"gateway {gateway} is not inside {net}", errors={"gateway": [f"not inside {net}"]}
        )


def create_network(session: Session, net: netaddr.IPNetwork, values: dict[str, Any]) -> Any:
    """A new network; refuses one overlapping an existing network of the same version."""
    model, _ = _models(net.version)
    check_gateway(net, values.get("gateway"))
    row = model(**network_values(net), **values)
    first, last = net.network, netaddr.IPAddress(net.last, net.version)
    overlap = session.scalar(
        select(model).where(model.network <= last, model.last_address >= first).limit(1)
    )
    if overlap is not None:
        raise Conflict(
            f"{net} overlaps network {overlap.id} ({overlap.cidr})",
            errors={"prefix": [f"overlaps {overlap.cidr}"]},
        )
    session.add(row)
    return row


def containing_network(session: Session, address: netaddr.IPAddress) -> Any:
    """The network an address belongs to; 422 when no network holds it."""
    model, _ = _models(address.version)
    net = session.scalar(
        select(model)
        .where(model.network <= address, model.last_address >= address)
        .order_by(model.prefixlen.desc())
        .limit(1)
    )
    if net is None:
        raise InvalidInput(
            f"no IPv{address.version} network contains {address}; create the network first",
            errors={"address": ["outside every known network"]},
        )
    return net


def check_in_network(address: netaddr.IPAddress, network: Any) -> None:
    if address not in network.cidr:
        raise InvalidInput(
            f"{address} is not inside network {network.id} ({network.cidr})",
            errors={"address": [f"not inside {network.cidr}"]},
        )
