"""The node document: everything configuration management needs for one machine.

`build_node_document(session, certname)` answers for a physical node (by fqdn) or a VM
(by hostname or uuid) with a plain, JSON-able dict. The Puppet ENC, the Hiera data and
the Salt pillar are views of it (virtapi/enc, virtapi/pillar), so they always agree.

It runs a constant number of SQL queries however many VMs, interfaces, addresses and
disks a hypervisor carries: every query below selects plain columns for *all* VMs of the
hypervisor at once (joined on the hypervisor, never an IN list built from earlier
results), and Python stitches the rows together. Selecting columns instead of ORM
entities also keeps the build cheap: no identity map, no lazy loads to trip over.

Derived names (the database stores none of them; they only depend on ids, so they never
change while the object exists):

* interface ``<vm_id>-<interface_id>``, its bridge ``br-<vm_id>-<interface_id>``;
* disks ``vda``, ``vdb``, … in storage id order;
* LVM volume ``<vg_name>/vm<vm_id>-disk<storage_id>``;
* image file ``<local_storage_path>/vm<vm_id>-disk<storage_id>.<qcow2|raw>``;
* Ceph image ``<pool>/vm<vm_id>-disk<storage_id>``.
"""

from __future__ import annotations

import contextlib
import uuid as uuidlib
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import netaddr
from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.orm import Session, aliased

