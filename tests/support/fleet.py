"""Small hand-built fleets for service tests (the demo fleet is too big to reason about)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from virtapi.models import Node, NodeMethod, NodeState, VirtMethod, VirtNode, VmInterface
from virtapi.services.lookups import by_name

GiB = 1024**3


def add_hypervisor(
    session: Session,
    name: str,
    *,
    cores: int = 8,
    ram_gib: int = 32,
    local_gb: int = 1000,
    methods: Iterable[str] = ("kvm",),
    state: str = "running",
) -> VirtNode:
    node = Node(fqdn=f"{name}.test.example", state=by_name(session, NodeState, state))
    vnode = VirtNode(node=node, cores=cores, ram=ram_gib * GiB, local_storage_gb=local_gb)
    session.add_all([node, vnode])
    for method in methods:
        session.add(NodeMethod(virt_node=vnode, virt_method=by_name(session, VirtMethod, method)))
    session.flush()
    return vnode


def node_interface(session: Session, name: str = "infra01", mac: str = "0c:c4:7a:00:00:01"):  # type: ignore[no-untyped-def]
    """A node with one uplink, to hang addresses on without creating VMs."""
    node = Node(fqdn=f"{name}.test.example", state=by_name(session, NodeState, "running"))
    iface = VmInterface(node=node, node_ifname="eno1", mac=mac)
    session.add_all([node, iface])
    session.flush()
    return iface
