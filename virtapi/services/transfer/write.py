"""Import, step 3: write a checked document in the caller's transaction, one function per
table family.

A few multi-row inserts per table (COPY on PostgreSQL, see ``services/bulk``) instead of one
ORM object per row; the change log gets one row per created object through
``audit.record_bulk_create`` (the flush hook never sees Core inserts). Each section returns
the ids the later ones refer to.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import netaddr
from sqlalchemy.orm import Session

from ...models import (
    BackupSchedule,
    BackupStore,
    BaseImage,
    CephClient,
    CephCluster,
    CephMonNode,
    CephOsdNode,
    CephPool,
    Ipv6PrefixPool,
    Ipv6RoutedPrefix,
    Node,
    NodeMethod,
    Snapshot,
    Storage,
    StorageCeph,
    VirtNode,
    Vlan,
    Vm,
    VmInterface,
    vlan_member,
)
from ...models.base import utcnow
from ...models.network import ADDRESS_MODELS, NETWORK_MODELS
from ...models.storage import LIMIT_COLUMNS
from ..audit import record_bulk_create
from ..bulk import analyze, insert_rows
from .check import Plan


@dataclass
class ImportSummary:
    counts: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return "imported " + ", ".join(f"{n} {what}" for what, n in self.counts.items())


Rows = list[dict[str, Any]]

# Rows of one table from which the import refreshes that table's planner statistics.
_ANALYZE = 1000


class _Writer:
    """Inserts rows and remembers, for the change log, what was created for which customer."""

    def __init__(self, session: Session, plan: Plan) -> None:
        self.session = session
        self.plan = plan
        self.now: datetime = utcnow()
        self.audit: list[tuple[Any, Rows, list[int | None], list[dict] | None]] = []

    def insert(
        self,
        model: Any,
        rows: Rows,
        customers: list[int | None] | None = None,
        extras: list[dict] | None = None,
        *,
        ids: bool = True,
    ) -> Rows:
        """Multi-row insert; with ``ids`` each row dict gets its new ``id`` (in row order)."""
        insert_rows(self.session, model.__table__, rows, ids=ids)
        self.audit.append((model, rows, customers or [None] * len(rows), extras))
        return rows

    def record(self) -> None:
        # The certname resolution below joins the new rows: the planner must know they exist
        # (a small import leaves the statistics about right and skips the cost).
        tables = [model.__table__ for model, rows, _, _ in self.audit if len(rows) >= _ANALYZE]
        analyze(self.session, [*tables, vlan_member] if tables else [])
        for model, rows, customers, extras in self.audit:
            record_bulk_create(self.session, model, rows, customers, extras, now=self.now)


def write(session: Session, data: dict[str, Any], plan: Plan) -> ImportSummary:
    """Insert everything ``data`` holds; ``plan`` has the ids of what already existed."""
    w = _Writer(session, plan)
    cluster_ids, client_ids = _clusters(w, data["ceph_clusters"])
    pool_ids = _pools(w, data["ceph_pools"], cluster_ids)
    vlan_ids = _vlans(w, data["vlans"])
    _networks(w, data["networks"], vlan_ids)
    store_ids = _backup_stores(w, data["backup_stores"])
    image_ids = _base_images(w, data["base_images"], pool_ids)
    prefix_pool_ids = _prefix_pools(w, data["prefix_pools"])
    node_rows = _nodes(w, data["nodes"], cluster_ids, client_ids)
    node_method_ids = _hypervisors(w, data["nodes"], node_rows)
    vm_rows = _vms(w, data["vms"], node_method_ids)
    iface_rows, iface_extra = _interfaces(w, data, node_rows, vm_rows, vlan_ids)
    address_count = _addresses(w, data["networks"], iface_rows, iface_extra)
    routed_count = _routed_prefixes(w, data["vms"], iface_rows, prefix_pool_ids)
    disk_rows = _disks(w, data["vms"], vm_rows, pool_ids, image_ids)
    snapshot_count = _snapshots(w, data["vms"], disk_rows)
    schedule_count = _schedules(w, data["vms"], vm_rows, disk_rows, store_ids)
    w.record()
    return ImportSummary(
        {
            "nodes": len(node_rows),
            "vms": len(vm_rows),
            "interfaces": len(iface_rows),
            "addresses": address_count,
            "disks": len(disk_rows),
            "networks": sum(len(entries) for entries in data["networks"].values()),
            "vlans": len(data["vlans"]),
            "ceph_pools": len(data["ceph_pools"]),
            "ceph_clusters": len(data["ceph_clusters"]),
            "backup_stores": len(data["backup_stores"]),
            "base_images": len(data["base_images"]),
            "prefix_pools": len(data["prefix_pools"]),
            "routed_prefixes": routed_count,
            "snapshots": snapshot_count,
            "backup_schedules": schedule_count,
        }
    )


def _clusters(
    w: _Writer, clusters: list[dict[str, Any]]
) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """Clusters and their clients (no keys: those come through the API, encrypted)."""
    rows = w.insert(
        CephCluster,
        [
            {
                "name": c["name"],
                "fsid": c["fsid"],
                "public_network": _text(c["public_network"]),
                "cluster_network": _text(c["cluster_network"]),
                "description": c["description"],
            }
            for c in clusters
        ],
    )
    cluster_ids = {**w.plan.cluster_ids, **{r["name"]: r["id"] for r in rows}}
    client_rows, keys = [], []
    for cluster in clusters:
        for client in cluster["clients"]:
            keys.append((cluster["name"], client["name"]))
            client_rows.append(
                {
                    "ceph_cluster_id": cluster_ids[cluster["name"]],
                    "name": client["name"],
                    "caps": client["caps"],
                    "secret_uuid": client["secret_uuid"] or uuidlib.uuid4(),
                    "is_default": client["is_default"],
                    "key_encrypted": None,
                }
            )
    w.insert(CephClient, client_rows)
    client_ids = {
        **w.plan.client_ids,
        **{k: r["id"] for k, r in zip(keys, client_rows, strict=True)},
    }
    return cluster_ids, client_ids


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _pools(w: _Writer, pools: list[dict[str, Any]], cluster_ids: dict[str, int]) -> dict[str, int]:
    rows = w.insert(
        CephPool,
        [
            {
                "name": p["name"],
                "description": p["description"],
                "ceph_cluster_id": cluster_ids.get(p["cluster"]),
            }
            for p in pools
        ],
    )
    return {**w.plan.pool_ids, **{r["name"]: r["id"] for r in rows}}


def _backup_stores(w: _Writer, stores: list[dict[str, Any]]) -> dict[str, int]:
    rows = w.insert(BackupStore, [dict(s) for s in stores])
    return {**w.plan.store_ids, **{r["name"]: r["id"] for r in rows}}


def _base_images(
    w: _Writer, images: list[dict[str, Any]], pool_ids: dict[str, int]
) -> dict[str, int]:
    types = w.plan.vocab["storage_type"]
    rows = w.insert(
        BaseImage,
        [
            {
                "name": i["name"],
                "storage_type_id": types[i["storage_type"]],
                "ceph_pool_id": None if i["ceph_pool"] is None else pool_ids[i["ceph_pool"]],
                "size": i["size"],
                "source_url": i["source_url"],
                "description": i["description"],
            }
            for i in images
        ],
    )
    return {**w.plan.image_ids, **{r["name"]: r["id"] for r in rows}}


def _prefix_pools(w: _Writer, pools: list[dict[str, Any]]) -> dict[int, int]:
    """First address → id of the document's prefix pools."""
    rows = w.insert(
        Ipv6PrefixPool,
        [
            {
                "network": p["prefix"].network,
                "last_address": netaddr.IPAddress(p["prefix"].last, 6),
                "prefixlen": p["prefix"].prefixlen,
                "description": p["description"],
            }
            for p in pools
        ],
    )
    return {p["prefix"].first: r["id"] for p, r in zip(pools, rows, strict=True)}


