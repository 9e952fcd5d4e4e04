"""Creating a complete VM in one call: placement, interfaces, MACs, addresses, VLANs, disks.

Everything happens in the caller's transaction and nothing is committed here: if any part
fails (no capacity, a network exhausted, a taken hostname) the caller rolls back and none of
it exists. Locks are taken in one fixed order (placement, MACs, networks) so concurrent
creations queue instead of deadlocking.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import netaddr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import (
    CacheOption,
    CephPool,
    CustomerQuota,
    Ipv4Network,
    Ipv6Network,
    Storage,
    StorageCeph,
    StorageType,
    VirtMethod,
    Vlan,
    Vm,
    VmInterface,
    VmState,
)
from ..models.storage import LIMIT_COLUMNS
from . import ipam, placement, vlans
from .capacity import LOCAL_STORAGE_TYPES
from .errors import Conflict, Forbidden, InvalidInput, NotFound, QuotaExceeded
from .lookups import by_name
from .macs import add_interface

HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


@dataclass
class DiskSpec:
    size: int  # bytes
    storage_type: str = "ceph"
    cache: str = "default"
    ceph_pool: str | None = None
    discard: bool = True
    read_iops_limit: int | None = None
    write_iops_limit: int | None = None
    read_bps_limit: int | None = None
    write_bps_limit: int | None = None


@dataclass
class InterfaceSpec:
    """One NIC: addresses from the named networks, membership in the named VLANs."""

    ipv4_network: int | None = None
    ipv6_network: int | None = None
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    mac: str | None = None
    vlans: list[int] = field(default_factory=list)


def _spec(cls: type[Any], value: Any, where: str) -> Any:
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{where} must be an object", errors={where: ["not an object"]})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise InvalidInput(
            f"{where} has unknown fields: {', '.join(unknown)}",
            errors={where: [f"unknown field {u}" for u in unknown]},
        )
    try:
        return cls(**value)
    except TypeError as exc:
        raise InvalidInput(f"{where}: {exc}", errors={where: [str(exc)]}) from None


def check_quota(
    session: Session, customer_id: int, *, vms: int = 0, cores: int = 0, ram: int = 0, disk: int = 0
) -> None:
    """Refuse when the customer's VMs plus the requested ones would exceed their quota."""
    quota = session.get(CustomerQuota, customer_id)
    if quota is None:
        return
    used_vms, used_cores, used_ram = session.execute(
        select(
            func.count(Vm.id),
            func.coalesce(func.sum(Vm.cores), 0),
            func.coalesce(func.sum(Vm.ram), 0),
        ).where(Vm.customer_id == customer_id)
    ).one()
    used_disk = session.scalar(
        select(func.coalesce(func.sum(Storage.size), 0))
        .join(Vm, Vm.id == Storage.vm_id)
        .where(Vm.customer_id == customer_id)
    )
    over = []
    for label, limit, used, more, unit in (
        ("VMs", quota.max_vms, used_vms, vms, 1),
        ("cores", quota.max_cores, used_cores, cores, 1),
        ("RAM", quota.max_ram, used_ram, ram, placement.GiB),
        ("disk", quota.max_disk, used_disk, disk, placement.GiB),
    ):
        if limit is not None and more and int(used) + more > limit:
            fmt = placement.fmt_bytes if unit != 1 else str
            over.append(f"{label}: {fmt(int(used))} used + {fmt(more)} requested > {fmt(limit)}")
    if over:
        raise QuotaExceeded(
            f"customer {customer_id} quota exceeded: " + "; ".join(over),
            errors={"quota": over},
        )


