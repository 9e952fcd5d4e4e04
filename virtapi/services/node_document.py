"""The node document: everything configuration management needs for one machine.

`build_node_document(session, certname)` answers for a physical node (by fqdn) or a VM
(by hostname or uuid) with a plain, JSON-able dict. The Puppet ENC, the Hiera data and
the Salt pillar are views of it (virtapi/enc, virtapi/pillar), so they always agree.

It runs a constant number of SQL queries however many VMs, interfaces, addresses and
disks a hypervisor carries: every query selects plain columns for *all* VMs of the
hypervisor at once, and Python stitches the rows together. The VXLAN peers and the
underlay addresses are fetched by the ids this node's own rows name (its VLAN ids, then
the peer and monitor node ids, as IN lists), so every query is an index lookup whose cost
follows the node's data, not the size of the fleet.

Speed: the statements are Core selects built once per process with bound parameters
(building SQLAlchemy constructs, aliases above all, costs more than running them), and
addresses are read as raw bytes and formatted by `socket.inet_ntop` instead of going
through netaddr objects. In the portable form (SQLite) sixteen SELECTs for a hypervisor:
IPv4 and IPv6 come in one statement (UNION ALL), interfaces with their VLANs in one (outer
join); snapshots, routed /64s, clones, backup schedules and restores one each. PostgreSQL
runs two: the node row, then every section, the VXLAN peers and the underlay addresses in
one statement (`_combined`).

Derived names (the database stores none of them; they depend only on ids, so they never
change while the object exists):

* interface ``<vm_id>-<interface_id>``, its bridge ``br-<vm_id>-<interface_id>``;
* disks ``vda``, ``vdb``, … in storage id order;
* LVM volume ``<vg_name>/vm<vm_id>-disk<storage_id>``;
* image file ``<local_storage_path>/vm<vm_id>-disk<storage_id>.<qcow2|raw>``;
* Ceph image ``<pool>/vm<vm_id>-disk<storage_id>``.
"""

from __future__ import annotations

import hashlib
import json
import socket
import uuid as uuidlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    Select,
    String,
    and_,
    bindparam,
    func,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from virtapi.models import (
    Backup,
    BackupSchedule,
    BackupStore,
    BaseImage,
    CacheOption,
    CephClient,
    CephCluster,
    CephMonNode,
    CephOsdNode,
    CephPool,
    DiskRestore,
    Ipv6RoutedPrefix,
    Node,
    NodeMethod,
    NodeState,
    Snapshot,
    Storage,
    StorageCeph,
    StorageType,
    VirtMethod,
    VirtNode,
    Vlan,
    Vm,
    VmInterface,
    VmState,
    vlan_member,
)
from virtapi.models.network import ADDRESS_MODELS, NETWORK_MODELS
from virtapi.services import config_data
from virtapi.services.base_images import host_source
from virtapi.services.snapshots import host_instructions

DEFAULT_ENVIRONMENT = "production"