def _vm_interface_rows(
    vms: list[dict[str, Any]], iface_rows: Rows
) -> list[tuple[dict, dict, dict]]:
    """(VM entry, interface entry, its row) of every VM interface; their rows follow the
    node ones."""
    vm_ifaces = [(vm, iface) for vm in vms for iface in vm["interfaces"]]
    rows = iface_rows[len(iface_rows) - len(vm_ifaces) :]
    return [(vm, iface, row) for (vm, iface), row in zip(vm_ifaces, rows, strict=True)]


def _routed_prefixes(
    w: _Writer, vms: list[dict[str, Any]], iface_rows: Rows, pool_ids: dict[int, int]
) -> int:
    rows, customers = [], []
    for vm, iface, row in _vm_interface_rows(vms, iface_rows):
        prefix = iface["routed_prefix"]
        if prefix is None:
            continue
        pool_first, pool_id = w.plan.routed_pool[prefix.first]
        rows.append(
            {
                "prefix": prefix.network,
                "pool_id": pool_ids[pool_first] if pool_id is None else pool_id,
                "vm_interface_id": row["id"],
            }
        )
        customers.append(vm["customer_id"])
    w.insert(Ipv6RoutedPrefix, rows, customers)
    return len(rows)


def _snapshots(w: _Writer, vms: list[dict[str, Any]], disk_rows: Rows) -> int:
    disks = [(vm, disk) for vm in vms for disk in vm["disks"]]
    rows, customers = [], []
    for (vm, disk), disk_row in zip(disks, disk_rows, strict=True):
        for snap in disk["snapshots"]:
            rows.append(
                {
                    "storage_id": disk_row["id"],
                    **snap,
                    "created_at": w.now,
                    # What the host reported stands as reported now.
                    "reported_at": None if snap["state"] == "pending" else w.now,
                }
            )
            customers.append(vm["customer_id"])
    w.insert(Snapshot, rows, customers)
    return len(rows)


