"""Export: the whole inventory as a plain dict in the import format, one function per section.

A constant number of queries whatever the fleet size; lists are sorted by natural key
(interfaces and disks keep their creation order, which names them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...models import (
    BackupSchedule,
    BackupStore,
    BaseImage,
    CacheOption,
    CephClient,
    CephCluster,
    CephMonNode,
    CephOsdNode,
    CephPool,
    Ipv6PrefixPool,
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
from ...models.network import ADDRESS_MODELS, NETWORK_MODELS
from ...models.storage import LIMIT_COLUMNS
from .config import export_config
from .schema import FORMAT_VERSION


def names(session: Session, model: type) -> dict[int, str]:
    """A vocabulary table as ``{id: name}``."""
    return dict(session.execute(select(model.id, model.name)).all())  # type: ignore[attr-defined]


def _group(pairs: Iterable[tuple[Any, Any]]) -> dict[Any, list[Any]]:
    out: dict[Any, list[Any]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return out


def export_inventory(session: Session) -> dict[str, Any]:
    """The whole inventory as a plain dict in the import format, keyed by natural keys only."""
    vlans = session.execute(
        select(Vlan.id, Vlan.vni, Vlan.name, Vlan.customer_id, Vlan.description)
    ).all()
    vni_of = {v.id: v.vni for v in vlans}
    clusters = names(session, CephCluster)
    pools = {
        pid: (name, desc, clusters.get(cluster_id))
        for pid, name, desc, cluster_id in session.execute(
            select(CephPool.id, CephPool.name, CephPool.description, CephPool.ceph_cluster_id)
        )
    }
    addresses, free = _addresses(session)
    node_ifaces, vm_ifaces = _interfaces(session, addresses)
    stores = names(session, BackupStore)
    schedules = _schedules(session, stores)
    images = names(session, BaseImage)
    methods = names(session, VirtMethod)
    node_method_rows = session.execute(
        select(NodeMethod.id, VirtNode.node_id, NodeMethod.virt_method_id).join(VirtNode)
    ).all()
    nodes, fqdn_of = _nodes(session, node_ifaces, methods, node_method_rows, clusters)
    # Under READ COMMITTED a node may vanish between two of these queries; skip, don't fail.
    placement_of = {
        r.id: {"hypervisor": fqdn_of[r.node_id], "method": methods[r.virt_method_id]}
        for r in node_method_rows
        if r.node_id in fqdn_of
    }
    return {
        "version": FORMAT_VERSION,
        "nodes": nodes,
        "networks": _networks(session, vni_of, free),
        "vlans": [
            {
                "vni": v.vni,
                "name": v.name,
                "customer_id": v.customer_id,
                "description": v.description,
            }
            for v in sorted(vlans, key=lambda v: v.vni)
        ],  # fmt: skip
        "ceph_clusters": _clusters(session),
        "ceph_pools": [
            {"name": name, "description": desc, "cluster": cluster}
            for name, desc, cluster in sorted(pools.values(), key=lambda p: p[0])
        ],
        "vms": _vms(
            session, vm_ifaces, placement_of, _disks(session, pools, images, schedules), schedules
        ),
        "backup_stores": [
            {"name": r.name, "kind": r.kind, "target": r.target, "description": r.description}
            for r in session.scalars(select(BackupStore).order_by(BackupStore.name))
        ],
        "base_images": _base_images(session, pools),
        "prefix_pools": [
            {"prefix": str(r.cidr), "description": r.description}
            for r in session.scalars(select(Ipv6PrefixPool).order_by(Ipv6PrefixPool.network))
        ],
        "config": export_config(session),  # issue 18
    }


def _clusters(session: Session) -> list[dict[str, Any]]:
    """Clusters with their clients, never a key: columns are named one by one, and
    ``key_encrypted`` (marked secret) is not among them."""
    clients = _group(
        (r.ceph_cluster_id, {"name": r.name, "caps": r.caps,
                             "secret_uuid": str(r.secret_uuid), "is_default": r.is_default})
        for r in session.execute(
            select(CephClient.ceph_cluster_id, CephClient.name, CephClient.caps,
                   CephClient.secret_uuid, CephClient.is_default).order_by(CephClient.name)
        )
    )  # fmt: skip
    return [
        {
            "name": r.name,
            "fsid": None if r.fsid is None else str(r.fsid),
            "public_network": r.public_network,
            "cluster_network": r.cluster_network,
            "description": r.description,
            "clients": clients.get(r.id, []),
        }
        for r in session.execute(
            select(CephCluster.id, CephCluster.name, CephCluster.fsid, CephCluster.public_network,
                   CephCluster.cluster_network, CephCluster.description).order_by(CephCluster.name)
        )
    ]  # fmt: skip


def _base_images(session: Session, pools: dict[int, tuple[str, str]]) -> list[dict[str, Any]]:
    storage_types = names(session, StorageType)
    return [
        {
            "name": r.name,
            "storage_type": storage_types[r.storage_type_id],
            "ceph_pool": None if r.ceph_pool_id is None else pools[r.ceph_pool_id][0],
            "size": r.size,
            "source_url": r.source_url,
            "description": r.description,
        }
        for r in session.execute(
            select(BaseImage.name, BaseImage.storage_type_id, BaseImage.ceph_pool_id,
                   BaseImage.size, BaseImage.source_url, BaseImage.description)
            .order_by(BaseImage.name)
        )
    ]  # fmt: skip


def _schedules(session: Session, stores: dict[int, str]) -> dict[tuple[str, int], list[dict]]:
    """Backup schedules by ("vm", VM id) or ("disk", disk id), in creation order."""
    return _group(
        (
            ("vm", r.vm_id) if r.vm_id is not None else ("disk", r.storage_id),
            {"store": stores[r.store_id], "on_calendar": r.on_calendar, "retention": r.retention},
        )
        for r in session.execute(
            select(BackupSchedule.vm_id, BackupSchedule.storage_id, BackupSchedule.store_id,
                   BackupSchedule.on_calendar, BackupSchedule.retention)
            .order_by(BackupSchedule.id)
        )
    )  # fmt: skip


def _addresses(session: Session) -> tuple[dict[int, list[str]], dict[tuple[int, int], list[str]]]:
    """Assigned addresses per interface id (IPv4 first, each sorted) and free ones per network."""
    by_iface: dict[int, list[str]] = {}
    free: dict[tuple[int, int], list[str]] = {}
    for version, model in ADDRESS_MODELS.items():
        rows = session.execute(
            select(model.address, model.network_id, model.vm_interface_id).order_by(model.address)
        )
        for address, network_id, iface_id in rows:
            if iface_id is None:
                free.setdefault((version, network_id), []).append(str(address))
            else:
                by_iface.setdefault(iface_id, []).append(str(address))
    return by_iface, free


def _networks(
    session: Session, vni_of: dict[int, int], free: dict[tuple[int, int], list[str]]
) -> dict[str, list[dict[str, Any]]]:
    networks: dict[str, list[dict[str, Any]]] = {}
    for version, model in NETWORK_MODELS.items():
        rows = session.execute(
            select(model.id, model.network, model.prefixlen, model.gateway, model.vlan_id,
                   model.description, model.purpose).order_by(model.network, model.prefixlen)
        )  # fmt: skip
        networks[f"ipv{version}"] = [
            {
                "cidr": f"{r.network}/{r.prefixlen}",
                "gateway": None if r.gateway is None else str(r.gateway),
                "vlan": vni_of.get(r.vlan_id),
                "description": r.description,
                "purpose": r.purpose,
                "unassigned": free.get((version, r.id), []),
            }
            for r in rows
        ]
    return networks


def _interfaces(
    session: Session, addresses: dict[int, list[str]]
) -> tuple[dict[int, list[dict[str, Any]]], dict[int, list[dict[str, Any]]]]:
    """Node interfaces by node id and VM interfaces by VM id, in creation order."""
    iface_rows = session.execute(
        select(VmInterface.id, VmInterface.mac, VmInterface.vm_id, VmInterface.node_id,
               VmInterface.node_ifname, VmInterface.purpose).order_by(VmInterface.id)
    ).all()  # fmt: skip
    iface_vlans = _group(
        session.execute(
            select(vlan_member.c.vm_interface_id, Vlan.vni)
            .join(Vlan, Vlan.id == vlan_member.c.vlan_id)
            .order_by(Vlan.vni)
        )
    )
    routed = {
        iface_id: f"{prefix}/64"
        for iface_id, prefix in session.execute(
            select(Ipv6RoutedPrefix.vm_interface_id, Ipv6RoutedPrefix.prefix)
        )
    }
    node_ifaces: dict[int, list[dict[str, Any]]] = {}
    vm_ifaces: dict[int, list[dict[str, Any]]] = {}
    for r in iface_rows:
        listed = addresses.get(r.id, [])
        if r.node_id is not None:
            node_ifaces.setdefault(r.node_id, []).append(
                {
                    "name": r.node_ifname,
                    "mac": str(r.mac),
                    "purpose": r.purpose,
                    "addresses": listed,
                }  # fmt: skip
            )
        else:
            vm_ifaces.setdefault(r.vm_id, []).append(
                {
                    "mac": str(r.mac),
                    "vlans": iface_vlans.get(r.id, []),
                    "addresses": listed,
                    "routed_prefix": routed.get(r.id),
                }
            )
    return node_ifaces, vm_ifaces


def _nodes(
    session: Session,
    node_ifaces: dict[int, list[dict[str, Any]]],
    methods: dict[int, str],
    node_method_rows: list[Any],
    clusters: dict[int, str],
) -> tuple[list[dict[str, Any]], dict[int, str]]:
    node_states = names(session, NodeState)
    virt_nodes = {r.node_id: r for r in session.scalars(select(VirtNode))}
    methods_of = _group((r.node_id, methods[r.virt_method_id]) for r in node_method_rows)
    osd = set(session.scalars(select(CephOsdNode.node_id)))
    mons = {
        r.node_id: {"port": r.port, "cluster": clusters.get(r.ceph_cluster_id)}
        for r in session.execute(
            select(CephMonNode.node_id, CephMonNode.port, CephMonNode.ceph_cluster_id)
        )
    }
    client_names = dict(session.execute(select(CephClient.id, CephClient.name)).all())
    nodes = []
    fqdn_of: dict[int, str] = {}
    for r in session.execute(
        select(Node.id, Node.fqdn, Node.location, Node.area, Node.node_state_id,
               Node.puppet_environment, Node.ceph_cluster_id, Node.ceph_client_id)
        .order_by(Node.fqdn)
    ):  # fmt: skip
        fqdn_of[r.id] = r.fqdn
        vn = virt_nodes.get(r.id)
        nodes.append(
            {
                "fqdn": r.fqdn,
                "location": r.location,
                "area": r.area,
                "state": node_states[r.node_state_id],
                "puppet_environment": r.puppet_environment,
                "hypervisor": None
                if vn is None
                else {
                    "cores": vn.cores,
                    "ram": vn.ram,
                    "local_storage_gb": vn.local_storage_gb,
                    "vg_name": vn.vg_name,
                    "local_storage_path": vn.local_storage_path,
                    "methods": sorted(methods_of.get(r.id, [])),
                },
                "ceph_osd": r.id in osd,
                "ceph_mon": mons.get(r.id),
                "ceph_cluster": clusters.get(r.ceph_cluster_id),
                "ceph_client": client_names.get(r.ceph_client_id),
                "interfaces": node_ifaces.get(r.id, []),
            }
        )
    return nodes, fqdn_of


def _disks(
    session: Session,
    pools: dict[int, tuple[str, str]],
    images: dict[int, str],
    schedules: dict[tuple[str, int], list[dict]],
) -> dict[int, list[dict]]:
    storage_types = names(session, StorageType)
    cache_options = names(session, CacheOption)
    ceph_of = {
        r.storage_id: {"pool": pools[r.ceph_pool_id][0], "discard": r.discard}
        for r in session.execute(
            select(StorageCeph.storage_id, StorageCeph.ceph_pool_id, StorageCeph.discard)
        )
    }
    snapshots_of = _group(
        (r.storage_id, {"name": r.name, "requested_state": r.requested_state,
                        "state": r.state, "rollback": r.rollback})
        for r in session.execute(
            select(Snapshot.storage_id, Snapshot.name, Snapshot.requested_state, Snapshot.state,
                   Snapshot.rollback).order_by(Snapshot.name)
        )
    )  # fmt: skip
    return _group(
        (
            r.vm_id,
            {
                "type": storage_types[r.storage_type_id],
                "size": r.size,
                "cache": cache_options[r.cache_option_id],
                **{c: getattr(r, c) for c in LIMIT_COLUMNS},
                "ceph": ceph_of.get(r.id),
                "base_image": images.get(r.base_image_id),
                "snapshots": snapshots_of.get(r.id, []),
                "backup_schedules": schedules.get(("disk", r.id), []),
            },
        )
        for r in session.execute(
            select(Storage.id, Storage.vm_id, Storage.size, Storage.storage_type_id,
                   Storage.cache_option_id, Storage.base_image_id,
                   *(getattr(Storage, c) for c in LIMIT_COLUMNS))
            .order_by(Storage.id)
        )
    )  # fmt: skip


def _vms(
    session: Session,
    vm_ifaces: dict[int, list[dict[str, Any]]],
    placement_of: dict[int, dict[str, str]],
    disks: dict[int, list[dict]],
    schedules: dict[tuple[str, int], list[dict]],
) -> list[dict[str, Any]]:
    vm_states = names(session, VmState)
    return [
        {
            "hostname": r.hostname,
            "uuid": str(r.uuid),
            "customer_id": r.customer_id,
            "cores": r.cores,
            "ram": r.ram,
            "cputime_limit": r.cputime_limit,
            "requested_state": vm_states[r.requested_state_id],
            "actual_state": vm_states[r.actual_state_id],
            "placement": placement_of.get(r.node_method_id),
            "interfaces": vm_ifaces.get(r.id, []),
            "disks": disks.get(r.id, []),
            "backup_schedules": schedules.get(("vm", r.id), []),
        }
        for r in session.execute(
            select(Vm.id, Vm.hostname, Vm.uuid, Vm.customer_id, Vm.cores, Vm.ram,
                   Vm.cputime_limit, Vm.requested_state_id, Vm.actual_state_id,
                   Vm.node_method_id).order_by(Vm.hostname)
        )
    ]  # fmt: skip
