"""Interfaces, MACs, VLANs (VNIs), networks and addresses: the rules beyond column mapping.

MAC and VNI allocation live here so smarter allocators (and IPAM) can replace them in one place.
Uniqueness is finally guaranteed by unique constraints; the choices are made under locks
(services.locks) so concurrent requests do not pick the same value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import netaddr
from sqlalchemy import select
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
from . import ipam, macs, vlans
from .errors import InvalidInput
from .locks import advisory_lock

# QEMU/KVM's own OUI, the prefix libvirt uses for guest NICs.
MAC_PREFIX = (0x52, 0x54, 0x00)
FIRST_AUTO_VNI = 10000

AddressModel = type[Ipv4Address] | type[Ipv6Address]
NetworkModel = type[Ipv4Network] | type[Ipv6Network]


def generate_mac(session: Session) -> netaddr.EUI:
    """A random unused MAC under the QEMU prefix (checked under a lock: see services.macs)."""
    advisory_lock(session, "vm_interface.mac")
    return macs.unused_mac(session)


def allocate_vni(session: Session, vni_range: tuple[int, int] = (FIRST_AUTO_VNI, MAX_VNI)) -> int:
    """The lowest free VNI of the configured range (VIRTAPI_VNI_RANGE), under a lock held
    until commit so concurrent VLAN creations get different ones."""
    advisory_lock(session, "vlan.vni")
    return vlans.free_vni(session, vni_range)


def set_members(session: Session, vlan: Vlan, interfaces: Sequence[VmInterface]) -> None:
    """Make exactly ``interfaces`` members of ``vlan`` (recorded in the change log)."""
    for iface in interfaces:
        vlans.check_member(vlan, iface)
    vlan.interfaces[:] = list({i.id: i for i in interfaces}.values())


def set_vlans(session: Session, iface: VmInterface, members_of: Sequence[Vlan]) -> None:
    for vlan in members_of:
        vlans.check_member(vlan, iface)
    iface.vlans[:] = list({v.id: v for v in members_of}.values())


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
    """Inside the network and a usable host address (not network or broadcast)."""
    ipam.check_gateway(net, gateway)


def create_network(session: Session, net: netaddr.IPNetwork, values: dict[str, Any]) -> Any:
    """A new network; refuses one overlapping an existing network of the same version
    (checked under a lock, so two overlapping creations cannot both pass)."""
    model, _ = _models(net.version)
    check_gateway(net, values.get("gateway"))
    ipam.ensure_no_overlap(session, net)
    row = model(**network_values(net), **values)
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
