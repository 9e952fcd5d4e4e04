"""Which node documents a change alters: the certnames (node fqdns, VM hostnames) to
invalidate, to name in the change feed, to converge.

Derived from what the node document contains (services/node_document.py), one change-log
row at a time: the row's table and its fields before and after say which objects it touches
(`touches`), and `Resolver` turns those into certnames with index lookups on the state
*after* the flush that wrote the row. A transaction's set is the union over its flushes;
any document that differs between the start and the end of the transaction differs across
at least one flush, so the union covers it.

Exact where cheap, a stated superset where exactness would cost a document build:

* a recorded change to a VM, its disks or interfaces names the VM and its hypervisor even if
  the changed field does not show (e.g. a description);
* a VLAN membership change or a move names every hypervisor carrying the VLANs involved (their
  VXLAN remote lists change only if the set of carrying hypervisors changes);
* a node's underlay address change names the node, its VXLAN peers and, for a monitor, every
  document listing monitors;
* a host group change names every member of the group and of its descendant groups (issue 18);
  global configuration data names everything, an area's the nodes in it, a role's the nodes
  (or VMs) with that role;
* a change to a snapshot, backup schedule, restore or routed /64 names the VM of its disk or
  interface and its hypervisor; an update of a backup store or base image names every VM
  whose schedules or clones use it (and their hypervisors);
* renaming a vocabulary entry (vm/node state, virt method, storage type, cache option) names
  everything (``*``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam, select

from ..models import (
    BackupSchedule,
    CephClient,
    CephMonNode,
    CephOsdNode,
    HostGroup,
    HostGroupMember,
    Node,
    NodeMethod,
    Snapshot,
    Storage,
    StorageCeph,
    VirtNode,
    Vm,
    VmInterface,
    vlan_member,
)
from ..models.network import ADDRESS_MODELS

EVERYTHING = "*"


def _ids(values: Iterable[int]) -> BindParameter:
    """An id list rendered into the statement (integers only): an import resolves hundreds
    of thousands of ids at once, past the drivers' bound-parameter limits (65,535 for
    psycopg 3, 32,766 for SQLite) and costly to bind one by one."""
    return bindparam(None, sorted(values), expanding=True, literal_execute=True)


_VOCABULARIES = frozenset({"vm_state", "node_state", "virt_method", "storage_type", "cache_option"})


@dataclass
class Touches:
    """Ids of what a change touches, by how each reaches documents."""

    names: set[str] = field(default_factory=set)  # certnames known literally (old names)
    vms: set[int] = field(default_factory=set)  # the VM and its hypervisor
    nodes: set[int] = field(default_factory=set)  # the node's own document
    underlay: set[int] = field(default_factory=set)  # node addresses: peers, monitor lists
    hosts: set[int] = field(default_factory=set)  # node ids whose hosted VMs show its data
    virt_nodes: set[int] = field(default_factory=set)  # hypervisor and every VM on it
    node_methods: set[int] = field(default_factory=set)  # the hypervisor behind a placement
    vlans: set[int] = field(default_factory=set)  # member VMs and carrying hypervisors
    peer_vlans: set[int] = field(default_factory=set)  # carrying hypervisors only
    peers_of_vms: set[int] = field(default_factory=set)  # hypervisors sharing the VMs' VLANs
    interfaces: set[int] = field(default_factory=set)  # VM or node of the interface
    storages: set[int] = field(default_factory=set)
    pools: set[int] = field(default_factory=set)
    snapshots: set[int] = field(default_factory=set)  # updated snapshots: their disk's VM
    schedules: set[int] = field(default_factory=set)  # updated backup schedules: their VM
    backup_stores: set[int] = field(default_factory=set)  # VMs with schedules into them
    base_images: set[int] = field(default_factory=set)  # VMs with disks cloned from them
    networks: set[tuple[int, int]] = field(default_factory=set)  # (ip version, id)
    ceph_clusters: set[int] = field(default_factory=set)  # nodes using the cluster
    ceph_clients: set[int] = field(default_factory=set)  # ... the client's cluster
    guests: set[int] = field(default_factory=set)  # the VM's own document only
    groups: set[int] = field(default_factory=set)  # members of the groups and descendants
    areas: set[str] = field(default_factory=set)  # nodes in the area
    roles: set[str] = field(default_factory=set)  # nodes (or VMs) with the role
    monitors: bool = False  # every document listing Ceph monitors
    everything: bool = False

    def update(self, other: Touches) -> None:
        # Called once per row of a bulk import: only the few non-empty sets are merged.
        for name in _SET_FIELDS:
            value = getattr(other, name)
            if value:
                getattr(self, name).update(value)
        self.monitors |= other.monitors
        self.everything |= other.everything


_SET_FIELDS = tuple(name for name, value in vars(Touches()).items() if isinstance(value, set))


def _values(key: str, *states: dict[str, Any] | None) -> set[Any]:
    return {s[key] for s in states if s and s.get(key) is not None}


def touches(
    table: str, object_id: str, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> Touches:
    """What one change-log row (table, id, fields before and after) touches. For updates,
    `before`/`after` hold only the changed fields, as in the change log."""
    t = Touches()
    changed = set(before or ()) | set(after or ())
    whole = before is None or after is None  # a create or a delete
    if table == "vm":
        t.vms.add(int(object_id))
        t.names |= _values("hostname", before)
        t.node_methods |= _values("node_method_id", before, after)
        if whole or "node_method_id" in changed:
            t.peers_of_vms.add(int(object_id))
    elif table == "vm_interface":
        t.vms |= _values("vm_id", before, after)
        t.underlay |= _values("node_id", before, after)
        if not whole:  # an update names only the changed fields (mac, name, purpose …)
            t.interfaces.add(int(object_id))
        old, new = set((before or {}).get("vlans") or ()), set((after or {}).get("vlans") or ())
        t.peer_vlans |= {int(v) for v in old ^ new}
    elif table in ("ipv4", "ipv6"):
        t.interfaces |= _values("vm_interface_id", before, after)
    elif table in ("ipv4_network", "ipv6_network") and not whole:
        t.networks.add((4 if table == "ipv4_network" else 6, int(object_id)))
    elif table == "vlan":
        t.vlans.add(int(object_id))
    elif table == "node":
        t.nodes.add(int(object_id))
        t.names |= _values("fqdn", before)
        if whole or "fqdn" in changed:
            # Monitors and hosted VMs show the fqdn; a deleted node takes its monitor
            # row (ON DELETE CASCADE, unseen by the ORM) with it.
            t.hosts.add(int(object_id))
            t.monitors = True
    elif table == "virt_node":
        t.nodes |= _values("node_id", before, after)
        t.virt_nodes.add(int(object_id))
    elif table == "node_method":
        t.virt_nodes |= _values("virt_node_id", before, after)
    elif table == "ceph_mon_node":
        t.nodes |= _values("node_id", before, after)
        t.monitors = True
    elif table == "ceph_osd_node":
        t.nodes |= _values("node_id", before, after)
    elif table == "storage":
        t.vms |= _values("vm_id", before, after)
    elif table == "storage_ceph":
        # The pool's name shows in the disk's VM document only (a rename: "ceph_pool").
        t.storages |= _values("storage_id", before, after)
    elif table == "ceph_cluster" and not whole:
        # A new cluster is in no document yet; a deleted one was refused while named.
        t.ceph_clusters.add(int(object_id))
    elif table == "ceph_client":
        # Nodes name a client of their own cluster or get the cluster's default: the
        # cluster's nodes are a superset of the documents a client shows in.
        t.ceph_clusters |= _values("ceph_cluster_id", before, after)
        t.ceph_clients.add(int(object_id))  # an update's row holds only what changed
    elif table in ("snapshot", "disk_restore"):
        t.storages |= _values("storage_id", before, after)
        if table == "snapshot" and not whole:  # an update lists only the changed fields
            t.snapshots.add(int(object_id))
    elif table == "backup_schedule":
        t.vms |= _values("vm_id", before, after)
        t.storages |= _values("storage_id", before, after)
        if not whole:
            t.schedules.add(int(object_id))
    elif table == "ipv6_routed_prefix":
        t.interfaces |= _values("vm_interface_id", before, after)
    elif table == "backup_store" and not whole:
        t.backup_stores.add(int(object_id))
    elif table == "base_image" and not whole:
        t.base_images.add(int(object_id))
    elif table == "ceph_pool" and "name" in changed and not whole:
        t.pools.add(int(object_id))
    elif table in _VOCABULARIES and "name" in changed and not whole:
        t.everything = True
    elif table == "host_group":
        # A new group has no members yet; its name shows in no document.
        if before is not None and changed - {"name", "description"}:
            t.groups.add(int(object_id))
    elif table == "host_group_member":
        t.nodes |= _values("node_id", before, after)
        t.guests |= _values("vm_id", before, after)
    elif table == "config_data":
        _config_touches(t, before, after)
    return t


def _config_touches(t: Touches, *states: dict[str, Any] | None) -> None:
    # An update records only the changed columns: level and target are the row's, so fall
    # back to the other state's (a level/target never changes in place).
    for state in states:
        if not state:
            continue
        level = state.get("level")
        if level == "global":
            t.everything = True
        elif level == "area":
            t.areas.add(state["target"])
        elif level == "role":
            t.roles.add(state["target"])
        t.nodes |= _values("node_id", state)
        t.guests |= _values("vm_id", state)


class Resolver:
    """Turns `Touches` into certnames with index lookups on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _col(self, statement: Any) -> set[Any]:
        return set(self.conn.execute(statement).scalars())

    def certnames(self, t: Touches) -> set[str]:
        if t.everything:
            return {EVERYTHING}
        names = set(t.names)
        vms = set(t.vms)
        nodes = set(t.nodes) | set(t.underlay)
        virt_nodes = set(t.virt_nodes)
        peer_vlans = set(t.peer_vlans)
        if t.interfaces:
            for vm_id, node_id in self.conn.execute(
                select(VmInterface.vm_id, VmInterface.node_id).where(
                    VmInterface.id.in_(_ids(t.interfaces))
                )
            ):
                if vm_id is not None:
                    vms.add(vm_id)
                else:
                    nodes.add(node_id)
                    t.underlay.add(node_id)
        if t.snapshots:
            t.storages |= self._col(
                select(Snapshot.storage_id).where(Snapshot.id.in_(_ids(t.snapshots)))
            )
        if t.backup_stores or t.schedules:
            for vm_id, storage_id in self.conn.execute(
                select(BackupSchedule.vm_id, BackupSchedule.storage_id).where(
                    BackupSchedule.store_id.in_(_ids(t.backup_stores))
                    | BackupSchedule.id.in_(_ids(t.schedules))
                )
            ):
                vms |= {vm_id} - {None}
                t.storages |= {storage_id} - {None}
        if t.base_images:
            vms |= self._col(
                select(Storage.vm_id).where(Storage.base_image_id.in_(_ids(t.base_images)))
            )
        if t.storages:
            vms |= self._col(select(Storage.vm_id).where(Storage.id.in_(_ids(t.storages))))
        if t.pools:
            vms |= self._col(
                select(Storage.vm_id)
                .join(StorageCeph, StorageCeph.storage_id == Storage.id)
                .where(StorageCeph.ceph_pool_id.in_(_ids(t.pools)))
            )
        for version, network_id in t.networks:
            address = ADDRESS_MODELS[version]
            for vm_id, node_id in self.conn.execute(
                select(VmInterface.vm_id, VmInterface.node_id)
                .join(address, address.vm_interface_id == VmInterface.id)
                .where(address.network_id == network_id)
                .distinct()
            ):
                if vm_id is not None:
                    vms.add(vm_id)
                else:  # a node network (purpose): the node, its peers, monitor lists
                    nodes.add(node_id)
                    t.underlay.add(node_id)
        if t.vlans:
            vms |= self._col(
                select(VmInterface.vm_id)
                .join(vlan_member, vlan_member.c.vm_interface_id == VmInterface.id)
                .where(vlan_member.c.vlan_id.in_(_ids(t.vlans)), VmInterface.vm_id.is_not(None))
            )
        if t.hosts:
            virt_nodes |= self._col(select(VirtNode.id).where(VirtNode.node_id.in_(_ids(t.hosts))))
        if t.underlay:
            # A hypervisor's underlay address is in its VXLAN peers' remote lists, a
            # monitor's in every monitor list.
            peer_vlans |= self._vlans_on(
                self._col(select(VirtNode.id).where(VirtNode.node_id.in_(_ids(t.underlay))))
            )
            if self._col(select(CephMonNode.id).where(CephMonNode.node_id.in_(_ids(t.underlay)))):
                t.monitors = True
        if t.peers_of_vms:
            peer_vlans |= self._col(
                select(vlan_member.c.vlan_id)
                .join(VmInterface, VmInterface.id == vlan_member.c.vm_interface_id)
                .where(VmInterface.vm_id.in_(_ids(t.peers_of_vms)))
            )
        if peer_vlans:
            nodes |= self._col(
                select(VirtNode.node_id)
                .join(NodeMethod, NodeMethod.virt_node_id == VirtNode.id)
                .join(Vm, Vm.node_method_id == NodeMethod.id)
                .join(VmInterface, VmInterface.vm_id == Vm.id)
                .join(vlan_member, vlan_member.c.vm_interface_id == VmInterface.id)
                .where(vlan_member.c.vlan_id.in_(_ids(peer_vlans)))
            )
        if virt_nodes:
            nodes |= self._col(select(VirtNode.node_id).where(VirtNode.id.in_(_ids(virt_nodes))))
            vms |= self._col(
                select(Vm.id)
                .join(NodeMethod, NodeMethod.id == Vm.node_method_id)
                .where(NodeMethod.virt_node_id.in_(_ids(virt_nodes)))
            )
        if t.node_methods:
            nodes |= self._col(
                select(VirtNode.node_id)
                .join(NodeMethod, NodeMethod.virt_node_id == VirtNode.id)
                .where(NodeMethod.id.in_(_ids(t.node_methods)))
            )
        if vms:
            for hostname, hypervisor in self.conn.execute(
                select(Vm.hostname, Node.fqdn)
                .outerjoin(NodeMethod, NodeMethod.id == Vm.node_method_id)
                .outerjoin(VirtNode, VirtNode.id == NodeMethod.virt_node_id)
                .outerjoin(Node, Node.id == VirtNode.node_id)
                .where(Vm.id.in_(_ids(vms)))
            ):
                names.add(hostname)
                if hypervisor is not None:
                    names.add(hypervisor)
        if t.ceph_clients:
            t.ceph_clusters |= self._col(
                select(CephClient.ceph_cluster_id).where(CephClient.id.in_(_ids(t.ceph_clients)))
            )
        if t.ceph_clusters:
            # A node's cluster is its own choice, else its monitor's (node_document).
            nodes |= self._col(
                select(Node.id).where(Node.ceph_cluster_id.in_(_ids(t.ceph_clusters)))
            )
            nodes |= self._col(
                select(CephMonNode.node_id)
                .join(Node, Node.id == CephMonNode.node_id)
                .where(
                    CephMonNode.ceph_cluster_id.in_(_ids(t.ceph_clusters)),
                    Node.ceph_cluster_id.is_(None),
                )
            )
        names |= self._config_names(t, nodes)
        if t.monitors:
            nodes |= self._col(select(VirtNode.node_id))
            nodes |= self._col(select(CephOsdNode.node_id))
            nodes |= self._col(select(CephMonNode.node_id))
        if nodes:
            names |= self._col(select(Node.fqdn).where(Node.id.in_(_ids(nodes))))
        return names

    def _config_names(self, t: Touches, nodes: set[int]) -> set[str]:
        """Issue 18: members of groups (and their descendants), areas, roles; adds node ids to
        ``nodes`` and returns VM hostnames (a VM's data shows in its own document only)."""
        guests = set(t.guests)
        if t.groups:
            tree = select(HostGroup.id).where(HostGroup.id.in_(_ids(t.groups))).cte(recursive=True)
            tree = tree.union(select(HostGroup.id).where(HostGroup.parent_id == tree.c.id))
            for node_id, vm_id in self.conn.execute(
                select(HostGroupMember.node_id, HostGroupMember.vm_id).where(
                    HostGroupMember.group_id.in_(select(tree.c.id))
                )
            ):
                if node_id is not None:
                    nodes.add(node_id)
                else:
                    guests.add(vm_id)
        if t.areas:
            nodes |= self._col(select(Node.id).where(Node.area.in_(t.areas)))
        for role, model in (
            ("hypervisor", VirtNode),
            ("ceph_osd", CephOsdNode),
            ("ceph_mon", CephMonNode),
        ):
            if role in t.roles:
                nodes |= self._col(select(model.node_id))
        if "vm" in t.roles:
            return self._col(select(Vm.hostname))
        if not guests:
            return set()
        return self._col(select(Vm.hostname).where(Vm.id.in_(_ids(guests))))

    def _vlans_on(self, virt_nodes: Iterable[int]) -> set[int]:
        ids = set(virt_nodes)
        if not ids:
            return set()
        return self._col(
            select(vlan_member.c.vlan_id)
            .join(VmInterface, VmInterface.id == vlan_member.c.vm_interface_id)
            .join(Vm, Vm.id == VmInterface.vm_id)
            .join(NodeMethod, NodeMethod.id == Vm.node_method_id)
            .where(NodeMethod.virt_node_id.in_(_ids(ids)))
        )
