"""Bulk export and import of the inventory as one versioned document (see docs/scale.md).

Import checks the whole document before it writes anything: first each entry against the
schemas in ``transfer_schema``, then every reference (pools, VLANs, networks, hypervisors,
vocabulary names) and every uniqueness rule against the document and the database. Only then
does it write, in the caller's transaction, with a few multi-row INSERTs per table instead of
one ORM object per row; the change log gets one row per created object through
``audit.record_bulk_create`` (the flush hook never sees Core inserts).
"""

from __future__ import annotations

import json
import uuid as uuidlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import netaddr
import yaml
from marshmallow import ValidationError
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ..models import (
    CacheOption,
    CephMonNode,
    CephOsdNode,
    CephPool,
    Ipv4Address,
    Ipv4Network,
    Ipv6Address,
    Ipv6Network,
    Node,
    NodeMethod,
    NodeState,
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
from ..models.base import utcnow
from ..models.storage import LIMIT_COLUMNS
from .audit import record_bulk_create
from .bulk import insert_rows
from .errors import InvalidInput
from .transfer_schema import FORMAT_VERSION, InventorySchema, flatten_errors

MAX_REPORTED_ERRORS = 100
NETWORK_MODELS = {4: Ipv4Network, 6: Ipv6Network}
ADDRESS_MODELS = {4: Ipv4Address, 6: Ipv6Address}


# --- the document as text ---------------------------------------------------------------------

FORMATS = ("yaml", "json")
# libyaml's C loader and dumper are ~10x faster than the pure-Python ones on a large fleet.
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YamlDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def parse_document(raw: str | bytes, fmt: str | None = None) -> Any:
    """A YAML or JSON document (JSON is YAML, but the JSON parser is faster); InvalidInput if
    it does not parse."""
    try:
        if fmt == "json" or (fmt is None and raw.lstrip()[:1] in ("{", b"{")):
            return json.loads(raw)
        return yaml.load(raw, Loader=_YamlLoader)  # noqa: S506 - a safe loader
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidInput(
            f"the document does not parse as {fmt or 'YAML or JSON'}: {exc}"
        ) from None


def dump_document(doc: dict[str, Any], fmt: str = "yaml") -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    return yaml.dump(doc, Dumper=_YamlDumper, sort_keys=False, allow_unicode=True)


# --- export -----------------------------------------------------------------------------------


def _names(session: Session, model: type) -> dict[int, str]:
    return dict(session.execute(select(model.id, model.name)).all())  # type: ignore[attr-defined]


def _group(pairs: Iterable[tuple[Any, Any]]) -> dict[Any, list[Any]]:
    out: dict[Any, list[Any]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return out


def _addresses_by_interface(session: Session) -> tuple[dict[int, list[str]], dict[tuple, list]]:
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


def export_inventory(session: Session) -> dict[str, Any]:
    """The whole inventory as a plain dict in the import format, keyed by natural keys only.

    A constant number of queries whatever the fleet size; lists are sorted by natural key
    (interfaces and disks keep their creation order, which names them).
    """
    node_states = _names(session, NodeState)
    vm_states = _names(session, VmState)
    methods = _names(session, VirtMethod)
    storage_types = _names(session, StorageType)
    cache_options = _names(session, CacheOption)
    pools = {
        pid: (name, desc)
        for pid, name, desc in session.execute(
            select(CephPool.id, CephPool.name, CephPool.description)
        )
    }
    vlans = session.execute(
        select(Vlan.id, Vlan.vni, Vlan.name, Vlan.customer_id, Vlan.description)
    ).all()
    vni_of = {v.id: v.vni for v in vlans}
    addresses, free = _addresses_by_interface(session)

    networks: dict[str, list[dict[str, Any]]] = {}
    for version, model in NETWORK_MODELS.items():
        rows = session.execute(
            select(
                model.id,
                model.network,
                model.prefixlen,
                model.gateway,
                model.vlan_id,
                model.description,
            ).order_by(model.network, model.prefixlen)
        )
        networks[f"ipv{version}"] = [
            {
                "cidr": f"{r.network}/{r.prefixlen}",
                "gateway": None if r.gateway is None else str(r.gateway),
                "vlan": vni_of.get(r.vlan_id),
                "description": r.description,
                "unassigned": free.get((version, r.id), []),
            }
            for r in rows
        ]

    iface_rows = session.execute(
        select(VmInterface.id, VmInterface.mac, VmInterface.vm_id, VmInterface.node_id,
               VmInterface.node_ifname).order_by(VmInterface.id)
    ).all()  # fmt: skip
    iface_vlans = _group(
        session.execute(
            select(vlan_member.c.vm_interface_id, Vlan.vni)
            .join(Vlan, Vlan.id == vlan_member.c.vlan_id)
            .order_by(Vlan.vni)
        )
    )
    node_ifaces: dict[int, list[dict[str, Any]]] = {}
    vm_ifaces: dict[int, list[dict[str, Any]]] = {}
    for r in iface_rows:
        if r.node_id is not None:
            node_ifaces.setdefault(r.node_id, []).append(
                {"name": r.node_ifname, "mac": str(r.mac), "addresses": addresses.get(r.id, [])}
            )
        else:
            vm_ifaces.setdefault(r.vm_id, []).append(
                {
                    "mac": str(r.mac),
                    "vlans": iface_vlans.get(r.id, []),
                    "addresses": addresses.get(r.id, []),
                }
            )

    virt_nodes = {r.node_id: r for r in session.scalars(select(VirtNode))}
    node_method_rows = session.execute(
        select(NodeMethod.id, VirtNode.node_id, NodeMethod.virt_method_id).join(VirtNode)
    ).all()
    methods_of = _group((r.node_id, methods[r.virt_method_id]) for r in node_method_rows)
    osd = set(session.scalars(select(CephOsdNode.node_id)))
    mons = dict(session.execute(select(CephMonNode.node_id, CephMonNode.port)).all())

    nodes = []
    fqdn_of: dict[int, str] = {}
    for r in session.execute(
        select(Node.id, Node.fqdn, Node.location, Node.area, Node.node_state_id,
               Node.puppet_environment).order_by(Node.fqdn)
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
                "ceph_mon": {"port": mons[r.id]} if r.id in mons else None,
                "interfaces": node_ifaces.get(r.id, []),
            }
        )
    # Under READ COMMITTED a node may vanish between two of these queries; skip, don't fail.
    placement_of = {
        r.id: {"hypervisor": fqdn_of[r.node_id], "method": methods[r.virt_method_id]}
        for r in node_method_rows
        if r.node_id in fqdn_of
    }

    ceph_of = {
        r.storage_id: {"pool": pools[r.ceph_pool_id][0], "discard": r.discard}
        for r in session.execute(
            select(StorageCeph.storage_id, StorageCeph.ceph_pool_id, StorageCeph.discard)
        )
    }
    disks = _group(
        (
            r.vm_id,
            {
                "type": storage_types[r.storage_type_id],
                "size": r.size,
                "cache": cache_options[r.cache_option_id],
                **{c: getattr(r, c) for c in LIMIT_COLUMNS},
                "ceph": ceph_of.get(r.id),
            },
        )
        for r in session.execute(
            select(Storage.id, Storage.vm_id, Storage.size, Storage.storage_type_id,
                   Storage.cache_option_id, *(getattr(Storage, c) for c in LIMIT_COLUMNS))
            .order_by(Storage.id)
        )
    )  # fmt: skip

    vms = [
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
        }
        for r in session.execute(
            select(Vm.id, Vm.hostname, Vm.uuid, Vm.customer_id, Vm.cores, Vm.ram,
                   Vm.cputime_limit, Vm.requested_state_id, Vm.actual_state_id,
                   Vm.node_method_id).order_by(Vm.hostname)
        )
    ]  # fmt: skip

    return {
        "version": FORMAT_VERSION,
        "nodes": nodes,
        "networks": networks,
        "vlans": [
            {
                "vni": v.vni,
                "name": v.name,
                "customer_id": v.customer_id,
                "description": v.description,
            }
            for v in sorted(vlans, key=lambda v: v.vni)
        ],  # fmt: skip
        "ceph_pools": [
            {"name": name, "description": desc} for name, desc in sorted(pools.values())
        ],
        "vms": vms,
    }


