"""One search box: what a person types (hostname, fqdn, UUID, MAC, IP address, VNI) → the object.

Each kind of input is recognised by the parser in ``virtapi.values`` that the API uses for it,
and looked up with a constant number of queries. Customers find only their own VMs and VLANs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import values
from ..models import Node, Vlan, Vm, VmInterface
from ..models.network import ADDRESS_MODELS

MAX_QUERY = 253


@dataclass(frozen=True)
class Hit:
    """``kind`` is vm (key: uuid), node (key: id), vlan (key: vni) or vms (key: hostname part)."""

    kind: str
    key: str


def _owner(session: Session, iface_id: int | None, customer_id: int | None) -> Hit | None:
    if iface_id is None:
        return None
    iface = session.get(VmInterface, iface_id)
    if iface is None:
        return None
    if iface.vm_id is not None:
        vm = session.get(Vm, iface.vm_id)
        if vm is not None and customer_id in (None, vm.customer_id):
            return Hit("vm", str(vm.uuid))
        return None
    if iface.node_id is not None and customer_id is None:
        return Hit("node", str(iface.node_id))
    return None


def find(session: Session, text: str, customer_id: int | None = None) -> Hit | None:
    """The object ``text`` names, as ``customer_id`` may see it (None: staff, everything)."""
    q = text.strip()[:MAX_QUERY]
    if not q or "\x00" in q:
        return None
    scope = [] if customer_id is None else [Vm.customer_id == customer_id]
    try:
        key = uuid.UUID(q)
    except ValueError:
        pass
    else:
        vm = session.scalar(select(Vm.uuid).where(Vm.uuid == key, *scope))
        return Hit("vm", str(vm)) if vm else None
    if not (q.isdigit() and len(q) < 12) and values.problem(values.parse_mac, q) is None:
        mac = values.parse_mac(q)
        iface = session.scalar(select(VmInterface.id).where(VmInterface.mac == mac))
        return _owner(session, iface, customer_id)
    if values.problem(values.parse_ip, q) is None:
        address = values.parse_ip(q)
        model = ADDRESS_MODELS[address.version]
        iface = session.scalar(select(model.vm_interface_id).where(model.address == address))
        return _owner(session, iface, customer_id)
    if q.isdigit():
        vlan = select(Vlan.vni).where(Vlan.vni == int(q)) if len(q) < 10 else None
        if vlan is not None and customer_id is not None:
            vlan = vlan.where(Vlan.customer_id == customer_id)
        if vlan is not None and session.scalar(vlan) is not None:
            return Hit("vlan", q)
        return None
    name = q.lower().rstrip(".")
    vm = session.scalar(select(Vm.uuid).where(func.lower(Vm.hostname) == name, *scope).limit(1))
    if vm is not None:
        return Hit("vm", str(vm))
    if customer_id is None:
        node = session.scalar(select(Node.id).where(func.lower(Node.fqdn) == name))
        if node is not None:
            return Hit("node", str(node))
    return Hit("vms", q)  # no exact match: the VM list narrowed to hostnames containing it
