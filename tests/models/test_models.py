"""The database itself protects the data: every table's constraints, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import netaddr
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from virtapi.models import (
    ApiToken,
    CacheOption,
    CephMonNode,
    CephOsdNode,
    CephPool,
    Change,
    CustomerQuota,
    Image,
    Install,
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

GiB = 1024**3


def rejected(session: Session, make: Callable[[], Any]) -> None:
    """Adding what ``make`` builds must fail in the database; the session is left usable."""
    with pytest.raises((IntegrityError, StatementError)), session.begin_nested():
        obj = make()
        if obj is not None:
            session.add(obj)
        session.flush()


def accepted(session: Session, make: Callable[[], Any]) -> Any:
    obj = make()
    session.add(obj)
    session.flush()
    return obj


def lookup(session: Session, model: type, name: str) -> Any:
    return session.scalar(select(model).where(model.name == name))


@pytest.fixture
def base(session: Session) -> dict[str, Any]:
    """One hypervisor with kvm, one network, one VM: the smallest consistent inventory."""
    running = lookup(session, NodeState, "running")
    kvm = lookup(session, VirtMethod, "kvm")
    node = accepted(session, lambda: Node(fqdn="hv1.example.com", state=running))
    vnode = accepted(session, lambda: VirtNode(node=node, cores=8, ram=32 * GiB))
    nm = accepted(session, lambda: NodeMethod(virt_node=vnode, virt_method=kvm))
    vm_state = lookup(session, VmState, "running")
    vm = accepted(
        session,
        lambda: Vm(
            hostname="vm1.example.net",
            cores=2,
            ram=2 * GiB,
            customer_id=1,
            node_method=nm,
            requested_state=vm_state,
            actual_state=vm_state,
        ),
    )
    net = netaddr.IPNetwork("192.0.2.0/24")
    net4 = accepted(
        session,
        lambda: Ipv4Network(
            network=net.network, last_address=net.broadcast, prefixlen=24, gateway="192.0.2.1"
        ),
    )
    return {"node": node, "vnode": vnode, "nm": nm, "vm": vm, "state": vm_state, "net4": net4}


def test_lookup_tables_reject_duplicate_names(session: Session) -> None:
    for model in (NodeState, VmState, VirtMethod, StorageType, CacheOption):
        existing = session.scalar(select(model.name).limit(1))
        rejected(session, lambda m=model, n=existing: m(name=n))
    accepted(session, lambda: CephPool(name="rbd"))
    rejected(session, lambda: CephPool(name="rbd"))


def test_node_fqdn_unique_and_state_required(session: Session, base: dict[str, Any]) -> None:
    rejected(session, lambda: Node(fqdn="hv1.example.com", state=base["node"].state))
    rejected(session, lambda: Node(fqdn="orphan.example.com", node_state_id=999999))


def test_node_state_in_use_cannot_be_deleted(session: Session, base: dict[str, Any]) -> None:
    def delete_state() -> None:
        session.delete(base["node"].state)

    rejected(session, delete_state)


def test_roles_at_most_once_per_node_and_positive(session: Session, base: dict[str, Any]) -> None:
    node = base["node"]
    rejected(session, lambda: VirtNode(node=node, cores=4, ram=GiB))
    other = accepted(session, lambda: Node(fqdn="hv2.example.com", state=node.state))
    rejected(session, lambda: VirtNode(node=other, cores=0, ram=GiB))
    rejected(session, lambda: VirtNode(node=other, cores=4, ram=-1))
    rejected(session, lambda: VirtNode(node=other, cores=4, ram=GiB, local_storage_gb=-5))
    accepted(session, lambda: CephOsdNode(node=other))
    rejected(session, lambda: CephOsdNode(node=other))
    rejected(session, lambda: CephMonNode(node=other, port=0))
    rejected(session, lambda: CephMonNode(node=other, port=70000))
    accepted(session, lambda: CephMonNode(node=other, port=6789))
    rejected(session, lambda: CephMonNode(node=other, port=6790))


def test_node_method_pair_unique(session: Session, base: dict[str, Any]) -> None:
    kvm = lookup(session, VirtMethod, "kvm")
    rejected(session, lambda: NodeMethod(virt_node=base["vnode"], virt_method=kvm))


def test_ram_and_storage_are_64_bit(session: Session, base: dict[str, Any]) -> None:
    vm = base["vm"]
    vm.ram = 6 * 1024**4  # 6 TiB does not fit in 32 bits
    disk = accepted(
        session,
        lambda: Storage(
            vm=vm,
            size=500 * 1024**4,
            storage_type=lookup(session, StorageType, "lvm"),
            cache_option=lookup(session, CacheOption, "none"),
            write_bps_limit=10 * GiB,
        ),
    )
    session.commit()
    session.expire_all()
    assert session.get(Vm, vm.id).ram == 6 * 1024**4
    assert session.get(Storage, disk.id).size == 500 * 1024**4


def test_vm_constraints(session: Session, base: dict[str, Any]) -> None:
    state = base["state"]

    def vm(**kw: Any) -> Vm:
        values = dict(
            hostname="x.example.net",
            cores=1,
            ram=GiB,
            customer_id=1,
            requested_state=state,
            actual_state=state,
        )
        values.update(kw)
        return Vm(**values)

    rejected(session, lambda: vm(cores=0))
    rejected(session, lambda: vm(ram=-GiB))
    rejected(session, lambda: vm(customer_id=-3))
    rejected(session, lambda: vm(cputime_limit=0))
    rejected(session, lambda: vm(hostname="vm1.example.net"))
    rejected(session, lambda: vm(uuid=base["vm"].uuid))
    rejected(session, lambda: vm(node_method_id=999999))
    placed = accepted(session, lambda: vm(uuid=uuid.uuid4()))
    assert placed.node_method_id is None  # unplaced until a hypervisor is chosen


def test_hypervisor_with_vms_cannot_be_deleted(session: Session, base: dict[str, Any]) -> None:
    rejected(session, lambda: session.delete(base["node"]))


def test_interface_needs_exactly_one_owner(session: Session, base: dict[str, Any]) -> None:
    vm, node = base["vm"], base["node"]
    rejected(session, lambda: VmInterface(mac="52:54:00:00:00:01"))
    rejected(session, lambda: VmInterface(mac="52:54:00:00:00:02", vm=vm, node=node))
    iface = accepted(session, lambda: VmInterface(mac="52:54:00:00:00:03", vm=vm))
    # MACs are unique whatever spelling they arrive in.
    rejected(session, lambda: VmInterface(mac="52-54-00-00-00-03", node=node))
    assert iface.name == f"{vm.id}-{iface.id}"
    assert iface.bridge == f"br-{vm.id}-{iface.id}"


def test_vlan_vni_unique_and_in_range(session: Session, base: dict[str, Any]) -> None:
    accepted(session, lambda: Vlan(vni=100, name="a"))
    rejected(session, lambda: Vlan(vni=100, name="b"))
    rejected(session, lambda: Vlan(vni=0, name="c"))
    rejected(session, lambda: Vlan(vni=2**24, name="d"))


def test_vlan_membership_is_many_to_many(session: Session, base: dict[str, Any]) -> None:
    a, b = Vlan(vni=201, name="a"), Vlan(vni=202, name="b")
    iface = VmInterface(mac="52:54:00:00:01:01", vm=base["vm"], vlans=[a, b])
    other = VmInterface(mac="52:54:00:00:01:02", vm=base["vm"], vlans=[a])
    session.add_all([iface, other])
    session.commit()
    session.expire_all()
    assert [v.vni for v in session.get(VmInterface, iface.id).vlans] == [201, 202]
    assert len(session.get(Vlan, a.id).interfaces) == 2
    session.delete(session.get(Vlan, a.id))
    session.commit()
    session.expire_all()
    assert [v.vni for v in session.get(VmInterface, iface.id).vlans] == [202]


def test_networks_unique_and_prefixlen_checked(session: Session, base: dict[str, Any]) -> None:
    net = netaddr.IPNetwork("192.0.2.0/24")
    rejected(
        session,
        lambda: Ipv4Network(network=net.network, last_address=net.broadcast, prefixlen=24),
    )
    rejected(
        session,
        lambda: Ipv4Network(network="10.0.0.0", last_address="10.0.0.255", prefixlen=33),
    )
    rejected(
        session,
        lambda: Ipv4Network(network="10.0.1.0", last_address="10.0.0.255", prefixlen=24),
    )
    # An IPv4 address cannot be stored as an IPv6 network and vice versa.
    rejected(
        session, lambda: Ipv6Network(network="10.0.0.0", last_address="10.0.0.255", prefixlen=24)
    )
    accepted(
        session,
        lambda: Ipv6Network(
            network="2001:db8::", last_address="2001:db8::ffff:ffff:ffff:ffff", prefixlen=64
        ),
    )


def test_addresses_unique_and_sort_in_sql(session: Session, base: dict[str, Any]) -> None:
    net4 = base["net4"]
    for addr in ("192.0.2.10", "192.0.2.9", "192.0.2.100"):
        accepted(session, lambda a=addr: Ipv4Address(address=a, network=net4))
    rejected(session, lambda: Ipv4Address(address="192.0.2.9", network=net4))
    rejected(session, lambda: Ipv4Address(address="192.0.2.11", network_id=999999))
    ordered = session.scalars(select(Ipv4Address.address).order_by(Ipv4Address.address)).all()
    # Text would sort 10 < 100 < 9; fixed-width bytes sort numerically.
    assert [str(a) for a in ordered] == ["192.0.2.9", "192.0.2.10", "192.0.2.100"]
    in_range = session.scalars(
        select(Ipv4Address.address).where(
            Ipv4Address.address.between(
                netaddr.IPAddress("192.0.2.9"), netaddr.IPAddress("192.0.2.50")
            )
        )
    ).all()
    assert sorted(str(a) for a in in_range) == ["192.0.2.10", "192.0.2.9"]


def test_ipv6_addresses_sort_numerically(session: Session) -> None:
    net = accepted(
        session,
        lambda: Ipv6Network(
            network="2001:db8::", last_address="2001:db8::ffff:ffff:ffff:ffff", prefixlen=64
        ),
    )
    for addr in ("2001:db8::a", "2001:db8::9", "2001:db8::1:0"):
        accepted(session, lambda a=addr: Ipv6Address(address=a, network=net))
    rejected(session, lambda: Ipv6Address(address="2001:DB8::A", network=net))
    ordered = session.scalars(select(Ipv6Address.address).order_by(Ipv6Address.address)).all()
    assert [str(a) for a in ordered] == ["2001:db8::9", "2001:db8::a", "2001:db8::1:0"]


def test_network_with_addresses_cannot_be_deleted(session: Session, base: dict[str, Any]) -> None:
    accepted(session, lambda: Ipv4Address(address="192.0.2.20", network=base["net4"]))
    rejected(session, lambda: session.delete(base["net4"]))


def test_deleting_interface_frees_its_addresses(session: Session, base: dict[str, Any]) -> None:
    iface = accepted(session, lambda: VmInterface(mac="52:54:00:00:02:01", vm=base["vm"]))
    addr = accepted(
        session, lambda: Ipv4Address(address="192.0.2.30", network=base["net4"], interface=iface)
    )
    session.commit()
    session.delete(iface)
    session.commit()
    session.expire_all()
    assert session.get(Ipv4Address, addr.id).vm_interface_id is None


def test_storage_constraints_and_ceph_share_id(session: Session, base: dict[str, Any]) -> None:
    ceph = lookup(session, StorageType, "ceph")
    none = lookup(session, CacheOption, "none")

    def disk(**kw: Any) -> Storage:
        values = dict(vm=base["vm"], size=GiB, storage_type=ceph, cache_option=none)
        values.update(kw)
        return Storage(**values)

    rejected(session, lambda: disk(size=0))
    rejected(session, lambda: disk(size=-GiB))
    for column in ("read_iops_limit", "write_iops_limit", "read_bps_limit", "write_bps_limit"):
        rejected(session, lambda c=column: disk(**{c: -1}))
    rejected(session, lambda: disk(storage_type=None, storage_type_id=999999))
    d = accepted(session, disk)
    pool = accepted(session, lambda: CephPool(name="vms"))
    accepted(session, lambda: StorageCeph(storage=d, ceph_pool=pool))
    rejected(session, lambda: StorageCeph(storage_id=999999, ceph_pool=pool))
    rejected(session, lambda: session.delete(pool))  # a pool in use stays
    session.commit()
    disk_id = d.id
    session.delete(base["vm"])  # disks and their Ceph rows go with the VM
    session.commit()
    session.expire_all()
    assert session.get(Storage, disk_id) is None
    assert session.get(StorageCeph, disk_id) is None


def test_customer_quota_and_tokens(session: Session) -> None:
    rejected(session, lambda: CustomerQuota(customer_id=0))
    rejected(session, lambda: CustomerQuota(customer_id=5, max_cores=-1))
    accepted(session, lambda: CustomerQuota(customer_id=5, max_cores=8))
    rejected(session, lambda: ApiToken(token_hash="a" * 64, role="root"))
    rejected(session, lambda: ApiToken(token_hash="b" * 64, role="customer"))
    rejected(session, lambda: ApiToken(token_hash="c" * 64, role="admin", customer_id=5))
    accepted(session, lambda: ApiToken(token_hash="d" * 64, role="customer", customer_id=5))
    rejected(session, lambda: ApiToken(token_hash="d" * 64, role="reader"))


def test_one_active_install_per_machine(session: Session, base: dict[str, Any]) -> None:
    image = accepted(session, lambda: Image(name="debian-12", os="debian", version="12", url="x"))
    rejected(session, lambda: Image(name="debian-12", os="debian", version="12", url="y"))

    def install(**kw: Any) -> Install:
        values = dict(vm=base["vm"], image=image, hostname="vm1", secret_hash="0" * 64)
        values.update(kw)
        return Install(**values)

    first = accepted(session, install)
    rejected(session, install)  # a second pending install of the same VM
    rejected(session, lambda: install(vm=None))  # neither VM nor node
    rejected(session, lambda: install(node=base["node"]))  # both
    rejected(session, lambda: install(vm=None, node=base["node"], percent=101))
    rejected(session, lambda: install(vm=None, node=base["node"], state="bogus"))
    first.state = "done"
    session.flush()
    accepted(session, install)  # finished installs no longer block a new one


def test_change_log_records_create_update_delete(session: Session) -> None:
    running = lookup(session, NodeState, "running")
    node = Node(fqdn="audited.example.com", state=running, location="r1")
    session.add(node)
    session.commit()
    node.location = "r2"
    session.commit()
    node_id = node.id
    session.delete(node)
    session.commit()
    changes = session.scalars(
        select(Change).where(Change.object_type == "node", Change.object_id == str(node_id))
    ).all()
    assert [c.action for c in changes] == ["create", "update", "delete"]
    assert changes[0].after["fqdn"] == "audited.example.com"
    assert changes[1].before == {"location": "r1"} and changes[1].after == {"location": "r2"}
    assert changes[2].before["location"] == "r2" and changes[2].after is None
    assert {c.actor for c in changes} == {"test"}


def test_change_log_never_holds_secret_hashes(session: Session) -> None:
    session.add(ApiToken(token_hash="e" * 64, role="reader", name="ci"))
    session.commit()
    change = session.scalars(select(Change).where(Change.object_type == "api_token")).one()
    assert "token_hash" not in change.after
    assert "e" * 64 not in str(change.after)