# Core tables: selecting their columns skips the ORM's per-statement entity handling.
node_t = Node.__table__
node_state_t = NodeState.__table__
virt_node_t = VirtNode.__table__
node_method_t = NodeMethod.__table__
virt_method_t = VirtMethod.__table__
osd_t = CephOsdNode.__table__
mon_t = CephMonNode.__table__
vm_t = Vm.__table__
vm_state_t = VmState.__table__
iface_t = VmInterface.__table__
vlan_t = Vlan.__table__
member_t = vlan_member
storage_t = Storage.__table__
storage_type_t = StorageType.__table__
cache_t = CacheOption.__table__
storage_ceph_t = StorageCeph.__table__
pool_t = CephPool.__table__
snapshot_t = Snapshot.__table__
routed_t = Ipv6RoutedPrefix.__table__
base_image_t = BaseImage.__table__
schedule_t = BackupSchedule.__table__
backup_store_t = BackupStore.__table__
backup_t = Backup.__table__
restore_t = DiskRestore.__table__
cluster_t = CephCluster.__table__
client_t = CephClient.__table__
FAMILIES = tuple(
    (f"ipv{version}", ADDRESS_MODELS[version].__table__, NETWORK_MODELS[version].__table__, af)
    for version, af in ((4, socket.AF_INET), (6, socket.AF_INET6))
)

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def disk_name(index: int) -> str:
    """libvirt-style virtio disk name for the index-th disk (0 → vda, 26 → vdaa)."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = _LETTERS[rest] + name
    return "vd" + name


_DISK_NAMES = tuple(disk_name(i) for i in range(26))
_MISSING: Any = object()


def _raw(column: Any) -> Any:
    # The column's TypeDecorator would build a netaddr object per row; raw bytes are
    # formatted far faster by inet_ntop.
    return type_coerce(column, LargeBinary)


# The address width names its family: 4 bytes IPv4, 16 bytes IPv6.
_FAMILY_OF_WIDTH = {4: ("ipv4", socket.AF_INET), 16: ("ipv6", socket.AF_INET6)}


def _address(raw: bytes | memoryview | None, family: int) -> str | None:
    return None if raw is None else socket.inet_ntop(family, bytes(raw))


# --- statements, built once per process ---------------------------------------------------------


@dataclass(frozen=True)
class _VmStatements:
    """Everything about a set of VMs, selected by one bound parameter ``:scope``."""

    vms: Select[Any]
    interfaces: Select[Any]
    addresses: Any
    disks: Select[Any]
    snapshots: Select[Any]  # issue 17
    routed_prefixes: Select[Any]  # issue 17
    clones: Select[Any]  # issue 17
    backup_schedules: Select[Any]  # issue 17
    restores: Select[Any]  # issue 17

    def sections(self) -> dict[str, Any]:
        """The statements by section name (`_Fetch` reads them by these names)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _vm_statements(scope: Callable[[], ColumnElement[bool]]) -> _VmStatements:
    """`scope()` is a condition on vm / node_method naming the bound parameter ``scope``;
    every statement joins vm and node_method and applies it."""
    requested = vm_state_t.alias("requested")
    hv_node = node_t.alias("hv_node")
    vms = (
        select(
            vm_t.c.id,
            vm_t.c.uuid,
            vm_t.c.hostname,
            vm_t.c.customer_id,
            vm_t.c.cores,
            vm_t.c.ram,
            vm_t.c.cputime_limit,
            requested.c.name.label("requested_state"),
            virt_method_t.c.name.label("virt_method"),
            hv_node.c.fqdn.label("hypervisor"),
            virt_node_t.c.vg_name,
            virt_node_t.c.local_storage_path,
        )
        .select_from(vm_t)
        .join(requested, requested.c.id == vm_t.c.requested_state_id)
        .outerjoin(node_method_t, node_method_t.c.id == vm_t.c.node_method_id)
        .outerjoin(virt_method_t, virt_method_t.c.id == node_method_t.c.virt_method_id)
        .outerjoin(virt_node_t, virt_node_t.c.id == node_method_t.c.virt_node_id)
        .outerjoin(hv_node, hv_node.c.id == virt_node_t.c.node_id)
        .where(scope())
        .order_by(vm_t.c.id)
    )

    def scoped(query: Select[Any]) -> Select[Any]:
        return (
            query.join(vm_t, vm_t.c.id == iface_t.c.vm_id)
            .outerjoin(node_method_t, node_method_t.c.id == vm_t.c.node_method_id)
            .where(scope())
        )

    # Interfaces with their VLANs (one row per membership, or one with NULLs): one statement.
    interfaces = scoped(
        select(
            iface_t.c.id,
            iface_t.c.vm_id,
            type_coerce(iface_t.c.mac, String),
            vlan_t.c.vni,
            vlan_t.c.name,
            member_t.c.vlan_id,
        )
        .select_from(iface_t)
        .outerjoin(member_t, member_t.c.vm_interface_id == iface_t.c.id)
        .outerjoin(vlan_t, vlan_t.c.id == member_t.c.vlan_id)
    ).order_by(iface_t.c.id, vlan_t.c.vni)
    # IPv4 and IPv6 in one statement: both are fixed-width bytes, the width tells them apart.
    addresses = union_all(
        *(
            scoped(
                select(
                    address_t.c.vm_interface_id.label("iface_id"),
                    _raw(address_t.c.address).label("address"),
                    network_t.c.prefixlen,
                    _raw(network_t.c.gateway).label("gateway"),
                )
                .select_from(address_t)
                .join(network_t, network_t.c.id == address_t.c.network_id)
                .join(iface_t, iface_t.c.id == address_t.c.vm_interface_id)
            )
            for _, address_t, network_t, _ in FAMILIES
        )
    ).order_by("iface_id", "address")
    disks = (
        select(
            storage_t.c.id,
            storage_t.c.vm_id,
            storage_t.c.size,
            storage_type_t.c.name.label("type"),
            cache_t.c.name.label("cache"),
            storage_t.c.read_iops_limit,
            storage_t.c.write_iops_limit,
            storage_t.c.read_bps_limit,
            storage_t.c.write_bps_limit,
            storage_ceph_t.c.discard,
            pool_t.c.name.label("pool"),
        )
        .select_from(storage_t)
        .join(storage_type_t, storage_type_t.c.id == storage_t.c.storage_type_id)
        .join(cache_t, cache_t.c.id == storage_t.c.cache_option_id)
        .outerjoin(storage_ceph_t, storage_ceph_t.c.storage_id == storage_t.c.id)
        .outerjoin(pool_t, pool_t.c.id == storage_ceph_t.c.ceph_pool_id)
        .join(vm_t, vm_t.c.id == storage_t.c.vm_id)
        .outerjoin(node_method_t, node_method_t.c.id == vm_t.c.node_method_id)
        .where(scope())
        .order_by(storage_t.c.vm_id, storage_t.c.id)
    )
    return _VmStatements(
        vms,
        interfaces,
        addresses,
        disks,
        _snapshot_statement(scope),
        _routed_prefix_statement(scope),
        _clone_statement(scope),
        _backup_schedule_statement(scope),
        _restore_statement(scope),
    )


# --- issue 17: snapshots, routed /64s, clones, backups, restores (one statement each) -----------


def _in_scope(query: Select[Any], scope: Callable[[], ColumnElement[bool]]) -> Select[Any]:
    """``query`` (which joins vm) limited to the VMs in scope."""
    return query.outerjoin(node_method_t, node_method_t.c.id == vm_t.c.node_method_id).where(
        scope()
    )


def _snapshot_statement(scope: Callable[[], ColumnElement[bool]]) -> Select[Any]:
    query = (
        select(
            snapshot_t.c.storage_id,
            snapshot_t.c.id,
            snapshot_t.c.name,
            snapshot_t.c.requested_state,
            snapshot_t.c.state,
            snapshot_t.c.rollback,
        )
        .select_from(snapshot_t)
        .join(storage_t, storage_t.c.id == snapshot_t.c.storage_id)
        .join(vm_t, vm_t.c.id == storage_t.c.vm_id)
    )
    return _in_scope(query, scope).order_by(snapshot_t.c.storage_id, snapshot_t.c.id)


def _routed_prefix_statement(scope: Callable[[], ColumnElement[bool]]) -> Select[Any]:
    query = (
        select(routed_t.c.vm_interface_id, _raw(routed_t.c.prefix))
        .select_from(routed_t)
        .join(iface_t, iface_t.c.id == routed_t.c.vm_interface_id)
        .join(vm_t, vm_t.c.id == iface_t.c.vm_id)
    )
    return _in_scope(query, scope).order_by(routed_t.c.vm_interface_id)


def _clone_statement(scope: Callable[[], ColumnElement[bool]]) -> Select[Any]:
    base_pool = pool_t.alias("base_pool")
    query = (
        select(
            storage_t.c.id,
            base_image_t.c.name,
            base_image_t.c.size,
            base_image_t.c.source_url,
            base_pool.c.name.label("pool"),
        )
        .select_from(storage_t)
        .join(base_image_t, base_image_t.c.id == storage_t.c.base_image_id)
        .outerjoin(base_pool, base_pool.c.id == base_image_t.c.ceph_pool_id)
        .join(vm_t, vm_t.c.id == storage_t.c.vm_id)
    )
    return _in_scope(query, scope).order_by(storage_t.c.id)