def _schedules(
    w: _Writer,
    vms: list[dict[str, Any]],
    vm_rows: Rows,
    disk_rows: Rows,
    store_ids: dict[str, int],
) -> int:
    rows, customers = [], []

    def add(entries: list[dict[str, Any]], customer: int, vm_id: Any, storage_id: Any) -> None:
        for e in entries:
            rows.append(
                {
                    "vm_id": vm_id,
                    "storage_id": storage_id,
                    "store_id": store_ids[e["store"]],
                    "on_calendar": e["on_calendar"],
                    "retention": e["retention"],
                    "created_at": w.now,
                }
            )
            customers.append(customer)

    for vm, row in zip(vms, vm_rows, strict=True):
        add(vm["backup_schedules"], vm["customer_id"], row["id"], None)
    disks = [(vm, disk) for vm in vms for disk in vm["disks"]]
    for (vm, disk), disk_row in zip(disks, disk_rows, strict=True):
        add(disk["backup_schedules"], vm["customer_id"], None, disk_row["id"])
    w.insert(BackupSchedule, rows, customers)
    return len(rows)


def _vlans(w: _Writer, vlans: list[dict[str, Any]]) -> dict[int, int]:
    rows = [dict(v) for v in vlans]
    w.insert(Vlan, rows, [r["customer_id"] for r in rows])
    return {**w.plan.vlan_ids, **{r["vni"]: r["id"] for r in rows}}


def _networks(
    w: _Writer, networks: dict[str, list[dict[str, Any]]], vlan_ids: dict[int, int]
) -> None:
    for version, model in NETWORK_MODELS.items():
        entries = networks[f"ipv{version}"]
        rows = w.insert(
            model,
            [
                {
                    "network": e["cidr"].network,
                    "last_address": netaddr.IPAddress(e["cidr"].last, version),
                    "prefixlen": e["cidr"].prefixlen,
                    "gateway": e["gateway"],
                    "vlan_id": None if e["vlan"] is None else vlan_ids[e["vlan"]],
                    "description": e["description"],
                    "purpose": e["purpose"],
                }
                for e in entries
            ],
        )
        # The checker's network objects learn their ids, so addresses can point at them.
        for e, row in zip(entries, rows, strict=True):
            w.plan.networks.by_key[(version, e["cidr"].first, e["cidr"].prefixlen)].id = row["id"]


