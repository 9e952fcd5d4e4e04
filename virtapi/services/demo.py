"""A small, realistic fleet for trying virtapi out: `virtapi demo` and `virtapi serve --demo`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import netaddr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import (
    CacheOption,
    CephMonNode,
    CephOsdNode,
    CephPool,
    CustomerQuota,
    Image,
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
)
from . import tokens
from .errors import Conflict
from .lookups import by_name

GiB = 1024**3
DOMAIN = "dc1.example.com"


@dataclass
class DemoResult:
    summary: str
    tokens: dict[str, str] = field(default_factory=dict)


def _network(  # type: ignore[no-untyped-def]
    session: Session,
    model: type,
    cidr: str,
    gateway: str,
    description: str,
    purpose: str | None = None,
):
    net = netaddr.IPNetwork(cidr)
    row = model(
        network=net.network,
        last_address=netaddr.IPAddress(net.last, net.version),
        prefixlen=net.prefixlen,
        gateway=netaddr.IPAddress(gateway),
        description=description,
        purpose=purpose,
    )
    session.add(row)
    return row


def inventory_is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count()).select_from(Node))


def load_demo(session: Session) -> DemoResult:
    """Insert the demo fleet into an empty inventory; refuse to mix it into real data."""
    if not inventory_is_empty(session):
        raise Conflict("the database already holds nodes; the demo loads only into an empty one")
    running = by_name(session, NodeState, "running")
    vm_running = by_name(session, VmState, "running")
    vm_stopped = by_name(session, VmState, "stopped")
    kvm = by_name(session, VirtMethod, "kvm")
    qemu = by_name(session, VirtMethod, "qemu")
    types = {t: by_name(session, StorageType, t) for t in ("lvm", "qcow2", "raw", "ceph")}
    cache = {c: by_name(session, CacheOption, c) for c in ("none", "writeback", "default")}

    # One management network that VXLAN runs over too (no separate underlay NIC).
    mgmt4 = _network(
        session, Ipv4Network, "10.20.0.0/24", "10.20.0.1", "underlay / management", "management"
    )
    mgmt6 = _network(
        session, Ipv6Network, "fd00:20::/64", "fd00:20::1", "underlay / management", "management"
    )
    pub4 = _network(session, Ipv4Network, "198.51.100.0/24", "198.51.100.1", "public IPv4")
    pub6 = _network(session, Ipv6Network, "2001:db8:100::/64", "2001:db8:100::1", "public IPv6")
    pools = {name: CephPool(name=name) for name in ("rbd", "vms-ssd")}
    session.add_all(pools.values())

    def node(name: str, index: int, area: str) -> Node:
        row = Node(fqdn=f"{name}.{DOMAIN}", location=f"dc1 rack {index}", area=area, state=running)
        iface = VmInterface(
            node=row, node_ifname="eno1", mac=f"0c:c4:7a:00:00:{index:02x}", purpose="management"
        )
        session.add_all([row, iface])
        session.add(Ipv4Address(address=f"10.20.0.{10 + index}", network=mgmt4, interface=iface))
        session.add(Ipv6Address(address=f"fd00:20::{10 + index:x}", network=mgmt6, interface=iface))
        return row

    hypervisors: dict[str, NodeMethod] = {}
    for i, (name, area, methods) in enumerate(
        [("hv01", "a", [kvm, qemu]), ("hv02", "a", [kvm]), ("hv03", "b", [kvm])], start=1
    ):
        vnode = VirtNode(
            node=node(name, i, area),
            cores=32,
            ram=128 * GiB,
            local_storage_gb=2000,
            vg_name="vg0",
            local_storage_path="/var/lib/libvirt/images",
        )
        session.add(vnode)
        for method in methods:
            nm = NodeMethod(virt_node=vnode, virt_method=method)
            session.add(nm)
            if method is kvm:
                hypervisors[name] = nm
    for i, name in enumerate(("ceph01", "ceph02", "ceph03"), start=11):
        row = node(name, i, "a" if i < 13 else "b")
        session.add_all([CephOsdNode(node=row), CephMonNode(node=row, port=6789)])

    vlans = {
        1001: Vlan(vni=10001, name="backend", customer_id=1001, description="web ↔ db"),
        1002: Vlan(vni=10002, name="private", customer_id=1002),
    }
    session.add_all(vlans.values())
    session.add_all(
        [
            CustomerQuota(
                customer_id=1001, max_vms=10, max_cores=32, max_ram=64 * GiB, max_disk=2000 * GiB
            ),
            CustomerQuota(
                customer_id=1002, max_vms=5, max_cores=8, max_ram=16 * GiB, max_disk=500 * GiB
            ),
            Image(
                name="debian-12",
                os="debian",
                version="12",
                url="http://images.example.com/Debian-1207-bookworm-amd64-base.tar.gz",
                checksum="sha256:0000000000000000000000000000000000000000000000000000000000000000",
                partitioning="PART /boot ext3 1G\nPART lvm vg0 all\nLV vg0 root / ext4 all",
            ),
            Image(
                name="ubuntu-24.04",
                os="ubuntu",
                version="24.04",
                url="http://images.example.com/Ubuntu-2404-noble-amd64-base.tar.gz",
                checksum="",
                partitioning="PART /boot ext3 1G\nPART / ext4 all",
            ),
        ]
    )

    # (hostname, customer, hypervisor, cores, ram GiB, disks, vlan, running)
    vms = [
        ("web1", 1001, "hv01", 2, 4, [("lvm", 20, "none", None)], True, True),
        ("web2", 1001, "hv02", 2, 4, [("ceph", 40, "writeback", "rbd")], True, True),
        (
            "db1",
            1001,
            "hv01",
            4,
            16,
            [("lvm", 100, "none", None), ("ceph", 200, "writeback", "vms-ssd")],
            True,
            True,
        ),  # noqa: E501
        ("app1", 1002, "hv02", 2, 8, [("qcow2", 30, "default", None)], True, True),
        ("app2", 1002, "hv03", 1, 2, [("raw", 10, "none", None)], True, False),
    ]
    for n, (host, customer, hv, cores, ram, disks, in_vlan, up) in enumerate(vms, start=1):
        state = vm_running if up else vm_stopped
        vm = Vm(
            uuid=uuid.uuid5(uuid.NAMESPACE_DNS, f"{host}.c{customer}.example.net"),
            hostname=f"{host}.c{customer}.example.net",
            cores=cores,
            ram=ram * GiB,
            customer_id=customer,
            cputime_limit=100 * cores,
            node_method=hypervisors[hv],
            requested_state=state,
            actual_state=state,
        )
        iface = VmInterface(vm=vm, mac=f"52:54:00:00:{customer % 256:02x}:{n:02x}")
        if in_vlan:
            iface.vlans.append(vlans[customer])
        session.add_all([vm, iface])
        session.add(Ipv4Address(address=f"198.51.100.{9 + n}", network=pub4, interface=iface))
        session.add(Ipv6Address(address=f"2001:db8:100::{9 + n:x}", network=pub6, interface=iface))
        for kind, size, mode, pool in disks:
            disk = Storage(
                vm=vm,
                size=size * GiB,
                storage_type=types[kind],
                cache_option=cache[mode],
                read_iops_limit=2000 if host == "db1" else None,
                write_iops_limit=1000 if host == "db1" else None,
            )
            session.add(disk)
            if pool:
                session.add(StorageCeph(storage=disk, ceph_pool=pools[pool], discard=True))
    session.flush()

    result = DemoResult(
        summary=(
            "demo fleet loaded: 3 hypervisors, 3 Ceph OSD+monitor nodes, 4 networks, "
            "2 VLANs, 5 VMs of customers 1001 and 1002"
        )
    )
    for label, role, customer, secrets_scope in (
        ("admin", "admin", None, False),
        ("reader", "reader", None, False),
        # Stores Ceph keys and reads node documents with them (issue 16).
        ("operator (secrets)", "operator", None, True),
        ("customer 1001", "customer", 1001, False),
        ("customer 1002", "customer", 1002, False),
    ):
        _, plaintext = tokens.create_token(
            session, role, customer_id=customer, name=f"demo {label}", secrets_scope=secrets_scope
        )
        result.tokens[label] = plaintext
    return result
