"""Import, step 2: every reference and uniqueness rule, against the document and the database.

Each section of the document has its own check function; all of them add to one error list,
and nothing is written unless it stays empty. The result is a ``Plan``: the ids the writer
needs for what already exists.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import netaddr
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ...models import (
    BackupStore,
    BaseImage,
    CacheOption,
    CephClient,
    CephCluster,
    CephPool,
    Ipv6PrefixPool,
    Ipv6RoutedPrefix,
    Node,
    NodeMethod,
    NodeState,
    StorageType,
    VirtMethod,
    VirtNode,
    Vlan,
    VmState,
)
from ...models.network import ADDRESS_MODELS, NETWORK_MODELS
from .. import backups, base_images, snapshots
from ..errors import DomainError, InvalidInput
from ..network import purposes
from ..network.networks import ensure_no_overlap
from ..network.prefixes import check_pool_prefix, check_routed_prefix
from .export import names

MAX_REPORTED_ERRORS = 100


class Errors:
    """Every problem found, by path; the import stops before writing if there is any."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        self.items.append((path, message))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        path, message = self.items[0]
        more = len(self.items) - 1
        summary = f"{path}: {message}" + (f" (and {more} more problems)" if more else "")
        errors: dict[str, list[str]] = {}
        for p, m in self.items[:MAX_REPORTED_ERRORS]:
            errors.setdefault(p, []).append(m)
        raise InvalidInput(f"nothing imported: {summary}", errors=errors)


@dataclass
class Net:
    version: int
    first: int
    last: int
    prefixlen: int
    id: int | None = None  # known for networks already in the database
    row: dict[str, Any] | None = None  # set for networks of the document
    purpose: str | None = None


