"""Creating, changing and deleting VMs; what customers may and may not set.

``create_vm`` is the one entry point for new VMs (the API's POST /vms is a thin view over it):
one call creates the complete VM (UUID, placement, interfaces with generated MACs, IPv4 and
IPv6 addresses, VLAN membership, disks) in the caller's transaction. Nothing is committed
here: if any part fails (no capacity, a network exhausted, a taken hostname) the caller rolls
back and none of it exists. Locks are taken in one fixed order (placement, MACs, networks) so
concurrent creations queue instead of deadlocking.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import netaddr
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import values
from ..models import (
    CacheOption,
    CephPool,
    NodeMethod,
    Storage,
    StorageCeph,
    StorageType,
    VirtMethod,
    VirtNode,
    Vlan,
    Vm,
    VmState,
)
from ..models.storage import LIMIT_COLUMNS
from . import placement, validation
from .caller import Caller, customer_of
from .capacity import LOCAL_STORAGE_TYPES
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .lifecycle import action_for_state, request
from .lookups import by_name
from .network import ipam, networks, vlans
from .network.interfaces import create_interface
from .quotas import check_quota
from .vocabulary import resolve

# What only operators set: where a VM runs, what its host reported, whose it is.
OPERATOR_ONLY = ("virt_node_id", "virt_method", "actual_state", "customer_id", "uuid")
PLACEMENT = ("virt_node_id", "virt_method")
# At creation a customer names the virtualisation method; virtapi picks the hypervisor.
CREATE_OPERATOR_ONLY = tuple(k for k in OPERATOR_ONLY if k != "virt_method")
# What a new VM may ask for; its hypervisor's host sets the rest by reporting.
CREATE_STATES = ("running", "stopped")


@dataclass
class DiskSpec:
    size: int  # bytes
    storage_type: str | int = "ceph"
    cache_option: str | int = "default"
    ceph_pool: str | int | None = None
    discard: bool | None = None
    read_iops_limit: int | None = None
    write_iops_limit: int | None = None
    read_bps_limit: int | None = None
    write_bps_limit: int | None = None


@dataclass
class InterfaceSpec:
    """One NIC: addresses from the named networks, membership in the named VLANs."""

    ipv4_network_id: int | None = None
    ipv6_network_id: int | None = None
    ipv4_address: str | netaddr.IPAddress | None = None
    ipv6_address: str | netaddr.IPAddress | None = None
    mac: str | netaddr.EUI | None = None
    vlans: list[int] = field(default_factory=list)


def _refuse_operator_fields(
    caller: Caller, data: dict[str, Any], operator_only: tuple[str, ...] = OPERATOR_ONLY
) -> None:
    customer = customer_of(caller)
    if customer is None:
        return
    given = [k for k in operator_only if k in data]
    if given == ["customer_id"] and data["customer_id"] == customer:
        return
    if given:
        what = "placement" if set(given) & set(PLACEMENT) else ", ".join(given)
        raise Forbidden(
            f"customers cannot set {what}; leave out {', '.join(given)}",
            errors={k: ["operators only"] for k in given},
        )


def resolve_placement(
    session: Session, virt_node_id: int | None, method: str | int | None
) -> NodeMethod | None:
    """The node_method row for a hypervisor + method; None when both are None (unplaced)."""
    if virt_node_id is None:
        if method is not None:
            raise InvalidInput(
                "virt_method needs virt_node_id", errors={"virt_node_id": ["required"]}
            )
        return None
    virt_node = session.get(VirtNode, virt_node_id)
    if virt_node is None:
        raise NotFound(
            f"no virt node with id {virt_node_id}",
            errors={"virt_node_id": [f"no virt node with id {virt_node_id}"]},
        )
    if method is None:
        if len(virt_node.methods) != 1:
            names = ", ".join(nm.virt_method.name for nm in virt_node.methods) or "none"
            raise InvalidInput(
                f"give virt_method: this hypervisor runs {names}",
                errors={"virt_method": ["required for this hypervisor"]},
            )
        return virt_node.methods[0]
    vm_method = resolve(session, VirtMethod, method, "virt_method")
    placed = session.scalar(
        select(NodeMethod).where(
            NodeMethod.virt_node_id == virt_node.id, NodeMethod.virt_method_id == vm_method.id
        )
    )
    if placed is None:
        raise InvalidInput(
            f"virt node {virt_node.id} does not run {vm_method.name}",
            errors={"virt_method": [f"not supported by virt node {virt_node.id}"]},
        )
    return placed


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


def _disk(session: Session, vm: Vm, spec: DiskSpec, where: str) -> Storage:
    if not isinstance(spec.size, int) or spec.size <= 0:
        raise InvalidInput(
            f"{where}.size must be a positive number of bytes", errors={where: ["size"]}
        )
    kind = resolve(session, StorageType, spec.storage_type, f"{where}.storage_type")
    cache = resolve(session, CacheOption, spec.cache_option, f"{where}.cache_option")
    for column in LIMIT_COLUMNS:
        value = getattr(spec, column)
        if value is not None and value <= 0:
            raise InvalidInput(
                f"{where}.{column} must be positive or omitted", errors={column: ["must be > 0"]}
            )
    if kind.name == "ceph" and spec.ceph_pool is None:
        raise InvalidInput(
            f"{where}: a ceph disk needs a ceph_pool", errors={"ceph_pool": ["required"]}
        )
    if kind.name != "ceph" and (spec.ceph_pool is not None or spec.discard is not None):
        raise InvalidInput(
            f"{where}: ceph_pool and discard only apply to ceph disks, not {kind.name}",
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
        pool = resolve(session, CephPool, spec.ceph_pool, f"{where}.ceph_pool")  # type: ignore[arg-type]
        discard = True if spec.discard is None else spec.discard
        session.add(StorageCeph(storage=disk, ceph_pool=pool, discard=discard))
    return disk


def _network_for(
    session: Session, version: int, network_id: int | None, address: Any, where: str
) -> networks.Network | None:
    """The network an interface's address comes from: named by id or containing the address."""
    if network_id is not None:
        return networks.get_network(session, version, network_id, where)
    if address is None:
        return None
    field = f"ipv{version}_address"
    wanted = networks.parse_address(address, version, field)
    return networks.containing_network(session, wanted, field, where)