from virtapi.models import (
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

DEFAULT_ENVIRONMENT = "production"

# Disk names by position: vda … vdz, then vdaa … (libvirt's own scheme).
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def disk_name(index: int) -> str:
    """libvirt-style virtio disk name for the index-th disk (0 → vda, 26 → vdaa)."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = _LETTERS[rest] + name
    return "vd" + name


def build_node_document(
    session: Session, certname: str, default_environment: str = DEFAULT_ENVIRONMENT
) -> dict[str, Any] | None:
    """The node document for a node fqdn or a VM hostname/uuid; None if virtapi knows neither."""
    document = _node_document(session, certname, default_environment)
    if document is None:
        document = _vm_document(session, certname, default_environment)
    return document


# --- physical nodes ---------------------------------------------------------------------------


def _node_document(
    session: Session, certname: str, default_environment: str
) -> dict[str, Any] | None:
    row = session.execute(
        select(
            Node.id,
            Node.fqdn,
            Node.location,
            Node.area,
            Node.puppet_environment,
            NodeState.name.label("state"),
            VirtNode.id.label("virt_node_id"),
            VirtNode.cores,
            VirtNode.ram,
            VirtNode.local_storage_gb,
            VirtNode.vg_name,
            VirtNode.local_storage_path,
            CephOsdNode.id.label("osd_id"),
            CephMonNode.port.label("mon_port"),
        )
        .join(NodeState, NodeState.id == Node.node_state_id)
        .outerjoin(VirtNode, VirtNode.node_id == Node.id)
        .outerjoin(CephOsdNode, CephOsdNode.node_id == Node.id)
        .outerjoin(CephMonNode, CephMonNode.node_id == Node.id)
        .where(Node.fqdn == certname)
    ).one_or_none()
    if row is None:
        return None

    roles = []
    if row.virt_node_id is not None:
        roles.append("hypervisor")
    if row.osd_id is not None:
        roles.append("ceph_osd")
    if row.mon_port is not None:
        roles.append("ceph_mon")

    own = _node_addresses(session, Node.id == row.id).get(row.id, {"ipv4": [], "ipv6": []})
    underlay_ipv4 = own["ipv4"][0] if own["ipv4"] else None
    underlay_ipv6 = own["ipv6"][0] if own["ipv6"] else None
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
        },
    }

    monitors = None
    if row.virt_node_id is not None or row.osd_id is not None or row.mon_port is not None:
        # Hypervisors need the monitors too: libvirt's rbd disks name them.
        monitors = _ceph_monitors(session)

    if row.virt_node_id is not None:
        vm_filter = NodeMethod.virt_node_id == row.virt_node_id
        vms = _vms(session, vm_filter)
        document["hypervisor"] = {
            "virt_methods": list(
                session.scalars(
                    select(VirtMethod.name)
                    .join(NodeMethod, NodeMethod.virt_method_id == VirtMethod.id)
                    .where(NodeMethod.virt_node_id == row.virt_node_id)
                    .order_by(VirtMethod.name)
                )
            ),
            "cores": row.cores,
            "ram": row.ram,
            "local_storage_gb": row.local_storage_gb,
            "vg_name": row.vg_name,
            "local_storage_path": row.local_storage_path,
            "underlay_ipv4": underlay_ipv4,
            "underlay_ipv6": underlay_ipv6,
            "ceph_monitors": monitors,
            "vms": vms,
            "vxlans": _vxlans(session, row.virt_node_id, vms),
        }

    if row.osd_id is not None or row.mon_port is not None:
        assert monitors is not None
        ceph: dict[str, Any] = {}
        if row.mon_port is not None:
            ceph["mon_port"] = row.mon_port
        ceph["monitors"] = monitors
        ceph["mon_host"] = ",".join(_mon_addr(m) for m in monitors if m["address"])
        document["ceph"] = ceph
    return document


def _node_addresses(
    session: Session, node_filter: ColumnElement[bool]
) -> dict[int, dict[str, list[str]]]:
    """Addresses on the nodes' own interfaces (the underlay), first interface first.

    Two queries whatever the number of nodes the filter selects.
    """
    found: dict[int, dict[str, list[str]]] = defaultdict(lambda: {"ipv4": [], "ipv6": []})
    for key, model in (("ipv4", Ipv4Address), ("ipv6", Ipv6Address)):
        rows = session.execute(
            select(VmInterface.node_id, model.address)
            .join(VmInterface, VmInterface.id == model.vm_interface_id)
            .join(Node, Node.id == VmInterface.node_id)
            .where(node_filter)
            .order_by(VmInterface.node_id, VmInterface.id, model.address)
        )
        for node_id, address in rows:
            found[node_id][key].append(str(address))
    return found


def _ceph_monitors(session: Session) -> list[dict[str, Any]]:
    """All monitors with the address they listen on (their first underlay address)."""
    monitors = session.execute(
        select(Node.id, Node.fqdn, CephMonNode.port)
        .join(CephMonNode, CephMonNode.node_id == Node.id)
        .order_by(Node.fqdn)
    ).all()
    addresses = _node_addresses(session, Node.id.in_(select(CephMonNode.node_id)))
    result = []
    for node_id, fqdn, port in monitors:
        own = addresses.get(node_id, {"ipv4": [], "ipv6": []})
        address = (own["ipv4"] or own["ipv6"] or [None])[0]
        result.append({"fqdn": fqdn, "address": address, "port": port})
    return result


def _mon_addr(monitor: dict[str, Any]) -> str:
    address = monitor["address"]
    if ":" in address:  # IPv6 needs brackets before the port
        return f"[{address}]:{monitor['port']}"
    return f"{address}:{monitor['port']}"


# --- VMs --------------------------------------------------------------------------------------


def _vm_rows(session: Session, vm_filter: ColumnElement[bool]) -> Select[Any]:
    requested = aliased(VmState)
    actual = aliased(VmState)
    return (
        select(
            Vm.id,
            Vm.uuid,
            Vm.hostname,
            Vm.customer_id,
            Vm.cores,
            Vm.ram,
            Vm.cputime_limit,
            requested.name.label("requested_state"),
            actual.name.label("actual_state"),
            VirtMethod.name.label("virt_method"),
            Node.fqdn.label("hypervisor"),
            VirtNode.vg_name,
            VirtNode.local_storage_path,
        )
        .join(requested, requested.id == Vm.requested_state_id)
        .join(actual, actual.id == Vm.actual_state_id)
        .outerjoin(NodeMethod, NodeMethod.id == Vm.node_method_id)
        .outerjoin(VirtMethod, VirtMethod.id == NodeMethod.virt_method_id)
        .outerjoin(VirtNode, VirtNode.id == NodeMethod.virt_node_id)
        .outerjoin(Node, Node.id == VirtNode.node_id)
        .where(vm_filter)
        .order_by(Vm.id)
    )


def _vms(session: Session, vm_filter: ColumnElement[bool]) -> list[dict[str, Any]]:
    """Every VM the filter selects, with interfaces and disks: six queries in all.

    `vm_filter` is a condition on Vm / NodeMethod; each query joins Vm and NodeMethod
    and applies it, so the database does the matching instead of long IN lists.
    """
    vms: dict[int, dict[str, Any]] = {}
    storage_of: dict[int, tuple[str | None, str | None]] = {}
    for row in session.execute(_vm_rows(session, vm_filter)):
        vms[row.id] = {
            "uuid": str(row.uuid),
            "hostname": row.hostname,
            "customer_id": row.customer_id,
            "cores": row.cores,
            "ram": row.ram,
            "ram_mib": row.ram // (1024 * 1024),
            "cputime_limit": row.cputime_limit,
            "requested_state": row.requested_state,
            "actual_state": row.actual_state,
            "virt_method": row.virt_method,
            "hypervisor": row.hypervisor,
            "interfaces": [],
            "disks": [],
        }
        storage_of[row.id] = (row.vg_name, row.local_storage_path)
    if not vms:
        return []

    def scoped(query: Select[Any]) -> Select[Any]:
        return (
            query.join(Vm, Vm.id == VmInterface.vm_id)
            .outerjoin(NodeMethod, NodeMethod.id == Vm.node_method_id)
            .where(vm_filter)
        )

    interfaces: dict[int, dict[str, Any]] = {}
    for iface_id, vm_id, mac in session.execute(
        scoped(select(VmInterface.id, VmInterface.vm_id, VmInterface.mac)).order_by(VmInterface.id)
    ):
        iface = {
            "name": f"{vm_id}-{iface_id}",
            "bridge": f"br-{vm_id}-{iface_id}",
            "mac": str(mac),
            "vnis": [],
            "vlans": [],
            "ipv4": [],
            "ipv6": [],
        }
        interfaces[iface_id] = iface
        vms[vm_id]["interfaces"].append(iface)

    for iface_id, vni, name in session.execute(
        scoped(
            select(vlan_member.c.vm_interface_id, Vlan.vni, Vlan.name)
            .select_from(vlan_member)
            .join(Vlan, Vlan.id == vlan_member.c.vlan_id)
            .join(VmInterface, VmInterface.id == vlan_member.c.vm_interface_id)
        ).order_by(vlan_member.c.vm_interface_id, Vlan.vni)
    ):
        interfaces[iface_id]["vnis"].append(vni)
        interfaces[iface_id]["vlans"].append({"vni": vni, "name": name})

    for key, address_model, network_model in (
        ("ipv4", Ipv4Address, Ipv4Network),
        ("ipv6", Ipv6Address, Ipv6Network),
    ):
        for iface_id, address, prefixlen, gateway in session.execute(
            scoped(
                select(
                    address_model.vm_interface_id,
                    address_model.address,
                    network_model.prefixlen,
                    network_model.gateway,
                )
                .join(network_model, network_model.id == address_model.network_id)
                .join(VmInterface, VmInterface.id == address_model.vm_interface_id)
            ).order_by(address_model.vm_interface_id, address_model.address)
        ):
            interfaces[iface_id][key].append(
                {
                    "address": str(address),
                    "prefixlen": prefixlen,
                    "gateway": str(gateway) if gateway is not None else None,
                }
            )

    disk_rows = session.execute(
        select(
            Storage.id,
            Storage.vm_id,
            Storage.size,
            StorageType.name.label("type"),
            CacheOption.name.label("cache"),
            Storage.read_iops_limit,
            Storage.write_iops_limit,
            Storage.read_bps_limit,
            Storage.write_bps_limit,
            StorageCeph.discard,
            CephPool.name.label("pool"),
        )
        .join(StorageType, StorageType.id == Storage.storage_type_id)
        .join(CacheOption, CacheOption.id == Storage.cache_option_id)
        .outerjoin(StorageCeph, StorageCeph.storage_id == Storage.id)
        .outerjoin(CephPool, CephPool.id == StorageCeph.ceph_pool_id)
        .join(Vm, Vm.id == Storage.vm_id)
        .outerjoin(NodeMethod, NodeMethod.id == Vm.node_method_id)
        .where(vm_filter)
        .order_by(Storage.vm_id, Storage.id)
    )
    for row in disk_rows:
        disks = vms[row.vm_id]["disks"]
        disks.append(_disk(row, len(disks), storage_of[row.vm_id]))
    return list(vms.values())


def _disk(row: Any, index: int, storage: tuple[str | None, str | None]) -> dict[str, Any]:
    vg_name, storage_path = storage
    base = f"vm{row.vm_id}-disk{row.id}"
    disk: dict[str, Any] = {
        "name": disk_name(index),
        "type": row.type,
        "size": row.size,
        "cache": row.cache,
        "read_iops_limit": row.read_iops_limit,
        "write_iops_limit": row.write_iops_limit,
        "read_bytes_sec_limit": row.read_bps_limit,
        "write_bytes_sec_limit": row.write_bps_limit,
        # Only Ceph disks record discard; local thin LVs and sparse files want it too.
        "discard": bool(row.discard) if row.discard is not None else True,
    }
    if row.type == "lvm":
        disk["lv"] = f"{vg_name}/{base}" if vg_name else None
    elif row.type == "ceph":
        disk["pool"] = row.pool
        disk["image"] = base
    else:
        disk["path"] = f"{storage_path.rstrip('/')}/{base}.{row.type}" if storage_path else None
    return disk


def _vxlans(
    session: Session, virt_node_id: int, vms: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One entry per VNI on this hypervisor: its local bridges and the underlay addresses
    of the other hypervisors carrying the same VNI (head-end replication list)."""
    local: dict[int, dict[str, Any]] = {}
    for vm in vms:
        for iface in vm["interfaces"]:
            for vlan in iface["vlans"]:
                entry = local.setdefault(
                    vlan["vni"],
                    {
                        "vni": vlan["vni"],
                        "name": vlan["name"],
                        "bridges": [],
                        "remotes_ipv4": [],
                        "remotes_ipv6": [],
                    },
                )
                entry["bridges"].append(iface["bridge"])
    if not local:
        return []

    # Which other hypervisors carry one of our VNIs: the VNIs are found by a subquery on
    # this hypervisor, so the query does not grow with the number of VLANs.
    here_member = aliased(vlan_member)
    here_iface = aliased(VmInterface)
    here_vm = aliased(Vm)
    here_nm = aliased(NodeMethod)
    our_vlans = (
        select(here_member.c.vlan_id)
        .join(here_iface, here_iface.id == here_member.c.vm_interface_id)
        .join(here_vm, here_vm.id == here_iface.vm_id)
        .join(here_nm, here_nm.id == here_vm.node_method_id)
        .where(here_nm.virt_node_id == virt_node_id)
    )
    remote_vni_rows = session.execute(
        select(Vlan.vni, VirtNode.node_id)
        .select_from(vlan_member)
        .join(Vlan, Vlan.id == vlan_member.c.vlan_id)
        .join(VmInterface, VmInterface.id == vlan_member.c.vm_interface_id)
        .join(Vm, Vm.id == VmInterface.vm_id)
        .join(NodeMethod, NodeMethod.id == Vm.node_method_id)
        .join(VirtNode, VirtNode.id == NodeMethod.virt_node_id)
        .where(and_(vlan_member.c.vlan_id.in_(our_vlans), VirtNode.id != virt_node_id))
        .distinct()
    ).all()
    if remote_vni_rows:
        remote_nodes = {node_id for _, node_id in remote_vni_rows}
        addresses = _node_addresses(session, Node.id.in_(sorted(remote_nodes)))
        for vni, node_id in remote_vni_rows:
            own = addresses.get(node_id)
            if own is None:
                continue
            if own["ipv4"]:
                local[vni]["remotes_ipv4"].append(own["ipv4"][0])
            if own["ipv6"]:
                local[vni]["remotes_ipv6"].append(own["ipv6"][0])
    result = []
    for vni in sorted(local):
        entry = local[vni]
        entry["remotes_ipv4"] = _sorted_addresses(entry["remotes_ipv4"])
        entry["remotes_ipv6"] = _sorted_addresses(entry["remotes_ipv6"])
        result.append(entry)
    return result


def _sorted_addresses(addresses: list[str]) -> list[str]:
    # Numeric order, so the document (and its ETag) does not depend on row order.
    return [str(a) for a in sorted({netaddr.IPAddress(a) for a in addresses})]


# --- a VM's own document ----------------------------------------------------------------------


def _vm_document(
    session: Session, certname: str, default_environment: str
) -> dict[str, Any] | None:
    condition: ColumnElement[bool] = Vm.hostname == certname
    with contextlib.suppress(ValueError):  # not a uuid: a hostname only
        condition = condition | (Vm.uuid == uuidlib.UUID(certname))
    vms = _vms(session, condition)
    if not vms:
        return None
    vm = vms[0]
    vm["gateways"] = {
        family: sorted({a["gateway"] for i in vm["interfaces"] for a in i[family] if a["gateway"]})
        for family in ("ipv4", "ipv6")
    }
    vm["vlans"] = sorted({(v["vni"], v["name"]) for i in vm["interfaces"] for v in i["vlans"]})
    vm["vlans"] = [{"vni": vni, "name": name} for vni, name in vm["vlans"]]
    return {
        "certname": certname,
        "kind": "vm",
        "roles": ["guest"],
        "environment": default_environment,
        "vm": vm,
    }