def _disk(session: Session, vm: Vm, spec: DiskSpec, where: str) -> Storage:
    if not isinstance(spec.size, int) or spec.size <= 0:
        raise InvalidInput(f"{where}.size must be a positive number of bytes")
    kind = by_name(session, StorageType, spec.storage_type)
    cache = by_name(session, CacheOption, spec.cache)
    for column in LIMIT_COLUMNS:
        value = getattr(spec, column)
        if value is not None and value <= 0:
            raise InvalidInput(
                f"{where}.{column} must be positive or omitted", errors={column: ["must be > 0"]}
            )
    if kind.name == "ceph" and not spec.ceph_pool:
        raise InvalidInput(
            f"{where}: a ceph disk needs a ceph_pool", errors={"ceph_pool": ["required"]}
        )
    if kind.name != "ceph" and spec.ceph_pool:
        raise InvalidInput(
            f"{where}: ceph_pool only applies to ceph disks, not {kind.name}",
            errors={"ceph_pool": ["only for ceph disks"]},
        )
    disk = Storage(
        vm=vm,
        size=spec.size,
        storage_type=kind,
        cache_option=cache,
        **{c: getattr(spec, c) for c in LIMIT_COLUMNS},
    )
    session.add(disk)
    if kind.name == "ceph":
        pool = by_name(session, CephPool, spec.ceph_pool or "")
        session.add(StorageCeph(storage=disk, ceph_pool=pool, discard=spec.discard))
    return disk


def _network_for(
    session: Session, version: int, network_id: int | None, address: str | None, where: str
) -> ipam.Network | None:
    model = Ipv4Network if version == 4 else Ipv6Network
    if network_id is not None:
        net = session.get(model, network_id)
        if net is None:
            raise NotFound(
                f"{where}: IPv{version} network {network_id} does not exist",
                errors={f"ipv{version}_network": ["no such network"]},
            )
        return net
    if address is None:
        return None
    wanted = ipam.parse_address(address, version, f"ipv{version}_address")
    net = session.scalars(
        select(model).where(model.network <= wanted, model.last_address >= wanted)
    ).one_or_none()
    if net is None:
        raise InvalidInput(
            f"{where}: {wanted} lies in no known IPv{version} network",
            errors={f"ipv{version}_address": ["in no network"]},
        )
    return net