def _backup_schedule_statement(scope: Callable[[], ColumnElement[bool]]) -> Select[Any]:
    one_disk = storage_t.alias("one_disk")
    query = (
        select(
            schedule_t.c.id,
            vm_t.c.id.label("vm_id"),
            schedule_t.c.storage_id,
            schedule_t.c.on_calendar,
            schedule_t.c.retention,
            backup_store_t.c.name,
            backup_store_t.c.kind,
            backup_store_t.c.target,
        )
        .select_from(schedule_t)
        .join(backup_store_t, backup_store_t.c.id == schedule_t.c.store_id)
        .outerjoin(one_disk, one_disk.c.id == schedule_t.c.storage_id)
        .join(vm_t, (vm_t.c.id == schedule_t.c.vm_id) | (vm_t.c.id == one_disk.c.vm_id))
    )
    return _in_scope(query, scope).order_by(schedule_t.c.id)


def _restore_statement(scope: Callable[[], ColumnElement[bool]]) -> Select[Any]:
    query = (
        select(
            restore_t.c.storage_id,
            backup_t.c.id,
            backup_t.c.vm_id,
            backup_t.c.storage_id.label("source_storage_id"),
            backup_t.c.started_at,
            backup_store_t.c.kind,
            backup_store_t.c.target,
            backup_store_t.c.name,
        )
        .select_from(restore_t)
        .join(backup_t, backup_t.c.id == restore_t.c.backup_id)
        .join(backup_store_t, backup_store_t.c.id == backup_t.c.store_id)
        .join(storage_t, storage_t.c.id == restore_t.c.storage_id)
        .join(vm_t, vm_t.c.id == storage_t.c.vm_id)
    )
    return _in_scope(query, scope).order_by(restore_t.c.storage_id)


def _add_backups(
    fetch: _Fetch,
    vms: dict[int, dict[str, Any]],
    disks: dict[int, Any],
    disk_vm: dict[int, int],
) -> None:
    """Each VM's backup timers (one systemd timer per schedule: which disks, when, how many
    to keep, where to) and each restored disk's source backup."""
    schedules = fetch("backup_schedules")
    disks_of: dict[int, list[int]] = {}
    if schedules:  # most hypervisors have none: skip sorting every disk for nothing
        for disk_id in sorted(disks):  # creation order, which names them (vda, vdb, …)
            disks_of.setdefault(disk_vm[disk_id], []).append(disk_id)
    for schedule_id, vm_id, storage_id, calendar, retention, store, kind, target in schedules:
        vm = vms[vm_id]
        covered = [storage_id] if storage_id is not None else disks_of.get(vm_id, [])
        vm["backups"].append(
            {
                "unit": f"virtapi-backup-{schedule_id}",
                "schedule_id": schedule_id,
                "on_calendar": calendar,
                "retention": retention,
                "store": {"name": store, "kind": kind, "target": target},
                "disks": [disks[disk_id][0]["name"] for disk_id in covered],
                # What the backup command reports each run against (POST …/runs storage_id).
                "storage_ids": covered,
            }
        )
    for storage_id, backup_id, vm_id, source_id, started, kind, target, store in fetch("restores"):
        source = f"vm{vm_id}-disk{source_id}"
        taken = started if isinstance(started, datetime) else datetime.fromisoformat(started)
        stamp = taken.astimezone(UTC).strftime(BACKUP_STAMP)
        disks[storage_id][0]["restore_from"] = {
            "backup_id": backup_id,
            "source": source,
            "taken_at": taken.isoformat(),
            "store": {"name": store, "kind": kind, "target": target},
            # Where the backup command put it (files/virtapi-backup: same layout).
            "copy": f"{source}/{stamp}.qcow2" if kind == "path" else f"{source}-{stamp}",
        }


# The UTC start time in the names of backup copies (files/virtapi-backup uses the same).
BACKUP_STAMP = "%Y%m%dT%H%M%S.%fZ"


