"""Read views of the inventory for people: fleet, node, VM, network usage and change log.

Every function issues a fixed number of queries whatever the number of rows, and loads
exactly the relationships its callers may touch (``raiseload`` everything else), so a page or
serializer iterating over the result can never fall into one query per row.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import netaddr
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, joinedload, raiseload, selectinload

from ..models import (
    Change,
    Install,
    Ipv4Address,
    Ipv6Address,
    Node,
    NodeMethod,
    Storage,
    StorageCeph,
    VirtNode,
    Vm,
    VmInterface,
)
from ..models.network import ADDRESS_MODELS, NETWORK_MODELS
from .capacity import HypervisorUsage, hypervisor_usage
from .lookups import node_by_ref, vm_by_uuid
from .network.networks import Network

MAX_PAGE = 500


class Window(Protocol):
    """Which rows of a list to show: filters, order and the slice (``web.lists.Listing``).

    ``where``/``order`` take the model they apply to, for lists over several tables."""

    limit: int
    offset: int

    def where(self, model: Any = None) -> Sequence[ColumnElement[bool]]: ...

    def order(self, model: Any = None) -> Sequence[Any]: ...


@dataclass(frozen=True)
class Everything:
    """The whole list in its natural order (no page)."""

    limit: int = MAX_PAGE
    offset: int = 0

    def where(self, model: Any = None) -> Sequence[ColumnElement[bool]]:
        return ()

    def order(self, model: Any = None) -> Sequence[Any]:
        return ()


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    total: int  # matching rows over all pages


def _count(session: Session, stmt: Any) -> int:
    return session.scalar(select(func.count()).select_from(stmt.subquery())) or 0


@dataclass(frozen=True)
class NodeSummary:
    node: Node
    usage: HypervisorUsage | None  # None unless the node is a hypervisor


@dataclass(frozen=True)
class NodeDetail:
    node: Node
    usage: HypervisorUsage | None
    vms: list[Vm]


@dataclass(frozen=True)
class VmListing:
    vms: list[Vm]
    total: int  # matching VMs over all pages
    disk_bytes: dict[int, int] = field(default_factory=dict)  # vm id → summed disk size
    addresses: dict[int, list[netaddr.IPAddress]] = field(default_factory=dict)  # vm id → IPs


@dataclass(frozen=True)
class NetworkUsage:
    network: Network
    used: int  # addresses bound to an interface
    registered: int  # address rows known to virtapi (used or free for allocation)

    @property
    def version(self) -> int:
        return self.network.network.version

    @property
    def total(self) -> int:
        """Assignable addresses: an IPv4 subnet loses its network and broadcast address."""
        size = self.network.cidr.size
        if self.version == 4 and self.network.prefixlen <= 30:
            return size - 2
        return size

    @property
    def fraction(self) -> float:
        return self.used / self.total if self.total else 0.0


def _node_roles():  # type: ignore[no-untyped-def]
    return (
        joinedload(Node.state),
        joinedload(Node.reported_state),
        # One-to-one roles ride along in the node query; only the methods list needs its own.
        joinedload(Node.virt_node)
        .selectinload(VirtNode.methods)
        .joinedload(NodeMethod.virt_method),
        joinedload(Node.ceph_osd_node),
        joinedload(Node.ceph_mon_node),
    )


def fleet(
    session: Session, window: Window = Everything()
) -> tuple[Page[NodeSummary], list[HypervisorUsage]]:
    """A page of nodes with their roles and, for hypervisors, committed resources (by fqdn
    after the window's order); and the usage of every hypervisor, for fleet totals."""
    stmt = select(Node).where(*window.where(Node))
    total = _count(session, stmt)
    nodes = session.scalars(
        stmt.options(*_node_roles(), raiseload("*"))
        .order_by(*window.order(Node), Node.fqdn, Node.id)
        .limit(max(1, min(window.limit, MAX_PAGE)))
        .offset(max(0, window.offset))
    ).all()
    everyone = hypervisor_usage(session)
    usage = {u.node_id: u for u in everyone}
    return Page([NodeSummary(node, usage.get(node.id)) for node in nodes], total), everyone


def _vm_loads():  # type: ignore[no-untyped-def]
    """What a list of VMs shows: states and host."""
    return (
        joinedload(Vm.requested_state),
        joinedload(Vm.actual_state),
        joinedload(Vm.node_method).joinedload(NodeMethod.virt_method),
        joinedload(Vm.node_method).joinedload(NodeMethod.virt_node).joinedload(VirtNode.node),
    )


def node_detail(session: Session, node_id: int) -> NodeDetail:
    query = select(Node).options(
        *_node_roles(),
        selectinload(Node.interfaces).selectinload(VmInterface.ipv4_addresses),
        selectinload(Node.interfaces).selectinload(VmInterface.ipv6_addresses),
        raiseload("*"),
    )
    node = node_by_ref(session, node_id, query)
    usage = None
    vms: list[Vm] = []
    if node.virt_node is not None:
        usage = next(iter(hypervisor_usage(session, [node.virt_node.id])), None)
        vms = list(
            session.scalars(
                select(Vm)
                .join(NodeMethod, NodeMethod.id == Vm.node_method_id)
                .where(NodeMethod.virt_node_id == node.virt_node.id)
                .options(*_vm_loads(), raiseload("*"))
                .order_by(Vm.hostname)
            )
        )
    return NodeDetail(node, usage, vms)


def list_vms(
    session: Session,
    *,
    customer_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
    conditions: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any] = (),
) -> VmListing:
    """One page of VMs (a customer's only, when given) by hostname, with disk totals and IPs.

    ``conditions`` narrow the list (the API's VM filters); ``order_by`` sorts before hostname.
    """
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    where = [*conditions] if customer_id is None else [Vm.customer_id == customer_id, *conditions]
    total = session.scalar(select(func.count(Vm.id)).where(*where)) or 0
    vms = list(
        session.scalars(
            select(Vm)
            .where(*where)
            .options(*_vm_loads(), raiseload("*"))
            .order_by(*order_by, Vm.hostname, Vm.id)
            .limit(limit)
            .offset(offset)
        )
    )
    ids = [vm.id for vm in vms]
    disk_bytes: dict[int, int] = {}
    addresses: dict[int, list[netaddr.IPAddress]] = defaultdict(list)
    if ids:
        disk_bytes = {
            vm_id: int(size)
            for vm_id, size in session.execute(
                select(Storage.vm_id, func.sum(Storage.size))
                .where(Storage.vm_id.in_(ids))
                .group_by(Storage.vm_id)
            )
        }
        for model in ADDRESS_MODELS.values():
            rows = session.execute(
                select(VmInterface.vm_id, model.address)
                .join(VmInterface, VmInterface.id == model.vm_interface_id)
                .where(VmInterface.vm_id.in_(ids))
                .order_by(model.address)
            )
            for vm_id, address in rows:
                addresses[vm_id].append(address)
    return VmListing(vms, total, disk_bytes, dict(addresses))


