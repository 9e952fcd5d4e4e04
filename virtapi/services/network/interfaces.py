"""Interfaces (NICs) of VMs and nodes: created, changed and deleted in one way for every caller."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ...models import Node, Vm, VmInterface
from ..caller import Caller, operators_only
from ..errors import InvalidInput
from . import ipam, macs, prefixes, purposes, vlans


def _derived_name(caller: Caller | None, data: dict[str, Any], is_vm: bool) -> None:
    if caller is not None:
        operators_only(caller, [k for k in ("mac", "node_ifname") if k in data], "MACs by hand")
        operators_only(caller, ["purpose"] if "purpose" in data else [], "node NICs")
    if is_vm and "node_ifname" in data:
        raise InvalidInput(
            "a VM interface's name is derived", errors={"node_ifname": ["only for nodes"]}
        )


def create_interface(
    session: Session, caller: Caller | None, owner: Vm | Node, data: dict[str, Any]
) -> VmInterface:
    """A NIC of a VM or a node; ``data`` may hold mac, node_ifname, purpose (nodes only) and
    (resolved) vlans.

    The MAC is generated unless an operator gives one; customers never choose MACs.
    ``caller`` None is a service acting on its own authority (VM creation, which applied the
    customer's rules itself).
    """
    _derived_name(caller, data, isinstance(owner, Vm))
    iface = VmInterface()
    with session.no_autoflush:  # no flush before the interface has its MAC
        if isinstance(owner, Vm):
            iface.vm = owner
        else:
            if caller is not None:
                operators_only(caller, ["node_id"], "node NICs")
            iface.node = owner
            iface.node_ifname = data.get("node_ifname")
        if "purpose" in data:
            purposes.set_interface_purpose(iface, data["purpose"])
        vlans.set_vlans(session, iface, data.get("vlans", []))
        macs.assign_mac(session, iface, data.get("mac"))
    session.add(iface)
    session.flush()
    return iface


def update_interface(
    session: Session, caller: Caller, iface: VmInterface, data: dict[str, Any]
) -> None:
    _derived_name(caller, data, iface.vm_id is not None)
    if "vlans" in data:
        vlans.set_vlans(session, iface, data["vlans"])
    if "mac" in data:
        macs.assign_mac(session, iface, data["mac"])
    if "node_ifname" in data:
        iface.node_ifname = data["node_ifname"]
    if "purpose" in data:
        purposes.set_interface_purpose(iface, data["purpose"])


def delete_interface(session: Session, iface: VmInterface) -> None:
    """Delete a NIC; its addresses and routed /64 go back to their pools, its VLAN
    memberships end (all logged)."""
    ipam.release_interface(session, iface)
    prefixes.release_interface(session, iface)
    iface.vlans.clear()
    session.delete(iface)
