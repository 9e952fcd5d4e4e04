"""Interfaces, MACs, VLANs (VNIs), networks and addresses: the rules beyond column mapping.

MAC and VNI allocation live here so smarter allocators (and IPAM) can replace them in one place.
Uniqueness is finally guaranteed by unique constraints; the choices are made under locks
(services.locks) so concurrent requests do not pick the same value.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import netaddr
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SAWarning
from sqlalchemy.orm import Session

from ..models import (
    Ipv4Address,
    Ipv4Network,
    Ipv6Address,
    Ipv6Network,
    Node,
    Vlan,
    Vm,
    VmInterface,
)
from ..models.network import MAX_VNI
from . import ipam, macs, vlans
from .caller import Caller, customer_of, operators_only
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


def insert_unique(
    session: Session, obj: Any, attr: str, pick: Callable[[Session], Any], attempts: int = 8
) -> Any:
    """Insert ``obj`` with ``attr`` set to ``pick(session)``, picking again when a concurrent
    transaction took the same value first (the unique constraint is the final judge).

    Each try runs in a SAVEPOINT, so a clash undoes only that try, not the whole request.
    """
    for attempt in range(attempts):
        with session.no_autoflush:  # obj may hang off persistent rows but is not added yet
            setattr(obj, attr, pick(session))
        try:
            with warnings.catch_warnings():
                # SAVEPOINT first flushes the rest of the session, which sees ``obj`` hanging
                # off persistent rows before it is added; it is added right after, on purpose.
                warnings.filterwarnings("ignore", r".*not in session", SAWarning)
                nested = session.begin_nested()
            with nested:
                session.add(obj)
                session.flush()
            return obj
        except IntegrityError as exc:
            if attempt == attempts - 1 or attr not in str(exc.orig):
                raise
    raise AssertionError("unreachable")


def set_members(session: Session, vlan: Vlan, interfaces: Sequence[VmInterface]) -> None:
    """Make exactly ``interfaces`` members of ``vlan`` (recorded in the change log)."""
    for iface in interfaces:
        vlans.check_member(vlan, iface)
    vlan.interfaces[:] = list({i.id: i for i in interfaces}.values())


def set_vlans(session: Session, iface: VmInterface, members_of: Sequence[Vlan]) -> None:
    for vlan in members_of:
        vlans.check_member(vlan, iface)
    iface.vlans[:] = list({v.id: v for v in members_of}.values())


def create_interface(
    session: Session, caller: Caller, owner: Vm | Node, data: dict[str, Any]
) -> VmInterface:
    """A NIC of a VM or a node; ``data`` may hold mac, node_ifname and (resolved) vlans.

    The MAC is generated unless an operator gives one; customers never choose MACs.
    """
    operators_only(caller, [k for k in ("mac", "node_ifname") if k in data], "MACs by hand")
    iface = VmInterface()
    if isinstance(owner, Vm):
        if "node_ifname" in data:
            raise InvalidInput(
                "a VM interface's name is derived", errors={"node_ifname": ["only for nodes"]}
            )
        iface.vm = owner
    else:
        operators_only(caller, ["node_id"], "node NICs")
        iface.node = owner
        iface.node_ifname = data.get("node_ifname")
    set_vlans(session, iface, data.get("vlans", []))
    if "mac" in data:
        iface.mac = data["mac"]
        session.add(iface)
        return iface
    return insert_unique(session, iface, "mac", generate_mac)


def update_interface(
    session: Session, caller: Caller, iface: VmInterface, data: dict[str, Any]
) -> None:
    operators_only(caller, [k for k in ("mac", "node_ifname") if k in data], "MACs by hand")
    if "node_ifname" in data and iface.vm_id is not None:
        raise InvalidInput(
            "a VM interface's name is derived", errors={"node_ifname": ["only for nodes"]}
        )
    if "vlans" in data:
        set_vlans(session, iface, data["vlans"])
    for key in ("mac", "node_ifname"):
        if key in data:
            setattr(iface, key, data[key])


def _vlan_operator_fields(caller: Caller, data: dict[str, Any]) -> None:
    customer = customer_of(caller)
    given = [k for k in ("vni",) if k in data]
    if "customer_id" in data and data["customer_id"] != customer:
        given.append("customer_id")
    operators_only(caller, given, "VNIs or other customers' VLANs")


def create_vlan(
    session: Session,
    caller: Caller,
    data: dict[str, Any],
    vni_range: tuple[int, int] = (FIRST_AUTO_VNI, MAX_VNI),
) -> Vlan:
    """A VLAN (customers: their own); the VNI is allocated from ``vni_range`` unless an operator
    gives one. ``data["members"]`` holds resolved interfaces."""
    _vlan_operator_fields(caller, data)
    values = dict(data)
    members = values.pop("members", [])
    if customer_of(caller) is not None:
        values["customer_id"] = customer_of(caller)
    vlan = Vlan(**values)
    set_members(session, vlan, members)
    if values.get("vni") is None:
        return insert_unique(session, vlan, "vni", lambda s: allocate_vni(s, vni_range))
    session.add(vlan)
    return vlan


def update_vlan(session: Session, caller: Caller, vlan: Vlan, data: dict[str, Any]) -> None:
    _vlan_operator_fields(caller, data)
    values = dict(data)
    if "members" in values:
        set_members(session, vlan, values.pop("members"))
    for key, value in values.items():
        setattr(vlan, key, value)


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