def _backup_timers(vms: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The hypervisor's backup timers: each VM's, with the VM it backs up."""
    return [
        {**timer, "vm": vm["hostname"], "uuid": vm["uuid"]} for vm in vms for timer in vm["backups"]
    ]


def _add_clones(
    rows: Iterable[Sequence[Any]],
    disks: dict[int, Any],
    disk_vm: dict[int, int],
    storage_of: dict[int, tuple[str | None, str | None]],
) -> None:
    """Each cloned disk's base: what the hypervisor clones it from (copy-on-write)."""
    for storage_id, name, size, source_url, pool in rows:
        disk, disk_type, _base = disks[storage_id]
        vg_name, path = storage_of[disk_vm[storage_id]]
        disk["clone_of"] = {
            "name": name,
            "size": size,
            "source_url": source_url,
            **host_source(disk_type, name, pool, vg_name, path),
        }


def _base_images(vms: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The golden images this hypervisor's clones need, once each, by name."""
    bases = {
        (disk["type"], disk["clone_of"]["name"]): {"type": disk["type"], **disk["clone_of"]}
        for vm in vms
        for disk in vm["disks"]
        if disk["clone_of"]
    }
    return [bases[key] for key in sorted(bases)]


def _add_snapshots(rows: Iterable[Sequence[Any]], disks: dict[int, Any]) -> None:
    """Each disk's snapshots with what the host does for its storage type: make
    (requested present), remove (requested deleted), and roll back when asked."""
    for storage_id, snapshot_id, name, requested, state, rollback in rows:
        disk, disk_type, base = disks[storage_id]
        disk["snapshots"].append(
            {
                "id": snapshot_id,  # what the host reports against (POST /snapshots/<id>/report)
                "name": name,
                "ensure": "absent" if requested == "deleted" else "present",
                "state": state,
                "rollback": bool(rollback),
                **host_instructions(disk_type, disk, base, name),
            }
        )


def _add_routed_prefixes(rows: Iterable[Sequence[Any]], interfaces: dict[int, Any]) -> None:
    """Each interface's routed /64 (at most one), routed by the hypervisor to its bridge."""
    for iface_id, raw in rows:
        interfaces[iface_id]["routed_ipv6"] = f"{_address(raw, socket.AF_INET6)}/64"


def _ipv6_routes(vms: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The hypervisor's routes: each routed /64 via its interface's bridge."""
    return [
        {"prefix": iface["routed_ipv6"], "bridge": iface["bridge"]}
        for vm in vms
        for iface in vm["interfaces"]
        if iface["routed_ipv6"]
    ]


@dataclass(frozen=True)
class _Statements:
    node: Select[Any]
    node_addresses: Any
    in_sql: dict[str, dict[str, Any]]  # PostgreSQL: what else `_combined` reads, by kind
    monitors: Select[Any]
    virt_methods: Select[Any]
    vm_by_hostname: Select[Any]
    vm_by_uuid: Select[Any]
    remote_peers: Select[Any]
    by_hypervisor: _VmStatements
    by_vm: _VmStatements

    def sections(self, kind: str) -> dict[str, Any]:
        """What a document of `kind` reads once it knows the machine (`_Fetch`'s names)."""
        config = config_data.statements()
        if kind == "vm":
            return {**self.by_vm.sections(), **config}
        if kind == "hypervisor":
            return {
                "monitors": self.monitors,
                "virt_methods": self.virt_methods,
                **self.by_hypervisor.sections(),
                **config,
            }
        if kind == "ceph":
            return {"monitors": self.monitors, **config}
        return config


@cache
def _statements() -> _Statements:
    node = (
        select(
            node_t.c.id,
            node_t.c.fqdn,
            node_t.c.location,
            node_t.c.area,
            node_t.c.puppet_environment,
            node_state_t.c.name.label("state"),
            virt_node_t.c.id.label("virt_node_id"),
            virt_node_t.c.cores,
            virt_node_t.c.ram,
            virt_node_t.c.local_storage_gb,
            virt_node_t.c.vg_name,
            virt_node_t.c.local_storage_path,
            osd_t.c.id.label("osd_id"),
            mon_t.c.port.label("mon_port"),
            cluster_t.c.id.label("cluster_id"),
            cluster_t.c.fsid,
            cluster_t.c.public_network,
            cluster_t.c.cluster_network,
            client_t.c.name.label("client_name"),
            client_t.c.secret_uuid,
            client_t.c.key_encrypted.is_not(None).label("key_present"),
        )
        .select_from(node_t)
        .join(node_state_t, node_state_t.c.id == node_t.c.node_state_id)
        .outerjoin(virt_node_t, virt_node_t.c.node_id == node_t.c.id)
        .outerjoin(osd_t, osd_t.c.node_id == node_t.c.id)
        .outerjoin(mon_t, mon_t.c.node_id == node_t.c.id)
        # The node's Ceph cluster (its own choice, else its monitor's) and client (its own
        # choice, else the cluster's default) in the same row: no statement of their own.
        .outerjoin(
            cluster_t,
            cluster_t.c.id == func.coalesce(node_t.c.ceph_cluster_id, mon_t.c.ceph_cluster_id),
        )
        .outerjoin(
            client_t,
            or_(
                client_t.c.id == node_t.c.ceph_client_id,
                and_(
                    node_t.c.ceph_client_id.is_(None),
                    client_t.c.ceph_cluster_id == cluster_t.c.id,
                    client_t.c.is_default,
                ),
            ),
        )
        .where(node_t.c.fqdn == bindparam("fqdn"))
    )

    # Every statement below is an index lookup driven by ids this node's own data names
    # (its VLANs, its peers, its monitors), so its cost follows the node, not the fleet.
    # Written as semi-joins over "my VLANs" they were planned as hash joins over all of
    # vlan_member, vm_interface and vm (see docs/scale.md).
    def remote_peers(mine: ColumnElement[bool]) -> Select[Any]:
        return (
            select(member_t.c.vlan_id, virt_node_t.c.node_id)
            .select_from(member_t)
            .join(iface_t, iface_t.c.id == member_t.c.vm_interface_id)
            .join(vm_t, vm_t.c.id == iface_t.c.vm_id)
            .join(node_method_t, node_method_t.c.id == vm_t.c.node_method_id)
            .join(virt_node_t, virt_node_t.c.id == node_method_t.c.virt_node_id)
            .where(mine)
            .where(virt_node_t.c.id != bindparam("virt_node_id"))
            .distinct()
        )

    # The NICs and addresses (both families) of this node, the monitors and the VXLAN peers
    # in one statement, by vm_interface.node_id (indexed): purpose, name and MAC of each NIC,
    # each address with its network (prefix, gateway). Outer joins keep a NIC without
    # addresses (one row with NULLs per family).
    def node_addresses(nodes: Any) -> Any:
        return union_all(
            *(
                select(
                    iface_t.c.node_id,
                    iface_t.c.id.label("iface_id"),
                    _raw(address_t.c.address).label("address"),
                    iface_t.c.purpose,
                    iface_t.c.node_ifname,
                    type_coerce(iface_t.c.mac, String).label("mac"),
                    _raw(network_t.c.network).label("network"),
                    network_t.c.prefixlen,
                    _raw(network_t.c.gateway).label("gateway"),
                )
                .select_from(iface_t)
                .outerjoin(address_t, address_t.c.vm_interface_id == iface_t.c.id)
                .outerjoin(network_t, network_t.c.id == address_t.c.network_id)
                .where(iface_t.c.node_id.in_(nodes))
                for _, address_t, network_t, _ in FAMILIES
            )
        ).order_by("node_id", "iface_id", "address")

    # PostgreSQL: the peers and the underlay addresses as sections of the one statement, so
    # a hypervisor's document is two round trips (node, everything else). "My VLANs" and the
    # peers are materialized CTEs: each is computed once, and the planner joins the few ids
    # they hold to vlan_member and vm_interface by index instead of hashing those tables
    # whole (what the semi-join form got, see docs/scale.md).
    my_member, my_iface = member_t.alias("my_member"), iface_t.alias("my_iface")
    my_vm, my_method = vm_t.alias("my_vm"), node_method_t.alias("my_method")
    my_vlans = (
        select(my_member.c.vlan_id)
        .select_from(my_member)
        .join(my_iface, my_iface.c.id == my_member.c.vm_interface_id)
        .join(my_vm, my_vm.c.id == my_iface.c.vm_id)
        .join(my_method, my_method.c.id == my_vm.c.node_method_id)
        .where(my_method.c.virt_node_id == bindparam("scope"))
        .distinct()
        .cte("my_vlans")
        .prefix_with("MATERIALIZED")
    )
    peers = remote_peers(member_t.c.vlan_id.in_(select(my_vlans.c.vlan_id))).cte("vxlan_peers")
    peers = peers.prefix_with("MATERIALIZED")
    vxlan_peers = select(peers.c.vlan_id, peers.c.node_id).order_by(
        peers.c.vlan_id, peers.c.node_id
    )
    this_node = select(bindparam("node_row_id", type_=node_t.c.id.type))
    with_monitors = union_all(this_node, select(mon_t.c.node_id))
    in_sql = {
        "hypervisor": {
            "vxlan_peers": vxlan_peers,
            "node_addresses": node_addresses(
                union_all(this_node, select(mon_t.c.node_id), select(peers.c.node_id))
            ),
        },
        "ceph": {"node_addresses": node_addresses(with_monitors)},
        "node": {"node_addresses": node_addresses(this_node)},
    }
    monitors = (
        select(node_t.c.id, node_t.c.fqdn, mon_t.c.port, mon_t.c.ceph_cluster_id)
        .select_from(mon_t)
        .join(node_t, node_t.c.id == mon_t.c.node_id)
        .order_by(node_t.c.fqdn)
    )
    virt_methods = (
        select(virt_method_t.c.name)
        .select_from(node_method_t)
        .join(virt_method_t, virt_method_t.c.id == node_method_t.c.virt_method_id)
        .where(node_method_t.c.virt_node_id == bindparam("virt_node_id"))
        .order_by(virt_method_t.c.name)
    )
    vm_by_hostname = select(vm_t.c.id).where(vm_t.c.hostname == bindparam("name"))
    vm_by_uuid = select(vm_t.c.id).where(vm_t.c.uuid == bindparam("uuid", type_=vm_t.c.uuid.type))
    return _Statements(
        node=node,
        node_addresses=node_addresses(bindparam("node_ids", expanding=True)),
        in_sql=in_sql,
        monitors=monitors,
        virt_methods=virt_methods,
        vm_by_hostname=vm_by_hostname,
        vm_by_uuid=vm_by_uuid,
        remote_peers=remote_peers(member_t.c.vlan_id.in_(bindparam("vlan_ids", expanding=True))),
        by_hypervisor=_vm_statements(lambda: node_method_t.c.virt_node_id == bindparam("scope")),
        by_vm=_vm_statements(lambda: vm_t.c.id == bindparam("scope")),
    )


def canonical_json(data: Any) -> str:
    """Sorted keys, no whitespace: equal data gives equal bytes in every process."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def document_hash(document: dict[str, Any]) -> str:
    """The document's own hash (``X-Virtapi-Document``), whatever view renders it."""
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


# --- reading the sections: one statement each, or all in one on PostgreSQL ---------------------

# Columns that hold bytes (addresses): JSON carries them as bytea's text, ``\\x0a000001``.
_BYTES_COLUMNS = {"addresses": (1, 3), "routed_prefixes": (1,), "node_addresses": (2, 6, 8)}


@cache
def _combined(kind: str) -> Select[Any]:
    """PostgreSQL: every section of `kind` in one statement, one column per section holding
    a JSON array per selected column (``[[ids…], [names…], …]``), rows in the section's own
    order. One round trip instead of up to fifteen, and the rows arrive as lists parsed by
    the C JSON decoder instead of one Row object (and its type processing) each. The
    sections' statements are the portable ones.

    Column arrays rather than one array per row: PostgreSQL 15's json_build_array looks up
    how to format each argument on every call, array_to_json once per array, and the output
    is smaller (measured: server time -15 %, see docs/scale.md). The aggregates of one
    section run in one pass over the same rows, so the columns line up; the order is the
    section's ORDER BY in its subquery (an aggregate's own ORDER BY would sort once per
    column)."""
    statements = _statements()
    columns = []
    for name, statement in {**statements.sections(kind), **statements.in_sql.get(kind, {})}.items():
        # Only configuration levels come unordered (their reader orders them); anything else
        # would make the document's bytes, and its hash, depend on the plan.
        if not _order_keys(statement) and not name.startswith("config_"):
            raise RuntimeError(f"node document section {name} has no ORDER BY")
        sub = statement.subquery(name)
        aggregated = func.json_build_array(*(func.array_agg(column) for column in sub.c))
        columns.append(select(aggregated).scalar_subquery().label(name))
    return select(*columns)


def _order_keys(statement: Any) -> list[str]:
    """The statement's ORDER BY as names of its selected columns (every section orders by
    columns it selects)."""
    keys = []
    for clause in statement._order_by_clauses:
        element = getattr(clause, "element", clause)  # a label or column
        key = getattr(element, "key", None) or getattr(element, "name", None) or str(element)
        keys.append(key)
    return keys


class _Fetch:
    """The rows of a machine's sections by name, as sequences in each statement's order:
    one statement per section wherever it is called, or (PostgreSQL) all of them at the
    first call through `_combined`."""

    def __init__(self, conn: Any, kind: str, params: dict[str, Any], combined: bool) -> None:
        self.conn = conn
        self.kind = kind
        self.params = params
        self.combined = combined
        self.rows: dict[str, list[Any]] | None = None

    def __call__(self, name: str) -> list[Any]:
        if not self.combined:
            statement = _statements().sections(self.kind)[name]
            return self.conn.execute(statement, self.params).all()  # type: ignore[no-any-return]
        if self.rows is None:
            values = self.conn.execute(_combined(self.kind), self.params).one()._asdict()
            self.rows = {name: _rows(name, columns) for name, columns in values.items()}
        return self.rows[name]


def _rows(section: str, columns: list[list[Any]]) -> list[Any]:
    """A section's column arrays (`_combined`) as row tuples, bytes columns decoded."""
    if columns[0] is None:  # array_agg over no rows
        return []
    for i in _BYTES_COLUMNS.get(section, ()):
        columns[i] = [None if raw is None else bytes.fromhex(raw[2:]) for raw in columns[i]]
    return list(zip(*columns, strict=True))


def _fetch(conn: Any, kind: str, params: dict[str, Any], portable: bool) -> _Fetch:
    return _Fetch(conn, kind, params, not portable and conn.dialect.name == "postgresql")


# --- the document -------------------------------------------------------------------------------


def build_node_document(
    session: Session,
    certname: str,
    default_environment: str = DEFAULT_ENVIRONMENT,
    *,
    portable: bool = False,
) -> dict[str, Any] | None:
    """The node document for a node fqdn or a VM hostname/uuid; None if virtapi knows neither.

    ``portable=True`` reads with one statement per section on PostgreSQL too (tests compare
    both forms)."""
    statements = _statements()
    # Core statements through the session's connection: the session's transaction and
    # bind (primary or replica), without ORM entity processing.
    conn = session.connection()
    row = conn.execute(statements.node, {"fqdn": certname}).one_or_none()
    if row is not None:
        return _node_document(conn, statements, row, default_environment, portable)
    vm_id = conn.execute(statements.vm_by_hostname, {"name": certname}).scalar()
    if vm_id is None:
        try:
            vm_uuid = uuidlib.UUID(certname)
        except ValueError:
            return None
        vm_id = conn.execute(statements.vm_by_uuid, {"uuid": vm_uuid}).scalar()
        if vm_id is None:
            return None
    return _vm_document(conn, vm_id, certname, default_environment, portable)


def _node_document(
    conn: Any, statements: _Statements, row: Any, default_environment: str, portable: bool
) -> dict[str, Any]:
    is_hypervisor = row.virt_node_id is not None
    is_ceph = row.osd_id is not None or row.mon_port is not None
    roles = [
        role
        for role, present in (
            ("hypervisor", is_hypervisor),
            ("ceph_osd", row.osd_id is not None),
            ("ceph_mon", row.mon_port is not None),
        )
        if present
    ]

    kind = "hypervisor" if is_hypervisor else "ceph" if is_ceph else "node"
    params = {
        "scope": row.virt_node_id,
        "virt_node_id": row.virt_node_id,
        "node_row_id": row.id,
        **config_data.level_params("node", row.id, row.area, roles),
    }
    fetch = _fetch(conn, kind, params, portable)
    monitor_rows = fetch("monitors") if is_hypervisor or is_ceph else []
    vms: list[dict[str, Any]] = []
    virt_methods: list[str] = []
    peer_rows: Iterable[Sequence[Any]] = []
    vlan_vnis: dict[int, int] = {}
    if is_hypervisor:
        vms = _vms(fetch, vlan_vnis)
        virt_methods = [name for (name,) in fetch("virt_methods")]
    if fetch.combined:
        # PostgreSQL found the peers and read every address in the same statement.
        peer_rows = fetch("vxlan_peers") if is_hypervisor else []
        address_rows = fetch("node_addresses")
    else:
        # Ids first (monitors, this hypervisor's VMs and VLANs, the peers sharing them), then
        # the underlay addresses of exactly those nodes: two queries, index lookups by node id.
        if vlan_vnis:
            peer_rows = conn.execute(
                statements.remote_peers,
                {"vlan_ids": sorted(vlan_vnis), "virt_node_id": row.virt_node_id},
            ).all()
        node_ids = {row.id, *(m[0] for m in monitor_rows), *(node_id for _, node_id in peer_rows)}
        address_rows = conn.execute(statements.node_addresses, {"node_ids": sorted(node_ids)}).all()
    peers = [(vlan_vnis[vlan_id], node_id) for vlan_id, node_id in peer_rows]
    nics = _node_nics(address_rows)
    underlay = {node_id: node.underlay() for node_id, node in nics.items()}
    own_nics = nics.get(row.id, _NodeNics())
    own = own_nics.all_addresses()
    underlay_ipv4, underlay_ipv6 = (
        (underlay[row.id][key] or [None])[0] if row.id in underlay else None
        for key in ("ipv4", "ipv6")
    )

    document: dict[str, Any] = {
        "certname": row.fqdn,
        "kind": "node",
        "roles": roles,
        "environment": row.puppet_environment or default_environment,
        "node": {
            "fqdn": row.fqdn,
            "location": row.location,
            "area": row.area,
            "state": row.state,
            "ipv4": own["ipv4"],
            "ipv6": own["ipv6"],
            "underlay_ipv4": underlay_ipv4,
            "underlay_ipv6": underlay_ipv6,
            "interfaces": own_nics.by_purpose(),
        },
    }

    # Hypervisors need the monitors too: libvirt's rbd disks name them. A monitor is
    # reached on the storage network when it has one.
    monitors: list[dict[str, Any]] = []
    cluster_monitors: list[dict[str, Any]] = []
    storage_networks = set(own_nics.networks("storage"))
    for node_id, fqdn, port, cluster_id in monitor_rows:
        monitor = nics.get(node_id, _NodeNics())
        addresses = monitor.purpose_addresses("storage")
        if not (addresses["ipv4"] or addresses["ipv6"]):
            addresses = underlay.get(node_id) or addresses
        address = (addresses.get("ipv4") or addresses.get("ipv6") or [None])[0]
        monitors.append({"fqdn": fqdn, "address": address, "port": port})
        storage_networks.update(monitor.networks("storage"))
        if cluster_id is not None and cluster_id == row.cluster_id:
            cluster_monitors.append(monitors[-1])
    # Ceph's public network: the storage networks of this node and the monitors (None
    # without any); there is no separate replication purpose, so the cluster network is the
    # same (what Ceph does when cluster_network is unset, said explicitly). The cluster's
    # inventory row, where it states them, wins.
    ceph_networks = _ceph_networks(storage_networks)
    cluster = _ceph_cluster(row, cluster_monitors, ceph_networks)
    client = _ceph_client(row)

    if is_hypervisor:
        document["hypervisor"] = {
            "virt_methods": virt_methods,
            "cores": row.cores,
            "ram": row.ram,
            "local_storage_gb": row.local_storage_gb,
            "vg_name": row.vg_name,
            "local_storage_path": row.local_storage_path,
            "underlay_ipv4": underlay_ipv4,
            "underlay_ipv6": underlay_ipv6,
            "ceph_monitors": monitors,
            "vms": vms,
            "vxlans": _vxlans(vms, peers, underlay),
            "ipv6_routes": _ipv6_routes(vms),
            "base_images": _base_images(vms),
            "backup_timers": _backup_timers(vms),
        }
        if cluster is not None:
            document["hypervisor"]["ceph_cluster"] = cluster
        if client is not None:
            document["hypervisor"]["ceph_client"] = client

    if is_ceph:
        ceph: dict[str, Any] = {}
        if row.mon_port is not None:
            ceph["mon_port"] = row.mon_port
        ceph["monitors"] = monitors
        ceph["mon_host"] = ",".join(_mon_addr(m) for m in monitors if m["address"])
        if cluster is not None:
            ceph["cluster"] = dict(cluster)
        if client is not None:
            ceph["client"] = client
        document["ceph"] = ceph
    # Issue 18: classes and data assigned by level (global, area, role, groups, node).
    document["config"] = config_data.document_section(
        config_data.ordered_levels(
            fetch("config_levels"), fetch("config_groups"), "node", row.id, row.area, roles
        )
    )
    return document


def _ceph_cluster(
    row: Any, monitors: list[dict[str, Any]], networks: dict[str, str]
) -> dict[str, Any] | None:
    """The node's cluster as ceph.conf needs it; unknown values are left out, not null.

    Without a cluster in the inventory, the storage networks alone (``networks``)."""
    if row.cluster_id is None:
        return dict(networks) or None
    cluster = {
        "fsid": str(row.fsid) if row.fsid is not None else None,
        "mon_host": ",".join(_mon_addr(m) for m in monitors if m["address"]) or None,
        "public_network": row.public_network or networks.get("public_network"),
        "cluster_network": row.cluster_network or networks.get("cluster_network"),
    }
    return {key: value for key, value in cluster.items() if value is not None}


def _ceph_client(row: Any) -> dict[str, Any] | None:
    """The cephx user: never its key (services/document_secrets adds it per request)."""
    if row.client_name is None:
        return None
    return {
        "name": row.client_name,
        "secret_uuid": str(row.secret_uuid),
        "key_secret_present": bool(row.key_present),
    }


class _NodeNics:
    """One node's NICs from the node_addresses rows: by id, in id order, with addresses."""

    def __init__(self) -> None:
        self.nics: dict[int, dict[str, Any]] = {}
        self.nets: dict[int, dict[str, list[str]]] = {}  # NIC id -> family -> network CIDRs

    def add(self, iface_id: int, purpose: str | None, name: str | None, mac: str) -> dict[str, Any]:
        nic = self.nics.get(iface_id)
        if nic is None:
            nic = self.nics[iface_id] = {
                "name": name,
                "mac": mac,
                "purpose": purpose,
                "ipv4": [],
                "ipv6": [],
            }
            self.nets[iface_id] = {"ipv4": [], "ipv6": []}
        return nic

    def all_addresses(self) -> dict[str, list[str]]:
        return {
            key: [a["address"] for nic in self.nics.values() for a in nic[key]]
            for key in ("ipv4", "ipv6")
        }

    def purpose_addresses(self, purpose: str) -> dict[str, list[str]]:
        nics = [n for n in self.nics.values() if n["purpose"] == purpose]
        return {key: [a["address"] for n in nics for a in n[key]] for key in ("ipv4", "ipv6")}

    def underlay(self) -> dict[str, list[str]]:
        """The addresses VXLAN runs over: the underlay NICs', or (no underlay NIC with an
        address) every NIC's, as before purposes existed."""
        chosen = self.purpose_addresses("underlay")
        return chosen if chosen["ipv4"] or chosen["ipv6"] else self.all_addresses()

    def networks(self, purpose: str) -> list[str]:
        return [
            cidr
            for iface_id, nic in self.nics.items()
            if nic["purpose"] == purpose
            for key in ("ipv4", "ipv6")
            for cidr in self.nets[iface_id][key]
        ]

    def by_purpose(self) -> dict[str, list[dict[str, Any]]]:
        """The NICs that have a purpose, grouped by it (NICs without one stay out)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for nic in self.nics.values():
            if nic["purpose"] is not None:
                entry = {k: v for k, v in nic.items() if k != "purpose"}
                out.setdefault(nic["purpose"], []).append(entry)
        return out


def _node_nics(rows: Iterable[Any]) -> dict[int, _NodeNics]:
    """node id -> its NICs, from the rows of the node_addresses statement."""
    nodes: dict[int, _NodeNics] = defaultdict(_NodeNics)
    for node_id, iface_id, raw, purpose, name, mac, net_raw, prefixlen, gateway in rows:
        node = nodes[node_id]
        nic = node.add(iface_id, purpose, name or f"node{node_id}-{iface_id}", mac)
        if raw is None:
            continue
        key, family = _FAMILY_OF_WIDTH[len(raw)]
        nic[key].append(
            {
                "address": socket.inet_ntop(family, bytes(raw)),
                "prefixlen": prefixlen,
                "gateway": _address(gateway, family),
            }
        )
        cidr = f"{socket.inet_ntop(family, bytes(net_raw))}/{prefixlen}"
        if cidr not in node.nets[iface_id][key]:
            node.nets[iface_id][key].append(cidr)
    return nodes


def _ceph_networks(cidrs: set[str]) -> dict[str, str]:
    """public_network and cluster_network from storage network CIDRs (IPv4 first, then by
    address); empty without any."""
    if not cidrs:
        return {}

    def key(cidr: str) -> tuple[bool, bytes]:
        address = cidr.split("/")[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return family == socket.AF_INET6, socket.inet_pton(family, address)

    ordered = sorted(cidrs, key=key)
    joined = ",".join(ordered)
    return {"public_network": joined, "cluster_network": joined}


def _mon_addr(monitor: dict[str, Any]) -> str:
    address = monitor["address"]
    if ":" in address:  # IPv6 needs brackets before the port
        return f"[{address}]:{monitor['port']}"
    return f"{address}:{monitor['port']}"


def _vms(fetch: _Fetch, vlan_vnis: dict[int, int] | None = None) -> list[dict[str, Any]]:
    """Every VM in scope with interfaces, VLANs, addresses and disks (the `_VmStatements`
    sections). `vlan_vnis`, if given, is filled with the VNI of every VLAN id met."""
    vms: dict[int, dict[str, Any]] = {}
    storage_of: dict[int, tuple[str | None, str | None]] = {}
    # Rows are unpacked as tuples: attribute access on Row objects costs more, and this
    # loop runs once per VM, interface, address and disk.
    for (
        vm_id,
        vm_uuid,
        hostname,
        customer_id,
        cores,
        ram,
        cputime_limit,
        requested_state,
        virt_method,
        hypervisor,
        vg_name,
        storage_path,
    ) in fetch("vms"):
        vms[vm_id] = {
            "uuid": str(vm_uuid),
            "hostname": hostname,
            "customer_id": customer_id,
            "cores": cores,
            "ram": ram,
            "ram_mib": ram // 1048576,
            "cputime_limit": cputime_limit,
            # The actual state is the host's report, not configuration: keeping it out
            # keeps reports from changing documents (see services/audit.REPORTED).
            "requested_state": requested_state,
            "virt_method": virt_method,
            "hypervisor": hypervisor,
            "interfaces": [],
            "disks": [],
            "backups": [],
        }
        storage_of[vm_id] = (vg_name, storage_path.rstrip("/") if storage_path else None)
    if not vms:
        return []

    interfaces: dict[int, dict[str, Any]] = {}
    for iface_id, vm_id, mac, vni, name, vlan_id in fetch("interfaces"):
        iface = interfaces.get(iface_id)
        if iface is None:
            iface = interfaces[iface_id] = {
                "name": f"{vm_id}-{iface_id}",
                "bridge": f"br-{vm_id}-{iface_id}",
                "mac": mac,
                "vnis": [],
                "vlans": [],
                "ipv4": [],
                "ipv6": [],
                "routed_ipv6": None,
            }
            vms[vm_id]["interfaces"].append(iface)
        if vni is not None:
            if vlan_vnis is not None:
                vlan_vnis[vlan_id] = vni
            iface["vnis"].append(vni)
            iface["vlans"].append({"vni": vni, "name": name})

    gateways: dict[Any, str | None] = {None: None}  # a network's gateway, formatted once
    for iface_id, raw, prefixlen, gateway in fetch("addresses"):
        key, family = _FAMILY_OF_WIDTH[len(raw)]
        gateway_text = gateways.get(gateway, _MISSING)
        if gateway_text is _MISSING:
            gateway_text = gateways[gateway] = _address(gateway, family)
        interfaces[iface_id][key].append(
            {
                "address": socket.inet_ntop(family, bytes(raw)),
                "prefixlen": prefixlen,
                "gateway": gateway_text,
            }
        )
    _add_routed_prefixes(fetch("routed_prefixes"), interfaces)

    disk_entries: dict[int, Any] = {}
    disk_vm: dict[int, int] = {}
    for (
        disk_id,
        vm_id,
        size,
        disk_type,
        cache_mode,
        read_iops,
        write_iops,
        read_bps,
        write_bps,
        discard,
        pool,
    ) in fetch("disks"):
        disks = vms[vm_id]["disks"]
        disk: dict[str, Any] = {
            "name": _DISK_NAMES[len(disks)] if len(disks) < 26 else disk_name(len(disks)),
            "type": disk_type,
            "size": size,
            "cache": cache_mode,
            "read_iops_limit": read_iops,
            "write_iops_limit": write_iops,
            "read_bytes_sec_limit": read_bps,
            "write_bytes_sec_limit": write_bps,
            # Only Ceph disks record discard; local thin LVs and sparse files want it too.
            "discard": True if discard is None else bool(discard),
            "snapshots": [],
            "clone_of": None,
            "restore_from": None,
        }
        vg_name, storage_path = storage_of[vm_id]
        base = f"vm{vm_id}-disk{disk_id}"
        if disk_type == "lvm":
            disk["lv"] = f"{vg_name}/{base}" if vg_name else None
        elif disk_type == "ceph":
            disk["pool"] = pool
            disk["image"] = base
        else:
            disk["path"] = f"{storage_path}/{base}.{disk_type}" if storage_path else None
        disks.append(disk)
        disk_entries[disk_id] = (disk, disk_type, base)
        disk_vm[disk_id] = vm_id
    _add_snapshots(fetch("snapshots"), disk_entries)
    _add_clones(fetch("clones"), disk_entries, disk_vm, storage_of)
    _add_backups(fetch, vms, disk_entries, disk_vm)
    return list(vms.values())


def _vxlans(
    vms: Iterable[dict[str, Any]],
    peers: Iterable[tuple[int, int]],
    underlay: dict[int, dict[str, list[str]]],
) -> list[dict[str, Any]]:
    """One entry per VNI on this hypervisor: its local bridges and the underlay addresses
    of the other hypervisors carrying the same VNI (the head-end replication list);
    `peers` holds (vni, node id) of those other hypervisors."""
    local: dict[int, dict[str, Any]] = {}
    for vm in vms:
        for iface in vm["interfaces"]:
            for vlan in iface["vlans"]:
                # get, not setdefault: a VNI is met once per member interface, and setdefault
                # would build (and drop) a new entry each time.
                entry = local.get(vlan["vni"])
                if entry is None:
                    entry = local[vlan["vni"]] = {
                        "vni": vlan["vni"],
                        "name": vlan["name"],
                        "bridges": [],
                        "remotes_ipv4": set(),
                        "remotes_ipv6": set(),
                    }
                entry["bridges"].append(iface["bridge"])
    if not local:
        return []
    for vni, node_id in peers:
        peer = underlay.get(node_id)
        if peer is None:
            continue  # a hypervisor without underlay address cannot be reached anyway
        if peer["ipv4"]:
            local[vni]["remotes_ipv4"].add(peer["ipv4"][0])
        if peer["ipv6"]:
            local[vni]["remotes_ipv6"].add(peer["ipv6"][0])
    result = []
    for vni in sorted(local):
        entry = local[vni]
        # Numeric order, so the document (and its ETag) does not depend on row order.
        entry["remotes_ipv4"] = _sorted_addresses(entry["remotes_ipv4"], socket.AF_INET)
        entry["remotes_ipv6"] = _sorted_addresses(entry["remotes_ipv6"], socket.AF_INET6)
        result.append(entry)
    return result


def _sorted_addresses(addresses: set[str], family: int) -> list[str]:
    if len(addresses) < 2:  # most VNIs stay on one hypervisor: nothing to order
        return list(addresses)
    return sorted(addresses, key=lambda a: socket.inet_pton(family, a))


def _vm_document(
    conn: Any, vm_id: int, certname: str, default_environment: str, portable: bool
) -> dict[str, Any]:
    fetch = _fetch(
        conn,
        "vm",
        {"scope": vm_id, **config_data.level_params("vm", vm_id, None, ("vm",))},
        portable,
    )
    vm = _vms(fetch)[0]
    vm["gateways"] = {
        family: sorted({a["gateway"] for i in vm["interfaces"] for a in i[family] if a["gateway"]})
        for family in ("ipv4", "ipv6")
    }
    vlans = {(v["vni"], v["name"]) for i in vm["interfaces"] for v in i["vlans"]}
    vm["vlans"] = [{"vni": vni, "name": name} for vni, name in sorted(vlans)]
    return {
        "certname": certname,
        "kind": "vm",
        "roles": ["guest"],
        "environment": default_environment,
        "vm": vm,
        "config": config_data.document_section(
            config_data.ordered_levels(
                fetch("config_levels"), fetch("config_groups"), "vm", vm_id, None, ("vm",)
            )
        ),
    }