# --- import: checking -------------------------------------------------------------------------


@dataclass
class ImportSummary:
    counts: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return "imported " + ", ".join(f"{n} {what}" for what, n in self.counts.items())


class _Errors:
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
class _Net:
    version: int
    first: int
    last: int
    prefixlen: int
    id: int | None = None  # known for networks already in the database
    row: dict[str, Any] | None = None  # set for networks of the document


class _Networks:
    """Find the most specific network holding an address: one dict probe per prefix length."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[int, int, int], _Net] = {}
        self.prefixlens: dict[int, list[int]] = {4: [], 6: []}

    def add(self, net: _Net) -> None:
        self.by_key[(net.version, net.first, net.prefixlen)] = net
        if net.prefixlen not in self.prefixlens[net.version]:
            self.prefixlens[net.version].append(net.prefixlen)
            self.prefixlens[net.version].sort(reverse=True)

    def containing(self, address: netaddr.IPAddress) -> _Net | None:
        value, version = int(address), address.version
        bits = 32 if version == 4 else 128
        for plen in self.prefixlens[version]:
            masked = value >> (bits - plen) << (bits - plen) if plen else 0
            net = self.by_key.get((version, masked, plen))
            if net is not None:
                return net
        return None


class _Unique:
    """One natural key: clashes with the database or with an earlier entry of the document."""

    def __init__(self, what: str, existing: Iterable[Any], errors: _Errors) -> None:
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


def _vocabulary(session: Session, model: type) -> dict[str, int]:
    return {name: id_ for id_, name in _names(session, model).items()}


def _known(vocab: dict[str, int], name: str, what: str, path: str, errors: _Errors) -> int | None:
    found = vocab.get(name)
    if found is None:
        errors.add(path, f"unknown {what} {name!r}; known: {', '.join(sorted(vocab))}")
    return found


def _raw_column(session: Session, sql: str) -> list[Any]:
    # Raw values skip the netaddr/EUI conversion of every existing row: we only compare them.
    return [row[0] for row in session.execute(text(sql))]


def import_inventory(session: Session, doc: Any) -> ImportSummary:
    """Check all of ``doc`` and write it in the caller's transaction, or raise InvalidInput.

    The error's message names the first offending entry (``vms[12].interfaces[0].mac: …``);
    its ``errors`` map lists up to a hundred of them by path. Nothing is written on error.
    """
    if not isinstance(doc, dict):
        raise InvalidInput("an inventory document is a mapping with version, nodes, vms, …")
    try:
        data = InventorySchema().load(doc)
    except ValidationError as exc:
        errors = _Errors()
        for path, messages in flatten_errors(exc.messages).items():
            for message in messages:
                errors.add(path, message)
        errors.raise_if_any()
        raise  # pragma: no cover - raise_if_any always raises here
    plan = _check(session, data)
    return _write(session, data, plan)


@dataclass
class _Plan:
    vocab: dict[str, dict[str, int]]
    networks: _Networks
    vlan_ids: dict[int, int]  # VNI -> id of VLANs already in the database
    pool_ids: dict[str, int]
    node_method_ids: dict[tuple[str, str], int]  # (fqdn, method) of existing hypervisors
    address_net: dict[tuple[int, int], _Net] = field(default_factory=dict)


def _check(session: Session, data: dict[str, Any]) -> _Plan:
    errors = _Errors()
    vocab = {
        "node_state": _vocabulary(session, NodeState),
        "vm_state": _vocabulary(session, VmState),
        "virt_method": _vocabulary(session, VirtMethod),
        "storage_type": _vocabulary(session, StorageType),
        "cache_option": _vocabulary(session, CacheOption),
    }
    db_vlans = {
        vni: (id_, customer)
        for id_, vni, customer in session.execute(select(Vlan.id, Vlan.vni, Vlan.customer_id))
    }
    db_pools = _vocabulary(session, CephPool)
    node_method_ids = {
        (fqdn, method): id_
        for id_, fqdn, method in session.execute(
            select(NodeMethod.id, Node.fqdn, VirtMethod.name)
            .join(VirtNode, VirtNode.id == NodeMethod.virt_node_id)
            .join(Node, Node.id == VirtNode.node_id)
            .join(VirtMethod, VirtMethod.id == NodeMethod.virt_method_id)
        )
    }
    networks = _Networks()
    for version, table in ((4, "ipv4_network"), (6, "ipv6_network")):
        for id_, raw, last, plen in session.execute(
            text(f"SELECT id, network, last_address, prefixlen FROM {table}")  # noqa: S608
        ):
            networks.add(
                _Net(version, int.from_bytes(bytes(raw)), int.from_bytes(bytes(last)), plen, id_)
            )

    pools = _Unique("ceph pool", db_pools, errors)
    for i, pool in enumerate(data["ceph_pools"]):
        pools.claim(pool["name"], f"ceph_pools[{i}].name")
    vlan_customer = {vni: customer for vni, (_, customer) in db_vlans.items()}
    vnis = _Unique("VNI", db_vlans, errors)
    for i, vlan in enumerate(data["vlans"]):
        if vnis.claim(vlan["vni"], f"vlans[{i}].vni"):
            vlan_customer[vlan["vni"]] = vlan["customer_id"]

    cidrs = _Unique("network", (), errors)
    for net in networks.by_key.values():
        cidrs.existing.add((net.version, net.first, net.prefixlen))
    addresses = _Unique(
        "address",
        [(4, int.from_bytes(bytes(r))) for r in _raw_column(session, "SELECT address FROM ipv4")]
        + [(6, int.from_bytes(bytes(r))) for r in _raw_column(session, "SELECT address FROM ipv6")],
        errors,
    )
    address_net: dict[tuple[int, int], _Net] = {}
    doc_nets: list[tuple[str, dict[str, Any], _Net]] = []
    for family in ("ipv4", "ipv6"):
        version = int(family[-1])
        for i, entry in enumerate(data["networks"][family]):
            path = f"networks.{family}[{i}]"
            cidr: netaddr.IPNetwork = entry["cidr"]
            if cidr.version != version:
                errors.add(f"{path}.cidr", f"{cidr} is not an IPv{version} network")
                continue
            net = _Net(version, cidr.first, cidr.last, cidr.prefixlen, row=entry)
            if cidrs.claim((version, cidr.first, cidr.prefixlen), f"{path}.cidr", cidr):
                networks.add(net)
                doc_nets.append((path, entry, net))
            gateway = entry["gateway"]
            if gateway is not None and not (
                gateway.version == version and cidr.first <= int(gateway) <= cidr.last
            ):
                errors.add(f"{path}.gateway", f"gateway {gateway} lies outside {cidr}")
            if entry["vlan"] is not None and entry["vlan"] not in vlan_customer:
                errors.add(f"{path}.vlan", f"unknown VNI {entry['vlan']}")
    # Free addresses belong to the network that lists them, whatever is more specific.
    for path, entry, net in doc_nets:
        for j, address in enumerate(entry["unassigned"]):
            apath = f"{path}.unassigned[{j}]"
            if address.version != net.version or not net.first <= int(address) <= net.last:
                errors.add(apath, f"address {address} lies outside {entry['cidr']}")
            elif addresses.claim((address.version, int(address)), apath, address):
                address_net[(address.version, int(address))] = net

    def check_addresses(path: str, listed: list[netaddr.IPAddress]) -> None:
        for j, address in enumerate(listed):
            apath = f"{path}.addresses[{j}]"
            net = networks.containing(address)
            if net is None:
                errors.add(apath, f"address {address} lies in no known network")
            elif addresses.claim((address.version, int(address)), apath, address):
                address_net[(address.version, int(address))] = net

    macs = _Unique("MAC", _raw_column(session, "SELECT mac FROM vm_interface"), errors)
    fqdns = _Unique("node", _raw_column(session, "SELECT fqdn FROM node"), errors)
    for i, node in enumerate(data["nodes"]):
        path = f"nodes[{i}]"
        fqdns.claim(node["fqdn"], f"{path}.fqdn")
        _known(vocab["node_state"], node["state"], "node state", f"{path}.state", errors)
        hv = node["hypervisor"]
        if hv is not None:
            seen: set[str] = set()
            for j, method in enumerate(hv["methods"]):
                mpath = f"{path}.hypervisor.methods[{j}]"
                if method in seen:
                    errors.add(mpath, f"duplicate method {method!r}")
                seen.add(method)
                _known(vocab["virt_method"], method, "virt method", mpath, errors)
                node_method_ids.setdefault((node["fqdn"], method), 0)  # 0: created by this import
        for j, iface in enumerate(node["interfaces"]):
            ipath = f"{path}.interfaces[{j}]"
            macs.claim(iface["mac"], f"{ipath}.mac")
            check_addresses(ipath, iface["addresses"])

    hostnames = _Unique("hostname", _raw_column(session, "SELECT hostname FROM vm"), errors)
    uuids = _Unique(
        "uuid",
        (uuidlib.UUID(str(u)) for u in _raw_column(session, "SELECT uuid FROM vm")),
        errors,
    )
    for i, vm in enumerate(data["vms"]):
        path = f"vms[{i}]"
        hostnames.claim(vm["hostname"], f"{path}.hostname")
        if vm["uuid"] is not None:
            uuids.claim(vm["uuid"], f"{path}.uuid")
        for key in ("requested_state", "actual_state"):
            _known(vocab["vm_state"], vm[key], "VM state", f"{path}.{key}", errors)
        placement = vm["placement"]
        if placement is not None:
            where = (placement["hypervisor"], placement["method"])
            if where not in node_method_ids:
                hv_methods = sorted(m for f, m in node_method_ids if f == where[0])
                errors.add(
                    f"{path}.placement",
                    f"{where[0]} is no hypervisor offering {where[1]!r}"
                    + (f" (it offers {', '.join(hv_methods)})" if hv_methods else ""),
                )
        for j, iface in enumerate(vm["interfaces"]):
            ipath = f"{path}.interfaces[{j}]"
            macs.claim(iface["mac"], f"{ipath}.mac")
            for k, vni in enumerate(iface["vlans"]):
                if vni not in vlan_customer:
                    errors.add(f"{ipath}.vlans[{k}]", f"unknown VNI {vni}")
                elif vlan_customer[vni] not in (None, vm["customer_id"]):
                    errors.add(
                        f"{ipath}.vlans[{k}]",
                        f"VLAN {vni} belongs to customer {vlan_customer[vni]}, "
                        f"not to this VM's customer {vm['customer_id']}",
                    )
            if len(set(iface["vlans"])) != len(iface["vlans"]):
                errors.add(f"{ipath}.vlans", "a VNI is listed twice")
            check_addresses(ipath, iface["addresses"])
        for j, disk in enumerate(vm["disks"]):
            dpath = f"{path}.disks[{j}]"
            _known(vocab["storage_type"], disk["type"], "storage type", f"{dpath}.type", errors)
            _known(vocab["cache_option"], disk["cache"], "cache option", f"{dpath}.cache", errors)
            ceph = disk["ceph"]
            if ceph is not None and ceph["pool"] not in db_pools and ceph["pool"] not in pools.seen:
                errors.add(f"{dpath}.ceph.pool", f"unknown ceph pool {ceph['pool']!r}")
    errors.raise_if_any()
    return _Plan(
        vocab=vocab,
        networks=networks,
        vlan_ids={vni: id_ for vni, (id_, _) in db_vlans.items()},
        pool_ids=db_pools,
        node_method_ids=node_method_ids,
        address_net=address_net,
    )


# --- import: writing --------------------------------------------------------------------------


def _insert(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """Multi-row insert; each row dict gets its new ``id`` (in row order)."""
    insert_rows(session, model.__table__, rows, ids=True)


def _write(session: Session, data: dict[str, Any], plan: _Plan) -> ImportSummary:
    now = utcnow()
    vocab = plan.vocab
    audit: list[tuple[Any, list[dict[str, Any]], list[int | None], list[dict] | None]] = []

    pool_rows = [{"name": p["name"], "description": p["description"]} for p in data["ceph_pools"]]
    _insert(session, CephPool, pool_rows)
    pool_ids = {**plan.pool_ids, **{r["name"]: r["id"] for r in pool_rows}}
    audit.append((CephPool, pool_rows, [None] * len(pool_rows), None))

    vlan_rows = [dict(v) for v in data["vlans"]]
    _insert(session, Vlan, vlan_rows)
    vlan_ids = {**plan.vlan_ids, **{r["vni"]: r["id"] for r in vlan_rows}}
    audit.append((Vlan, vlan_rows, [r["customer_id"] for r in vlan_rows], None))

    for family in ("ipv4", "ipv6"):
        version = int(family[-1])
        entries = data["networks"][family]
        rows = [
            {
                "network": e["cidr"].network,
                "last_address": netaddr.IPAddress(e["cidr"].last, version),
                "prefixlen": e["cidr"].prefixlen,
                "gateway": e["gateway"],
                "vlan_id": vlan_ids.get(e["vlan"]) if e["vlan"] is not None else None,
                "description": e["description"],
            }
            for e in entries
        ]
        _insert(session, NETWORK_MODELS[version], rows)
        for net, row in zip(
            (
                plan.networks.by_key[(version, e["cidr"].first, e["cidr"].prefixlen)]
                for e in entries
            ),
            rows,
            strict=True,
        ):
            net.id = row["id"]
        audit.append((NETWORK_MODELS[version], rows, [None] * len(rows), None))

    node_rows = [
        {
            "fqdn": n["fqdn"],
            "location": n["location"],
            "area": n["area"],
            "node_state_id": vocab["node_state"][n["state"]],
            "puppet_environment": n["puppet_environment"],
            "created_at": now,
            "updated_at": now,
        }
        for n in data["nodes"]
    ]
    _insert(session, Node, node_rows)
    audit.append((Node, node_rows, [None] * len(node_rows), None))

    virt_rows, osd_rows, mon_rows, hv_nodes = [], [], [], []
    for node, row in zip(data["nodes"], node_rows, strict=True):
        hv = node["hypervisor"]
        if hv is not None:
            hv_nodes.append(node)
            virt_rows.append(
                {"node_id": row["id"], **{k: v for k, v in hv.items() if k != "methods"}}
            )
        if node["ceph_osd"]:
            osd_rows.append({"node_id": row["id"]})
        if node["ceph_mon"] is not None:
            mon_rows.append({"node_id": row["id"], "port": node["ceph_mon"]["port"]})
    _insert(session, VirtNode, virt_rows)
    _insert(session, CephOsdNode, osd_rows)
    _insert(session, CephMonNode, mon_rows)
    method_rows, method_keys = [], []
    for node, vrow in zip(hv_nodes, virt_rows, strict=True):
        for method in node["hypervisor"]["methods"]:
            method_rows.append(
                {"virt_node_id": vrow["id"], "virt_method_id": vocab["virt_method"][method]}
            )
            method_keys.append((node["fqdn"], method))
    _insert(session, NodeMethod, method_rows)
    node_method_ids = {
        **plan.node_method_ids,
        **{k: r["id"] for k, r in zip(method_keys, method_rows, strict=True)},
    }
    for model, rows in (
        (VirtNode, virt_rows),
        (CephOsdNode, osd_rows),
        (CephMonNode, mon_rows),
        (NodeMethod, method_rows),
    ):
        audit.append((model, rows, [None] * len(rows), None))

    vm_rows = [
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
            "requested_state_id": vocab["vm_state"][vm["requested_state"]],
            "actual_state_id": vocab["vm_state"][vm["actual_state"]],
            "created_at": now,
            "updated_at": now,
        }
        for vm in data["vms"]
    ]
    _insert(session, Vm, vm_rows)
    audit.append((Vm, vm_rows, [r["customer_id"] for r in vm_rows], None))

    # Node and VM interfaces in one table; remember each one's addresses, VLANs and customer.
    iface_rows: list[dict[str, Any]] = []
    iface_extra: list[tuple[list[netaddr.IPAddress], list[int], int | None]] = []
    for node, row in zip(data["nodes"], node_rows, strict=True):
        for iface in node["interfaces"]:
            iface_rows.append(
                {"mac": iface["mac"], "vm_id": None, "node_id": row["id"],
                 "node_ifname": iface["name"]}
            )  # fmt: skip
            iface_extra.append((iface["addresses"], [], None))
    for vm, row in zip(data["vms"], vm_rows, strict=True):
        for iface in vm["interfaces"]:
            iface_rows.append(
                {"mac": iface["mac"], "vm_id": row["id"], "node_id": None, "node_ifname": None}
            )
            iface_extra.append((iface["addresses"], iface["vlans"], vm["customer_id"]))
    _insert(session, VmInterface, iface_rows)
    member_rows = [
        {"vm_interface_id": row["id"], "vlan_id": vlan_ids[vni]}
        for row, (_, vnis, _) in zip(iface_rows, iface_extra, strict=True)
        for vni in vnis
    ]
    insert_rows(session, vlan_member, member_rows, ids=False)
    audit.append(
        (
            VmInterface,
            iface_rows,
            [customer for _, _, customer in iface_extra],
            [{"vlans": sorted(vlan_ids[v] for v in vnis)} for _, vnis, _ in iface_extra],
        )
    )

    address_rows: dict[int, list[dict[str, Any]]] = {4: [], 6: []}
    address_customers: dict[int, list[int | None]] = {4: [], 6: []}
    for path_entry_net in data["networks"]["ipv4"] + data["networks"]["ipv6"]:
        for address in path_entry_net["unassigned"]:
            net = plan.address_net[(address.version, int(address))]
            address_rows[address.version].append(
                {"address": address, "network_id": net.id, "vm_interface_id": None}
            )
            address_customers[address.version].append(None)
    for row, (listed, _, customer) in zip(iface_rows, iface_extra, strict=True):
        for address in listed:
            net = plan.address_net[(address.version, int(address))]
            address_rows[address.version].append(
                {"address": address, "network_id": net.id, "vm_interface_id": row["id"]}
            )
            address_customers[address.version].append(customer)
    for version, model in ADDRESS_MODELS.items():
        _insert(session, model, address_rows[version])
        audit.append((model, address_rows[version], address_customers[version], None))

    disk_rows, disk_customers, ceph_specs = [], [], []
    for vm, row in zip(data["vms"], vm_rows, strict=True):
        for disk in vm["disks"]:
            disk_rows.append(
                {
                    "vm_id": row["id"],
                    "size": disk["size"],
                    "storage_type_id": vocab["storage_type"][disk["type"]],
                    "cache_option_id": vocab["cache_option"][disk["cache"]],
                    **{c: disk[c] for c in LIMIT_COLUMNS},
                }
            )
            disk_customers.append(vm["customer_id"])
            ceph_specs.append(disk["ceph"])
    _insert(session, Storage, disk_rows)
    ceph_rows, ceph_customers = [], []
    for row, spec, customer in zip(disk_rows, ceph_specs, disk_customers, strict=True):
        if spec is not None:
            ceph_rows.append(
                {
                    "storage_id": row["id"],
                    "ceph_pool_id": pool_ids[spec["pool"]],
                    "discard": spec["discard"],
                }
            )
            ceph_customers.append(customer)
    insert_rows(session, StorageCeph.__table__, ceph_rows, ids=False)
    audit.append((Storage, disk_rows, disk_customers, None))
    audit.append((StorageCeph, ceph_rows, ceph_customers, None))

    for model, rows, customers, extras in audit:
        record_bulk_create(session, model, rows, customers, extras, now=now)

    return ImportSummary(
        {
            "nodes": len(node_rows),
            "vms": len(vm_rows),
            "interfaces": len(iface_rows),
            "addresses": len(address_rows[4]) + len(address_rows[6]),
            "disks": len(disk_rows),
            "networks": len(data["networks"]["ipv4"]) + len(data["networks"]["ipv6"]),
            "vlans": len(vlan_rows),
            "ceph_pools": len(pool_rows),
        }
    )