def provision_vm(
    session: Session,
    *,
    hostname: str,
    cores: int,
    ram: int,
    customer_id: int | None,
    overcommit: placement.Overcommit,
    method: str | int = "kvm",
    disks: Iterable[DiskSpec | Mapping[str, Any]] = (),
    interfaces: Iterable[InterfaceSpec | Mapping[str, Any]] = (),
    cputime_limit: int | None = None,
    hypervisor: str | int | None = None,
    virt_node_id: int | None = None,
    start: bool = True,
    actual_state: str | int = "pending",
    as_customer: int | None = None,
    vm_uuid: uuidlib.UUID | None = None,
) -> Vm:
    """Create a VM with everything hanging off it; raise (and leave the rollback to the caller).

    ``as_customer`` is the customer making the request: the VM becomes theirs, their quota
    applies, and they may not pick the hypervisor, MACs, addresses or I/O limits.
    ``hypervisor`` (fqdn, short name or node id) or ``virt_node_id`` pins the placement,
    validated like automatic placement.
    """
    disk_specs = [_spec(DiskSpec, d, f"disks[{i}]") for i, d in enumerate(disks)]
    nic_specs = [_spec(InterfaceSpec, n, f"interfaces[{i}]") for i, n in enumerate(interfaces)]
    if as_customer is not None:
        if customer_id not in (None, as_customer):
            raise Forbidden(
                "a customer can only create VMs for themselves",
                errors={"customer_id": ["operators only"]},
            )
        customer_id = as_customer
        chosen = [
            f"interfaces[{i}].{name}"
            for i, n in enumerate(nic_specs)
            for name in ("mac", "ipv4_address", "ipv6_address")
            if getattr(n, name) is not None
        ]
        chosen += [
            f"disks[{i}].{c}"
            for i, d in enumerate(disk_specs)
            for c in LIMIT_COLUMNS
            if getattr(d, c) is not None
        ]
        if hypervisor is not None or virt_node_id is not None:
            chosen.insert(0, "hypervisor")
        if chosen:
            raise Forbidden(
                "customers cannot choose " + ", ".join(chosen) + "; virtapi assigns them",
                errors={c: ["operators only"] for c in chosen},
            )
    hostname = validation.checked(values.parse_hostname, hostname, "hostname")
    if customer_id is None:
        raise InvalidInput("customer_id is required", errors={"customer_id": ["required"]})
    for label, value in (("cores", cores), ("ram", ram), ("customer_id", customer_id)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise InvalidInput(
                f"{label} must be a positive integer", errors={label: ["must be > 0"]}
            )
    if cputime_limit is not None and cputime_limit <= 0:
        raise InvalidInput("cputime_limit must be positive", errors={"cputime_limit": ["> 0"]})
    method_name = resolve(session, VirtMethod, method, "virt_method").name

    placement.lock(session)
    if session.scalar(select(Vm.id).where(Vm.hostname == hostname)) is not None:
        raise Conflict(
            f"a VM named {hostname} already exists", errors={"hostname": ["already in use"]}
        )
    sizes = [d.size if isinstance(d.size, int) else 0 for d in disk_specs]
    if as_customer is not None:
        check_quota(session, customer_id, vms=1, cores=cores, ram=ram, disk=sum(sizes))
    local_types = {
        t.id
        for t in session.scalars(
            select(StorageType).where(StorageType.name.in_(LOCAL_STORAGE_TYPES))
        )
    }
    local = sum(
        size
        for size, d in zip(sizes, disk_specs, strict=True)
        if d.storage_type in LOCAL_STORAGE_TYPES or d.storage_type in local_types
    )
    need = placement.Need(cores=cores, ram=ram, local_bytes=local, method=method_name)
    where = placement.place(session, need, overcommit, hypervisor, virt_node_id=virt_node_id)

    vm = Vm(
        uuid=vm_uuid or uuidlib.uuid4(),
        hostname=hostname,
        cores=cores,
        ram=ram,
        customer_id=customer_id,
        cputime_limit=cputime_limit,
        node_method=where,
        requested_state=by_name(session, VmState, "running" if start else "stopped"),
        actual_state=resolve(session, VmState, actual_state, "actual_state"),
    )
    session.add(vm)
    for i, spec in enumerate(disk_specs):
        _disk(session, vm, spec, f"disks[{i}]")
    session.flush()

    for i, spec in enumerate(nic_specs):
        here = f"interfaces[{i}]"
        joined: list[Vlan] = [vlans.get_vlan(session, v, as_customer) for v in spec.vlans]
        nets = []
        for version, net_id, address in (
            (4, spec.ipv4_network_id, spec.ipv4_address),
            (6, spec.ipv6_network_id, spec.ipv6_address),
        ):
            net = _network_for(session, version, net_id, address, here)
            if net is None:
                continue
            if net.vlan is not None:
                if as_customer is not None and net.vlan.customer_id not in (None, as_customer):
                    raise NotFound(f"{here}: IPv{version} network {net.id} does not exist")
                joined.append(net.vlan)
            nets.append((net, address))
        # Visibility was checked above (own VLANs by id; shared ones only through a network);
        # the customer's other rules were applied at the top, hence no caller here.
        iface = create_interface(session, None, vm, {"mac": spec.mac, "vlans": joined})
        for net, address in nets:
            ipam.allocate(session, net, iface, address)
    session.flush()
    return vm


def create_vm(
    session: Session,
    caller: Caller,
    data: dict[str, Any],
    *,
    overcommit: placement.Overcommit | None = None,
) -> Vm:
    """A complete new VM from validated API input; customers get theirs within quota.

    Placement is automatic unless an operator names ``virt_node_id`` (and ``virt_method``);
    either way it is checked against state, method and free capacity.
    """
    values = dict(data)
    _refuse_operator_fields(caller, values, CREATE_OPERATOR_ONLY)
    customer = customer_of(caller)
    requested = values.pop("requested_state", "stopped")
    requested_name = resolve(session, VmState, requested, "requested_state").name
    if requested_name not in CREATE_STATES:
        raise InvalidInput(
            f"a new VM can be requested {' or '.join(CREATE_STATES)}, not {requested_name}",
            errors={"requested_state": [f"one of {', '.join(CREATE_STATES)}"]},
        )
    virt_node_id = values.pop("virt_node_id", None)
    method = values.pop("virt_method", None)
    if method is None:
        method = "kvm"
        if virt_node_id is not None:
            only = resolve_placement(session, virt_node_id, None)
            method = only.virt_method.name if only is not None else method
    return provision_vm(
        session,
        hostname=values["hostname"],
        cores=values["cores"],
        ram=values["ram"],
        customer_id=values.get("customer_id"),
        overcommit=overcommit or placement.Overcommit(),
        method=method,
        disks=values.get("disks", ()),
        interfaces=values.get("interfaces", ()),
        cputime_limit=values.get("cputime_limit"),
        virt_node_id=virt_node_id,
        start=requested_name == "running",
        actual_state=values.get("actual_state", "pending"),
        as_customer=customer,
        vm_uuid=values.get("uuid"),
    )


def update_vm(
    session: Session,
    caller: Caller,
    vm: Vm,
    data: dict[str, Any],
    *,
    overcommit: placement.Overcommit | None = None,
) -> None:
    """Change a VM. Placement and growth are checked against capacity; a requested state
    against the actual one (as the actions endpoint does)."""
    values = dict(data)
    _refuse_operator_fields(caller, values)
    oc = overcommit or placement.Overcommit()
    customer = customer_of(caller)
    if customer is not None:
        check_quota(
            session,
            customer,
            cores=values.get("cores", vm.cores) - vm.cores,
            ram=values.get("ram", vm.ram) - vm.ram,
        )
    if "virt_node_id" in values or "virt_method" in values:
        virt_node_id = values.pop("virt_node_id", None)
        method = values.pop("virt_method", None)
        if "virt_node_id" not in data and vm.node_method is not None:
            virt_node_id = vm.node_method.virt_node_id  # a new method on the same host
        target = resolve_placement(session, virt_node_id, method)
        if target is None:
            vm.node_method = None
        elif target is not vm.node_method:
            placement.migrate(
                session, vm, oc, virt_node_id=target.virt_node_id, method=target.virt_method.name
            )
    if "requested_state" in values:
        state = resolve(session, VmState, values.pop("requested_state"), "requested_state")
        if state is not vm.requested_state:
            request(session, vm, action_for_state(state.name))
    if "actual_state" in values:
        vm.actual_state = resolve(session, VmState, values.pop("actual_state"), "actual_state")
    grows = values.get("cores", vm.cores) > vm.cores or values.get("ram", vm.ram) > vm.ram
    if grows and vm.node_method is not None:
        placement.check_resize(
            session, vm, values.get("cores", vm.cores), values.get("ram", vm.ram), oc
        )
    for key, value in values.items():
        setattr(vm, key, value)


def addresses_of(vm: Vm) -> list[netaddr.IPAddress]:
    return [a.address for i in vm.interfaces for a in (*i.ipv4_addresses, *i.ipv6_addresses)]