def create_vm(
    session: Session,
    *,
    hostname: str,
    cores: int,
    ram: int,
    customer_id: int,
    overcommit: placement.Overcommit,
    method: str = "kvm",
    disks: Iterable[DiskSpec | Mapping[str, Any]] = (),
    interfaces: Iterable[InterfaceSpec | Mapping[str, Any]] = (),
    cputime_limit: int | None = None,
    hypervisor: str | int | None = None,
    start: bool = True,
    as_customer: int | None = None,
    vm_uuid: uuidlib.UUID | None = None,
) -> Vm:
    """Create a VM with everything hanging off it; raise (and leave the rollback to the caller).

    ``as_customer`` is the customer making the request: the VM becomes theirs, their quota
    applies, and they may not pick the hypervisor, MACs or addresses.
    """
    disk_specs = [_spec(DiskSpec, d, f"disks[{i}]") for i, d in enumerate(disks)]
    nic_specs = [_spec(InterfaceSpec, n, f"interfaces[{i}]") for i, n in enumerate(interfaces)]
    if as_customer is not None:
        if customer_id not in (None, as_customer):
            raise NotFound("a customer can only create VMs for themselves")
        customer_id = as_customer
        chosen = [
            f"interfaces[{i}].{name}"
            for i, n in enumerate(nic_specs)
            for name in ("mac", "ipv4_address", "ipv6_address")
            if getattr(n, name) is not None
        ]
        if hypervisor is not None:
            chosen.insert(0, "hypervisor")
        if chosen:
            raise Forbidden(
                "customers cannot choose " + ", ".join(chosen) + "; virtapi assigns them",
                errors={c: ["operators only"] for c in chosen},
            )
    hostname = (hostname or "").strip().lower().rstrip(".")
    if not HOSTNAME.match(hostname):
        raise InvalidInput(
            f"{hostname!r} is not a valid host name", errors={"hostname": ["not a DNS name"]}
        )
    for label, value in (("cores", cores), ("ram", ram), ("customer_id", customer_id)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise InvalidInput(
                f"{label} must be a positive integer", errors={label: ["must be > 0"]}
            )
    if cputime_limit is not None and cputime_limit <= 0:
        raise InvalidInput("cputime_limit must be positive", errors={"cputime_limit": ["> 0"]})
    by_name(session, VirtMethod, method)

    placement.lock(session)
    if session.scalar(select(Vm.id).where(Vm.hostname == hostname)) is not None:
        raise Conflict(
            f"a VM named {hostname} already exists", errors={"hostname": ["already in use"]}
        )
    disk_bytes = sum(d.size for d in disk_specs if isinstance(d.size, int))
    if as_customer is not None:
        check_quota(session, customer_id, vms=1, cores=cores, ram=ram, disk=disk_bytes)
    local = sum(
        d.size
        for d in disk_specs
        if d.storage_type in LOCAL_STORAGE_TYPES and isinstance(d.size, int)
    )
    need = placement.Need(cores=cores, ram=ram, local_bytes=local, method=method)
    where = placement.place(session, need, overcommit, hypervisor)

    vm = Vm(
        uuid=vm_uuid or uuidlib.uuid4(),
        hostname=hostname,
        cores=cores,
        ram=ram,
        customer_id=customer_id,
        cputime_limit=cputime_limit,
        node_method=where,
        requested_state=by_name(session, VmState, "running" if start else "stopped"),
        actual_state=by_name(session, VmState, "pending"),
    )
    session.add(vm)
    for i, spec in enumerate(disk_specs):
        _disk(session, vm, spec, f"disks[{i}]")
    session.flush()

    for i, spec in enumerate(nic_specs):
        here = f"interfaces[{i}]"
        joined: list[Vlan] = [vlans.get_vlan(session, v, as_customer) for v in spec.vlans]
        iface = add_interface(session, VmInterface(vm=vm), spec.mac)
        for version, net_id, address in (
            (4, spec.ipv4_network, spec.ipv4_address),
            (6, spec.ipv6_network, spec.ipv6_address),
        ):
            net = _network_for(session, version, net_id, address, here)
            if net is None:
                continue
            if net.vlan is not None:
                if as_customer is not None and net.vlan.customer_id not in (None, as_customer):
                    raise NotFound(f"{here}: IPv{version} network {net.id} does not exist")
                joined.append(net.vlan)
            ipam.allocate(session, net, iface, address)
        for vlan in dict.fromkeys(joined):
            vlans.attach(session, vlan, iface, as_customer)
    session.flush()
    return vm


def find_vm(session: Session, ref: str | uuidlib.UUID, customer_id: int | None = None) -> Vm:
    """A VM by UUID; a customer sees only their own (others are 'not found', like missing)."""
    try:
        key = ref if isinstance(ref, uuidlib.UUID) else uuidlib.UUID(str(ref))
    except ValueError:
        raise NotFound(f"no VM {ref!r}") from None
    vm = session.scalars(select(Vm).where(Vm.uuid == key)).one_or_none()
    if vm is None or (customer_id is not None and vm.customer_id != customer_id):
        raise NotFound(f"no VM {ref}")
    return vm


def addresses_of(vm: Vm) -> list[netaddr.IPAddress]:
    return [a.address for i in vm.interfaces for a in (*i.ipv4_addresses, *i.ipv6_addresses)]


def purge_vm(session: Session, vm: Vm) -> None:
    """Remove a VM for good: its addresses become free, interfaces and disks go with it.

    Done row by row through the ORM (not by ON DELETE CASCADE) so the change log records
    every freed address and removed disk.
    """
    for iface in list(vm.interfaces):
        ipam.release_interface(session, iface)
        iface.vlans.clear()
        session.delete(iface)
    for disk in list(vm.disks):
        if disk.ceph is not None:
            session.delete(disk.ceph)
        session.delete(disk)
    session.flush()
    session.delete(vm)
    session.flush()
