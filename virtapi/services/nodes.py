"""Nodes and their roles: creation from names, method lists, deletes that say what blocks them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import CephMonNode, CephOsdNode, Node, NodeMethod, VirtMethod, VirtNode, Vm
from .errors import Conflict
from .network.interfaces import delete_interface
from .vocabulary import resolve


def set_virt_methods(session: Session, virt_node: VirtNode, methods: Sequence[str | int]) -> None:
    """Make the hypervisor support exactly ``methods``; refuse to drop one VMs are placed on."""
    wanted = {}
    for value in methods:
        method = resolve(session, VirtMethod, value, "methods")
        wanted[method.id] = method
    for nm in list(virt_node.methods):
        if nm.virt_method_id in wanted:
            del wanted[nm.virt_method_id]
            continue
        placed = session.scalar(select(func.count()).where(Vm.node_method_id == nm.id)) or 0
        if placed:
            raise Conflict(
                f"{placed} VM(s) run with {nm.virt_method.name} on this hypervisor; "
                "move them before removing the method",
                errors={"methods": [f"{nm.virt_method.name} is in use by {placed} VM(s)"]},
            )
        virt_node.methods.remove(nm)
        session.delete(nm)
    for method in wanted.values():
        virt_node.methods.append(NodeMethod(virt_method=method))


def placed_vms(session: Session, virt_node: VirtNode) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Vm)
            .join(NodeMethod, Vm.node_method_id == NodeMethod.id)
            .where(NodeMethod.virt_node_id == virt_node.id)
        )
        or 0
    )


def delete_virt_node(session: Session, virt_node: VirtNode) -> None:
    """Remove the hypervisor role (and its methods) unless VMs are placed on it."""
    count = placed_vms(session, virt_node)
    if count:
        raise Conflict(
            f"{count} VM(s) are placed on this hypervisor; move or delete them first",
            errors={"vm.node_method_id": count},
        )
    for nm in list(virt_node.methods):
        session.delete(nm)
    session.delete(virt_node)


def delete_node(session: Session, node: Node) -> None:
    """Delete a node with its roles and NICs, each deletion recorded in the change log.

    Deleted one by one through the ORM (not by the database's cascades) so every row that
    goes away gets its own change record; addresses of its NICs become free.
    """
    if node.virt_node is not None:
        delete_virt_node(session, node.virt_node)
    for role in (node.ceph_osd_node, node.ceph_mon_node):
        if role is not None:
            session.delete(role)
    for iface in list(node.interfaces):
        delete_interface(session, iface)
    session.flush()
    # The role rows are gone; forget the loaded relationships so the ORM does not revisit them.
    session.expire(node)
    session.delete(node)


def role_node(session: Session, model: type[CephOsdNode | CephMonNode | VirtNode], node_id: int):  # type: ignore[no-untyped-def]
    """Refuse a second row of the same role for a node with a message, not a constraint name."""
    existing = session.scalar(select(model).where(model.node_id == node_id))
    if existing is not None:
        raise Conflict(
            f"node {node_id} already has this role ({model.__tablename__} {existing.id})",
            errors={"node_id": ["already has this role"]},
        )