class Networks:
    """Find the most specific network holding an address: one dict probe per prefix length."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[int, int, int], Net] = {}
        self.prefixlens: dict[int, list[int]] = {v: [] for v in NETWORK_MODELS}

    def add(self, net: Net) -> None:
        self.by_key[(net.version, net.first, net.prefixlen)] = net
        if net.prefixlen not in self.prefixlens[net.version]:
            self.prefixlens[net.version].append(net.prefixlen)
            self.prefixlens[net.version].sort(reverse=True)

    def containing(self, address: netaddr.IPAddress) -> Net | None:
        value, version = int(address), address.version
        bits = 32 if version == 4 else 128
        for plen in self.prefixlens[version]:
            masked = value >> (bits - plen) << (bits - plen) if plen else 0
            net = self.by_key.get((version, masked, plen))
            if net is not None:
                return net
        return None


class Unique:
    """One natural key: clashes with the database or with an earlier entry of the document."""

    def __init__(self, what: str, existing: Iterable[Any], errors: Errors) -> None:
        self.what = what
        self.existing = set(existing)
        self.seen: dict[Any, str] = {}
        self.errors = errors

    def claim(self, key: Any, path: str, shown: Any = None) -> bool:
        shown = key if shown is None else shown
        if key in self.existing:
            self.errors.add(path, f"{self.what} {shown} already exists in the database")
            return False
        first = self.seen.get(key)
        if first is not None:
            self.errors.add(path, f"duplicate {self.what} {shown} (also at {first})")
            return False
        self.seen[key] = path
        return True


@dataclass
class Plan:
    vocab: dict[str, dict[str, int]]
    networks: Networks
    vlan_ids: dict[int, int]  # VNI -> id of VLANs already in the database
    pool_ids: dict[str, int]
    cluster_ids: dict[str, int]  # Ceph clusters in the database by name
    client_ids: dict[tuple[str, str], int]  # (cluster, client) in the database
    node_method_ids: dict[tuple[str, str], int]  # (fqdn, method); 0: created by this import
    address_net: dict[tuple[int, int], Net] = field(default_factory=dict)
    store_ids: dict[str, int] = field(default_factory=dict)  # backup stores in the database
    image_ids: dict[str, int] = field(default_factory=dict)  # base images in the database
    # First address of each routed /64 -> (first address of its pool, pool id if in the
    # database, else None).
    routed_pool: dict[int, tuple[int, int | None]] = field(default_factory=dict)


class _Checker:
    """The state shared by the section checks: errors, keys claimed so far, the plan."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.errors = Errors()
        self.vocab = {
            "node_state": _vocabulary(session, NodeState),
            "vm_state": _vocabulary(session, VmState),
            "virt_method": _vocabulary(session, VirtMethod),
            "storage_type": _vocabulary(session, StorageType),
            "cache_option": _vocabulary(session, CacheOption),
        }
        self.db_vlans = {
            vni: (id_, customer)
            for id_, vni, customer in session.execute(select(Vlan.id, Vlan.vni, Vlan.customer_id))
        }
        self.vlan_customer = {vni: customer for vni, (_, customer) in self.db_vlans.items()}
        self.db_pools = _vocabulary(session, CephPool)
        self.db_clusters = _vocabulary(session, CephCluster)
        self.clusters = Unique("ceph cluster", self.db_clusters, self.errors)
        self.db_clients = {
            (cluster, client): id_
            for id_, cluster, client in session.execute(
                select(CephClient.id, CephCluster.name, CephClient.name).join(CephCluster)
            )
        }
        self.clients = set(self.db_clients)
        self.pools = Unique("ceph pool", self.db_pools, self.errors)
        self.node_method_ids = {
            (fqdn, method): id_
            for id_, fqdn, method in session.execute(
                select(NodeMethod.id, Node.fqdn, VirtMethod.name)
                .join(VirtNode, VirtNode.id == NodeMethod.virt_node_id)
                .join(Node, Node.id == VirtNode.node_id)
                .join(VirtMethod, VirtMethod.id == NodeMethod.virt_method_id)
            )
        }
        self.networks = Networks()
        for version, model in NETWORK_MODELS.items():
            for id_, raw, last, plen, purpose in session.execute(
                text(
                    "SELECT id, network, last_address, prefixlen, purpose "  # noqa: S608
                    f"FROM {model.__tablename__}"
                )
            ):
                first, end = int.from_bytes(bytes(raw)), int.from_bytes(bytes(last))
                self.networks.add(Net(version, first, end, plen, id_, purpose=purpose))
        self.addresses = Unique(
            "address",
            [
                (version, int.from_bytes(bytes(r)))
                for version, model in ADDRESS_MODELS.items()
                for r in _raw_column(session, f"SELECT address FROM {model.__tablename__}")  # noqa: S608
            ],
            self.errors,
        )
        self.address_net: dict[tuple[int, int], Net] = {}
        self.macs = Unique("MAC", _raw_column(session, "SELECT mac FROM vm_interface"), self.errors)

    def rule(self, path: str, fn: Any, *args: Any) -> Any:
        """``fn(*args)``: a service rule the API applies too. Its refusal is added at
        ``path`` (under each field it names) and answers None."""
        try:
            return fn(*args)
        except DomainError as exc:
            for name in exc.errors or {"": None}:
                self.errors.add(f"{path}.{name}" if name else path, exc.message)
            return None

    def passes(self, path: str, fn: Any, *args: Any) -> bool:
        """Whether the rule ``fn(*args)`` (answering nothing) accepts; see :meth:`rule`."""
        return self.rule(path, lambda: fn(*args) or True) is not None

    def known(self, vocab: str, name: str, what: str, path: str) -> int | None:
        found = self.vocab[vocab].get(name)
        if found is None:
            known = ", ".join(sorted(self.vocab[vocab]))
            self.errors.add(path, f"unknown {what} {name!r}; known: {known}")
        return found

    def clusters_section(self, entries: list[dict[str, Any]]) -> None:
        fsids = Unique("fsid", self._uuids("SELECT fsid FROM ceph_cluster"), self.errors)
        uuids = Unique(
            "secret uuid", self._uuids("SELECT secret_uuid FROM ceph_client"), self.errors
        )
        for i, cluster in enumerate(entries):
            path = f"ceph_clusters[{i}]"
            self.clusters.claim(cluster["name"], f"{path}.name")
            if cluster["fsid"] is not None:
                fsids.claim(cluster["fsid"], f"{path}.fsid")
            names = Unique("ceph client", (), self.errors)
            defaults = 0
            for j, client in enumerate(cluster["clients"]):
                names.claim(client["name"], f"{path}.clients[{j}].name")
                if client["secret_uuid"] is not None:
                    uuids.claim(client["secret_uuid"], f"{path}.clients[{j}].secret_uuid")
                defaults += client["is_default"]
                self.clients.add((cluster["name"], client["name"]))
            if defaults > 1:
                self.errors.add(f"{path}.clients", "at most one client is_default per cluster")

    def _uuids(self, sql: str) -> list[uuidlib.UUID]:
        return [uuidlib.UUID(str(u)) for u in _raw_column(self.session, sql) if u is not None]

    def cluster_ref(self, name: str | None, path: str) -> None:
        if name is not None and name not in self.db_clusters and name not in self.clusters.seen:
            self.errors.add(path, f"unknown ceph cluster {name!r}")

    def ceph_choice(self, node: dict[str, Any], path: str) -> None:
        """A node's cluster exists; its client belongs to that cluster."""
        cluster, client = node["ceph_cluster"], node["ceph_client"]
        self.cluster_ref(cluster, f"{path}.ceph_cluster")
        if node["ceph_mon"] is not None:
            self.cluster_ref(node["ceph_mon"]["cluster"], f"{path}.ceph_mon.cluster")
        if client is not None and (cluster, client) not in self.clients:
            self.errors.add(
                f"{path}.ceph_client", f"ceph cluster {cluster!r} has no client {client!r}"
            )

    def pools_section(self, entries: list[dict[str, Any]]) -> None:
        for i, pool in enumerate(entries):
            self.pools.claim(pool["name"], f"ceph_pools[{i}].name")
            self.cluster_ref(pool["cluster"], f"ceph_pools[{i}].cluster")

    def vlans_section(self, entries: list[dict[str, Any]]) -> None:
        vnis = Unique("VNI", self.db_vlans, self.errors)
        for i, vlan in enumerate(entries):
            if vnis.claim(vlan["vni"], f"vlans[{i}].vni"):
                self.vlan_customer[vlan["vni"]] = vlan["customer_id"]

    def networks_section(self, networks: dict[str, list[dict[str, Any]]]) -> None:
        cidrs = Unique("network", self.networks.by_key, self.errors)
        doc_nets: list[tuple[str, dict[str, Any], Net]] = []
        for version in NETWORK_MODELS:
            family = f"ipv{version}"
            for i, entry in enumerate(networks[family]):
                path = f"networks.{family}[{i}]"
                cidr: netaddr.IPNetwork = entry["cidr"]
                net = Net(
                    version,
                    cidr.first,
                    cidr.last,
                    cidr.prefixlen,
                    row=entry,
                    purpose=entry["purpose"],
                )
                if cidrs.claim((version, cidr.first, cidr.prefixlen), f"{path}.cidr", cidr):
                    self.networks.add(net)
                    doc_nets.append((path, entry, net))
                gateway = entry["gateway"]
                if gateway is not None and not cidr.first <= int(gateway) <= cidr.last:
                    self.errors.add(f"{path}.gateway", f"gateway {gateway} lies outside {cidr}")
                if entry["vlan"] is not None and entry["vlan"] not in self.vlan_customer:
                    self.errors.add(f"{path}.vlan", f"unknown VNI {entry['vlan']}")
        # Free addresses belong to the network that lists them, whatever is more specific.
        for path, entry, net in doc_nets:
            for j, address in enumerate(entry["unassigned"]):
                apath = f"{path}.unassigned[{j}]"
                if not net.first <= int(address) <= net.last:
                    self.errors.add(apath, f"address {address} lies outside {entry['cidr']}")
                elif self.addresses.claim((address.version, int(address)), apath, address):
                    self.address_net[(address.version, int(address))] = net

    def interface(self, path: str, iface: dict[str, Any]) -> None:
        self.macs.claim(str(iface["mac"]), f"{path}.mac")
        for j, address in enumerate(iface["addresses"]):
            apath = f"{path}.addresses[{j}]"
            net = self.networks.containing(address)
            if net is None:
                self.errors.add(apath, f"address {address} lies in no known network")
            elif problem := purposes.mismatch(net.purpose, iface.get("purpose")):
                self.errors.add(apath, f"address {address}: {problem}")
            elif self.addresses.claim((address.version, int(address)), apath, address):
                self.address_net[(address.version, int(address))] = net

    def nodes_section(self, entries: list[dict[str, Any]]) -> None:
        fqdns = Unique("node", _raw_column(self.session, "SELECT fqdn FROM node"), self.errors)
        for i, node in enumerate(entries):
            path = f"nodes[{i}]"
            fqdns.claim(node["fqdn"], f"{path}.fqdn")
            self.ceph_choice(node, path)
            self.known("node_state", node["state"], "node state", f"{path}.state")
            hv = node["hypervisor"]
            if hv is not None:
                seen: set[str] = set()
                for j, method in enumerate(hv["methods"]):
                    mpath = f"{path}.hypervisor.methods[{j}]"
                    if method in seen:
                        self.errors.add(mpath, f"duplicate method {method!r}")
                    seen.add(method)
                    self.known("virt_method", method, "virt method", mpath)
                    self.node_method_ids.setdefault((node["fqdn"], method), 0)
            for j, iface in enumerate(node["interfaces"]):
                self.interface(f"{path}.interfaces[{j}]", iface)

    def vms_section(self, entries: list[dict[str, Any]]) -> None:
        hostnames = Unique(
            "hostname", _raw_column(self.session, "SELECT hostname FROM vm"), self.errors
        )
        uuids = Unique(
            "uuid",
            (uuidlib.UUID(str(u)) for u in _raw_column(self.session, "SELECT uuid FROM vm")),
            self.errors,
        )
        for i, vm in enumerate(entries):
            path = f"vms[{i}]"
            hostnames.claim(vm["hostname"], f"{path}.hostname")
            if vm["uuid"] is not None:
                uuids.claim(vm["uuid"], f"{path}.uuid")
            for key in ("requested_state", "actual_state"):
                self.known("vm_state", vm[key], "VM state", f"{path}.{key}")
            self.placement(path, vm["placement"])
            for j, iface in enumerate(vm["interfaces"]):
                ipath = f"{path}.interfaces[{j}]"
                self.interface(ipath, iface)
                self.memberships(ipath, iface["vlans"], vm["customer_id"])
                self.routed_prefix(ipath, iface["routed_prefix"])
            for j, disk in enumerate(vm["disks"]):
                self.disk(f"{path}.disks[{j}]", disk)
            self.schedules(path, vm["backup_schedules"])

    def placement(self, path: str, placement: dict[str, str] | None) -> None:
        if placement is None:
            return
        where = (placement["hypervisor"], placement["method"])
        if where not in self.node_method_ids:
            hv_methods = sorted(m for f, m in self.node_method_ids if f == where[0])
            self.errors.add(
                f"{path}.placement",
                f"{where[0]} is no hypervisor offering {where[1]!r}"
                + (f" (it offers {', '.join(hv_methods)})" if hv_methods else ""),
            )

    def memberships(self, path: str, vnis: list[int], customer_id: int) -> None:
        for k, vni in enumerate(vnis):
            if vni not in self.vlan_customer:
                self.errors.add(f"{path}.vlans[{k}]", f"unknown VNI {vni}")
            elif self.vlan_customer[vni] not in (None, customer_id):
                self.errors.add(
                    f"{path}.vlans[{k}]",
                    f"VLAN {vni} belongs to customer {self.vlan_customer[vni]}, "
                    f"not to this VM's customer {customer_id}",
                )
        if len(set(vnis)) != len(vnis):
            self.errors.add(f"{path}.vlans", "a VNI is listed twice")

    def stores_section(self, entries: list[dict[str, Any]]) -> None:
        self.db_stores = _vocabulary(self.session, BackupStore)
        self.stores = Unique("backup store", self.db_stores, self.errors)
        for i, entry in enumerate(entries):
            path = f"backup_stores[{i}]"
            normal = self.rule(path, backups.check_store, entry)
            if normal is not None:
                entry.update(normal)
                self.stores.claim(entry["name"], f"{path}.name")

    def images_section(self, entries: list[dict[str, Any]]) -> None:
        type_of = {id_: name for name, id_ in self.vocab["storage_type"].items()}
        pool_of = {id_: name for name, id_ in self.db_pools.items()}
        self.db_images = {
            r.name: {"id": r.id, "name": r.name, "storage_type": type_of[r.storage_type_id],
                     "size": r.size, "ceph_pool": pool_of.get(r.ceph_pool_id)}
            for r in self.session.execute(
                select(BaseImage.id, BaseImage.name, BaseImage.storage_type_id, BaseImage.size,
                       BaseImage.ceph_pool_id)
            )
        }  # fmt: skip
        self.images = dict(self.db_images)
        unique = Unique("base image", self.db_images, self.errors)
        for i, entry in enumerate(entries):
            path = f"base_images[{i}]"
            kind = entry["storage_type"]
            if self.known("storage_type", kind, "storage type", f"{path}.storage_type") is None:
                continue
            if not self.passes(
                path, base_images.check_image_kind, kind, entry["ceph_pool"] is not None
            ):
                continue
            self.pool_known(entry["ceph_pool"], f"{path}.ceph_pool")
            if unique.claim(entry["name"], f"{path}.name"):
                self.images[entry["name"]] = {**entry, "id": None}

    def pool_known(self, pool: str | None, path: str) -> None:
        if pool is not None and pool not in self.db_pools and pool not in self.pools.seen:
            self.errors.add(path, f"unknown ceph pool {pool!r}")

    def prefix_pools_section(self, entries: list[dict[str, Any]], v6_networks: list[Any]) -> None:
        self.db_prefix_pools = {
            int(network): (id_, int(last))
            for id_, network, last in self.session.execute(
                select(Ipv6PrefixPool.id, Ipv6PrefixPool.network, Ipv6PrefixPool.last_address)
            )
        }
        # (first, last, what) of the document's IPv6 networks and pools: a pool overlaps none.
        spans = [
            (e["cidr"].first, e["cidr"].last, f"IPv6 network {e['cidr']}") for e in v6_networks
        ]
        self.doc_prefix_pools: dict[int, int] = {}
        for i, entry in enumerate(entries):
            path = f"prefix_pools[{i}].prefix"
            net = self.rule(f"prefix_pools[{i}]", check_pool_prefix, entry["prefix"])
            if net is None or not self.passes(
                f"prefix_pools[{i}]", ensure_no_overlap, self.session, net
            ):
                continue
            clash = next((w for a, b, w in spans if a <= net.last and b >= net.first), None)
            if clash is not None:
                self.errors.add(path, f"{net} overlaps {clash}")
                continue
            spans.append((net.first, net.last, f"prefix pool {net}"))
            self.doc_prefix_pools[net.first] = net.last
        self.routed = Unique(
            "routed prefix",
            (int(p) for p in self.session.scalars(select(Ipv6RoutedPrefix.prefix))),
            self.errors,
        )
        self.routed_pool: dict[int, tuple[int, int | None]] = {}

    def routed_prefix(self, path: str, prefix: netaddr.IPNetwork | None) -> None:
        if prefix is None or self.rule(path, check_routed_prefix, prefix) is None:
            return
        pools = [(first, last, id_) for first, (id_, last) in self.db_prefix_pools.items()]
        pools += [(first, last, None) for first, last in self.doc_prefix_pools.items()]
        pool = next((p for p in pools if p[0] <= prefix.first <= p[1]), None)
        if pool is None:
            self.errors.add(f"{path}.routed_prefix", f"{prefix} lies in no IPv6 prefix pool")
        elif self.routed.claim(prefix.first, f"{path}.routed_prefix", prefix):
            self.routed_pool[prefix.first] = (pool[0], pool[2])

    def schedules(self, path: str, entries: list[dict[str, Any]]) -> None:
        for i, entry in enumerate(entries):
            spath = f"{path}.backup_schedules[{i}]"
            if entry["store"] not in self.db_stores and entry["store"] not in self.stores.seen:
                self.errors.add(f"{spath}.store", f"unknown backup store {entry['store']!r}")
            entry["on_calendar"] = self.rule(spath, backups.check_calendar, entry["on_calendar"])
            entry["retention"] = self.rule(spath, backups.check_retention, entry["retention"])

    def disk(self, path: str, disk: dict[str, Any]) -> None:
        kind = disk["type"]
        self.known("storage_type", kind, "storage type", f"{path}.type")
        self.known("cache_option", disk["cache"], "cache option", f"{path}.cache")
        pool = None if disk["ceph"] is None else disk["ceph"]["pool"]
        if disk["base_image"] is not None:
            image = self.images.get(disk["base_image"])
            if image is None:
                self.errors.add(f"{path}.base_image", f"unknown base image {disk['base_image']!r}")
            else:
                self.passes(path, base_images.check_clone, kind, disk["size"], pool, image)
        if disk["snapshots"]:
            self.passes(path, snapshots.check_snapshottable, kind, "the disk")
        names_ = Unique("snapshot", (), self.errors)
        for j, snapshot in enumerate(disk["snapshots"]):
            names_.claim(snapshot["name"], f"{path}.snapshots[{j}].name")
        self.schedules(path, disk["backup_schedules"])
        self.pool_known(pool, f"{path}.ceph.pool")


