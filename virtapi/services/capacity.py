"""What each hypervisor has and what its placed VMs commit, in a fixed number of queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Node, NodeMethod, NodeState, Storage, StorageType, VirtMethod, VirtNode, Vm

# Disks of these types live on the hypervisor's own storage (VG or image path).
LOCAL_STORAGE_TYPES = ("lvm", "qcow2", "raw")
GB = 1000**3


@dataclass(frozen=True)
class HypervisorUsage:
    virt_node_id: int
    node_id: int
    fqdn: str
    state: str
    area: str | None
    cores: int
    ram: int
    local_storage_bytes: int
    vm_count: int
    used_cores: int
    used_ram: int
    used_local_bytes: int
    methods: tuple[str, ...] = field(default=())

    def free_cores(self, overcommit: float = 1.0) -> float:
        return self.cores * overcommit - self.used_cores

    def free_ram(self, overcommit: float = 1.0) -> float:
        return self.ram * overcommit - self.used_ram

    @property
    def free_local_bytes(self) -> int:
        return self.local_storage_bytes - self.used_local_bytes


def hypervisor_usage(
    session: Session, virt_node_ids: Iterable[int] | None = None
) -> list[HypervisorUsage]:
    """Capacity and commitment of every (or the given) hypervisor, ordered by fqdn."""
    vms = (
        select(
            NodeMethod.virt_node_id.label("vn"),
            func.count(Vm.id).label("n"),
            func.coalesce(func.sum(Vm.cores), 0).label("cores"),
            func.coalesce(func.sum(Vm.ram), 0).label("ram"),
        )
        .join(Vm, Vm.node_method_id == NodeMethod.id)
        .group_by(NodeMethod.virt_node_id)
        .subquery()
    )
    disks = (
        select(
            NodeMethod.virt_node_id.label("vn"),
            func.coalesce(func.sum(Storage.size), 0).label("bytes"),
        )
        .join(Vm, Vm.node_method_id == NodeMethod.id)
        .join(Storage, Storage.vm_id == Vm.id)
        .join(StorageType, StorageType.id == Storage.storage_type_id)
        .where(StorageType.name.in_(LOCAL_STORAGE_TYPES))
        .group_by(NodeMethod.virt_node_id)
        .subquery()
    )
    query = (
        select(
            VirtNode.id,
            Node.id,
            Node.fqdn,
            NodeState.name,
            Node.area,
            VirtNode.cores,
            VirtNode.ram,
            VirtNode.local_storage_gb,
            func.coalesce(vms.c.n, 0),
            func.coalesce(vms.c.cores, 0),
            func.coalesce(vms.c.ram, 0),
            func.coalesce(disks.c.bytes, 0),
        )
        .join(Node, Node.id == VirtNode.node_id)
        .join(NodeState, NodeState.id == Node.node_state_id)
        .outerjoin(vms, vms.c.vn == VirtNode.id)
        .outerjoin(disks, disks.c.vn == VirtNode.id)
        .order_by(Node.fqdn)
    )
    methods_query = select(NodeMethod.virt_node_id, VirtMethod.name).join(
        VirtMethod, VirtMethod.id == NodeMethod.virt_method_id
    )
    if virt_node_ids is not None:
        ids = list(virt_node_ids)
        query = query.where(VirtNode.id.in_(ids))
        methods_query = methods_query.where(NodeMethod.virt_node_id.in_(ids))
    methods: dict[int, list[str]] = defaultdict(list)
    for vn_id, name in session.execute(methods_query.order_by(VirtMethod.name)):
        methods[vn_id].append(name)
    return [
        HypervisorUsage(
            virt_node_id=vn_id,
            node_id=node_id,
            fqdn=fqdn,
            state=state,
            area=area,
            cores=cores,
            ram=ram,
            local_storage_bytes=local_gb * GB,
            vm_count=int(n),
            used_cores=int(used_cores),
            used_ram=int(used_ram),
            used_local_bytes=int(used_local),
            methods=tuple(methods[vn_id]),
        )
        for (
            vn_id,
            node_id,
            fqdn,
            state,
            area,
            cores,
            ram,
            local_gb,
            n,
            used_cores,
            used_ram,
            used_local,
        ) in session.execute(query)
    ]