def vm_detail(session: Session, vm_uuid: uuid.UUID | str, customer_id: int | None = None) -> Vm:
    """A VM with host, interfaces (VLANs, addresses and their networks) and disks.

    With ``customer_id`` another customer's VM is reported exactly like a missing one.
    """
    query = select(Vm).options(
        *_vm_loads(),
        selectinload(Vm.interfaces).selectinload(VmInterface.vlans),
        selectinload(Vm.interfaces)
        .selectinload(VmInterface.ipv4_addresses)
        .joinedload(Ipv4Address.network),
        selectinload(Vm.interfaces)
        .selectinload(VmInterface.ipv6_addresses)
        .joinedload(Ipv6Address.network),
        selectinload(Vm.disks).joinedload(Storage.storage_type),
        selectinload(Vm.disks).joinedload(Storage.cache_option),
        selectinload(Vm.disks).joinedload(Storage.ceph).joinedload(StorageCeph.ceph_pool),
        selectinload(Vm.installs).joinedload(Install.image),
        raiseload("*"),
    )
    return vm_by_uuid(session, vm_uuid, customer_id, query)


def network_usage(
    session: Session, window: Window = Everything(), versions: Sequence[int] = (4, 6)
) -> Page[NetworkUsage]:
    """IPv4 then IPv6 networks with used and registered addresses, by address after the
    window's order; the window's slice runs over both versions as one list."""
    out: list[NetworkUsage] = []
    totals = {
        v: _count(session, select(NETWORK_MODELS[v].id).where(*window.where(NETWORK_MODELS[v])))
        for v in versions
    }
    skip, room = max(0, window.offset), max(1, min(window.limit, MAX_PAGE))
    for version in versions:
        network_model = NETWORK_MODELS[version]
        if room <= 0 or skip >= totals[version]:
            skip = max(0, skip - totals[version])
            continue
        address_model = ADDRESS_MODELS[version]
        counts = (
            select(
                address_model.network_id.label("network_id"),
                func.count(address_model.vm_interface_id).label("used"),
                func.count(address_model.id).label("registered"),
            )
            .group_by(address_model.network_id)
            .subquery()
        )
        rows = session.execute(
            select(
                network_model,
                func.coalesce(counts.c.used, 0),
                func.coalesce(counts.c.registered, 0),
            )
            .outerjoin(counts, counts.c.network_id == network_model.id)
            .where(*window.where(network_model))
            .options(joinedload(network_model.vlan), raiseload("*"))
            .order_by(
                *window.order(network_model),
                network_model.network,
                network_model.prefixlen,
                network_model.id,
            )
            .limit(room)
            .offset(skip)
        )
        found = [NetworkUsage(net, int(used), int(reg)) for net, used, reg in rows]
        out.extend(found)
        skip, room = 0, room - len(found)
    return Page(out, sum(totals.values()))


def changes(
    session: Session,
    window: Window = Everything(),
    *,
    customer_id: int | None = None,
    before_id: int | None = None,
) -> Page[Change]:
    """Changes, newest first after the window's order (optionally older than ``before_id``);
    a customer's only if given."""
    query = select(Change).where(*window.where(Change))
    if customer_id is not None:
        query = query.where(Change.customer_id == customer_id)
    if before_id is not None:
        query = query.where(Change.id < before_id)
    total = _count(session, query)
    rows = session.scalars(
        query.order_by(*window.order(Change), Change.id.desc())
        .limit(max(1, min(window.limit, MAX_PAGE)))
        .offset(max(0, window.offset))
    )
    return Page(list(rows), total)