def _vocabulary(session: Session, model: type) -> dict[str, int]:
    return {name: id_ for id_, name in names(session, model).items()}


def _raw_column(session: Session, sql: str) -> list[Any]:
    # Raw values skip the netaddr/EUI conversion of every existing row: we only compare them.
    return [row[0] for row in session.execute(text(sql))]


def check(session: Session, data: dict[str, Any]) -> Plan:
    """Check the loaded document ``data`` section by section; InvalidInput lists every problem."""
    checker = _Checker(session)
    checker.clusters_section(data["ceph_clusters"])
    checker.pools_section(data["ceph_pools"])
    checker.vlans_section(data["vlans"])
    checker.networks_section(data["networks"])
    checker.stores_section(data["backup_stores"])
    checker.images_section(data["base_images"])
    checker.prefix_pools_section(data["prefix_pools"], data["networks"]["ipv6"])
    checker.nodes_section(data["nodes"])
    checker.vms_section(data["vms"])
    checker.errors.raise_if_any()
    return Plan(
        vocab=checker.vocab,
        networks=checker.networks,
        vlan_ids={vni: id_ for vni, (id_, _) in checker.db_vlans.items()},
        pool_ids=checker.db_pools,
        cluster_ids=checker.db_clusters,
        client_ids=checker.db_clients,
        node_method_ids=checker.node_method_ids,
        address_net=checker.address_net,
        store_ids=checker.db_stores,
        image_ids={name: image["id"] for name, image in checker.db_images.items()},
        routed_pool=checker.routed_pool,
    )