def _nodes(
    w: _Writer,
    nodes: list[dict[str, Any]],
    cluster_ids: dict[str, int],
    client_ids: dict[tuple[str, str], int],
) -> Rows:
    vocab = w.plan.vocab["node_state"]
    rows = w.insert(
        Node,
        [
            {
                "fqdn": n["fqdn"],
                "location": n["location"],
                "area": n["area"],
                "node_state_id": vocab[n["state"]],
                "puppet_environment": n["puppet_environment"],
                "ceph_cluster_id": cluster_ids.get(n["ceph_cluster"]),
                "ceph_client_id": client_ids.get((n["ceph_cluster"], n["ceph_client"])),
                "created_at": w.now,
                "updated_at": w.now,
            }
            for n in nodes
        ],
    )
    osd_rows, mon_rows = [], []
    for node, row in zip(nodes, rows, strict=True):
        if node["ceph_osd"]:
            osd_rows.append({"node_id": row["id"]})
        if node["ceph_mon"] is not None:
            mon = node["ceph_mon"]
            mon_rows.append(
                {
                    "node_id": row["id"],
                    "port": mon["port"],
                    "ceph_cluster_id": cluster_ids.get(mon["cluster"]),
                }
            )
    w.insert(CephOsdNode, osd_rows)
    w.insert(CephMonNode, mon_rows)
    return rows


def _hypervisors(
    w: _Writer, nodes: list[dict[str, Any]], node_rows: Rows
) -> dict[tuple[str, str], int]:
    """VirtNode rows and their methods; the (fqdn, method) → node_method id of all of them."""
    hv_nodes, virt_rows = [], []
    for node, row in zip(nodes, node_rows, strict=True):
        hv = node["hypervisor"]
        if hv is not None:
            hv_nodes.append(node)
            virt_rows.append(
                {"node_id": row["id"], **{k: v for k, v in hv.items() if k != "methods"}}
            )
    w.insert(VirtNode, virt_rows)
    methods = w.plan.vocab["virt_method"]
    method_rows, method_keys = [], []
    for node, vrow in zip(hv_nodes, virt_rows, strict=True):
        for method in node["hypervisor"]["methods"]:
            method_rows.append({"virt_node_id": vrow["id"], "virt_method_id": methods[method]})
            method_keys.append((node["fqdn"], method))
    w.insert(NodeMethod, method_rows)
    return {
        **w.plan.node_method_ids,
        **{k: r["id"] for k, r in zip(method_keys, method_rows, strict=True)},
    }


def _vms(
    w: _Writer, vms: list[dict[str, Any]], node_method_ids: dict[tuple[str, str], int]
) -> Rows:
    states = w.plan.vocab["vm_state"]
    rows = [
        {
            "uuid": vm["uuid"] or uuidlib.uuid4(),
            "hostname": vm["hostname"],
            "cores": vm["cores"],
            "ram": vm["ram"],
            "customer_id": vm["customer_id"],
            "cputime_limit": vm["cputime_limit"],
            "node_method_id": None
            if vm["placement"] is None
            else node_method_ids[(vm["placement"]["hypervisor"], vm["placement"]["method"])],
            "requested_state_id": states[vm["requested_state"]],
            "actual_state_id": states[vm["actual_state"]],
            "created_at": w.now,
            "updated_at": w.now,
        }
        for vm in vms
    ]
    return w.insert(Vm, rows, [r["customer_id"] for r in rows])


# Per interface row: its addresses, its VNIs and its customer (None for a node's).
Extra = list[tuple[list[netaddr.IPAddress], list[int], int | None]]


def _interfaces(
    w: _Writer, data: dict[str, Any], node_rows: Rows, vm_rows: Rows, vlan_ids: dict[int, int]
) -> tuple[Rows, Extra]:
    """Node and VM interfaces in one table, then the VLAN memberships of the VM ones."""
    rows: Rows = []
    extra: Extra = []
    for node, row in zip(data["nodes"], node_rows, strict=True):
        for iface in node["interfaces"]:
            rows.append({"mac": str(iface["mac"]), "vm_id": None, "node_id": row["id"],
                         "node_ifname": iface["name"], "purpose": iface["purpose"]})  # fmt: skip
            extra.append((iface["addresses"], [], None))
    for vm, row in zip(data["vms"], vm_rows, strict=True):
        for iface in vm["interfaces"]:
            rows.append({"mac": str(iface["mac"]), "vm_id": row["id"], "node_id": None,
                         "node_ifname": None, "purpose": None})  # fmt: skip
            extra.append((iface["addresses"], iface["vlans"], vm["customer_id"]))
    w.insert(
        VmInterface,
        rows,
        [customer for _, _, customer in extra],
        [{"vlans": sorted(vlan_ids[v] for v in vnis)} for _, vnis, _ in extra],
    )
    member_rows = [
        {"vm_interface_id": row["id"], "vlan_id": vlan_ids[vni]}
        for row, (_, vnis, _) in zip(rows, extra, strict=True)
        for vni in vnis
    ]
    insert_rows(w.session, vlan_member, member_rows, ids=False)
    return rows, extra


def _addresses(
    w: _Writer, networks: dict[str, list[dict[str, Any]]], iface_rows: Rows, iface_extra: Extra
) -> int:
    """Free addresses of the document's networks, then those of its interfaces."""
    rows: dict[int, Rows] = {v: [] for v in ADDRESS_MODELS}
    customers: dict[int, list[int | None]] = {v: [] for v in ADDRESS_MODELS}

    def add(address: netaddr.IPAddress, iface_id: int | None, customer: int | None) -> None:
        net = w.plan.address_net[(address.version, int(address))]
        rows[address.version].append(
            {"address": address, "network_id": net.id, "vm_interface_id": iface_id}
        )
        customers[address.version].append(customer)

    for entries in networks.values():
        for entry in entries:
            for address in entry["unassigned"]:
                add(address, None, None)
    for row, (listed, _, customer) in zip(iface_rows, iface_extra, strict=True):
        for address in listed:
            add(address, row["id"], customer)
    for version, model in ADDRESS_MODELS.items():
        w.insert(model, rows[version], customers[version])
    return sum(len(r) for r in rows.values())


def _disks(
    w: _Writer,
    vms: list[dict[str, Any]],
    vm_rows: Rows,
    pool_ids: dict[str, int],
    image_ids: dict[str, int],
) -> Rows:
    vocab = w.plan.vocab
    disk_rows, disk_customers, ceph_specs = [], [], []
    for vm, row in zip(vms, vm_rows, strict=True):
        for disk in vm["disks"]:
            disk_rows.append(
                {
                    "vm_id": row["id"],
                    "size": disk["size"],
                    "storage_type_id": vocab["storage_type"][disk["type"]],
                    "cache_option_id": vocab["cache_option"][disk["cache"]],
                    **{c: disk[c] for c in LIMIT_COLUMNS},
                    "base_image_id": None
                    if disk["base_image"] is None
                    else image_ids[disk["base_image"]],
                }
            )
            disk_customers.append(vm["customer_id"])
            ceph_specs.append(disk["ceph"])
    w.insert(Storage, disk_rows, disk_customers)
    ceph_rows, ceph_customers = [], []
    for row, spec, customer in zip(disk_rows, ceph_specs, disk_customers, strict=True):
        if spec is not None:
            ceph_rows.append(
                {"storage_id": row["id"], "ceph_pool_id": pool_ids[spec["pool"]],
                 "discard": spec["discard"]}
            )  # fmt: skip
            ceph_customers.append(customer)
    w.insert(StorageCeph, ceph_rows, ceph_customers, ids=False)
    return disk_rows
