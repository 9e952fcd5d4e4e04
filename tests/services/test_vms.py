"""One call creates a complete VM, or nothing at all."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support.fleet import GiB, add_hypervisor
from virtapi.auth import Principal
from virtapi.models import (
    CephPool,
    CustomerQuota,
    Ipv4Address,
    Ipv6Address,
    Storage,
    StorageCeph,
    Vlan,
    Vm,
    VmInterface,
    vlan_member,
)
from virtapi.services.errors import Conflict, Forbidden, InvalidInput, NotFound, QuotaExceeded
from virtapi.services.lifecycle import delete_vm
from virtapi.services.network import ipam, networks, vlans
from virtapi.services.placement import Overcommit
from virtapi.services.vms import provision_vm

OC = Overcommit(cpu=4.0, ram=1.0)
RANGE = (20000, 20010)
OPERATOR = Principal(0, "test", "operator", None)


@pytest.fixture
def net(session: Any) -> dict[str, Any]:
    add_hypervisor(session, "hv01", cores=8, ram_gib=32, local_gb=500)
    add_hypervisor(session, "hv02", cores=8, ram_gib=32, local_gb=500, methods=("kvm", "qemu"))
    session.add_all([CephPool(name="rbd"), CephPool(name="ssd")])
    backend = Vlan(vni=777, name="backend")
    session.add(backend)
    session.flush()
    nets = {
        "v4": networks.create_network(session, 4, "198.51.100.0/24", gateway="198.51.100.1"),
        "v6": networks.create_network(session, 6, "2001:db8:1::/64", gateway="2001:db8:1::1"),
        "tiny": networks.create_network(session, 4, "192.0.2.0/30", gateway="192.0.2.1"),
        "vlan4": networks.create_network(session, 4, "10.77.0.0/24", vlan_id=backend.id),
        "backend": backend,
    }
    session.commit()
    return nets


def counts(session: Any) -> dict[str, int]:
    out = {}
    for label, table in (
        ("vm", Vm),
        ("vm_interface", VmInterface),
        ("storage", Storage),
        ("storage_ceph", StorageCeph),
    ):
        out[label] = session.scalar(select(func.count()).select_from(table))
    for label, model in (("ipv4", Ipv4Address), ("ipv6", Ipv6Address)):
        out[label] = session.scalar(
            select(func.count()).select_from(model).where(model.vm_interface_id.is_not(None))
        )
    out["vlan_member"] = session.scalar(select(func.count()).select_from(vlan_member))
    return out


def test_complete_vm_in_one_call(session: Any, net: dict[str, Any]) -> None:
    vm = provision_vm(
        session,
        hostname="web3.example.net",
        cores=2,
        ram=4 * GiB,
        customer_id=1001,
        method="qemu",
        cputime_limit=150,
        overcommit=OC,
        disks=[
            {
                "size": 20 * GiB,
                "storage_type": "lvm",
                "cache_option": "none",
                "read_iops_limit": 500,
            },
            {
                "size": 100 * GiB,
                "storage_type": "ceph",
                "cache_option": "writeback",
                "ceph_pool": "ssd",
                "discard": False,
                "write_bps_limit": 10**8,
            },
        ],
        interfaces=[
            {"ipv4_network_id": net["v4"].id, "ipv6_network_id": net["v6"].id},
            {"ipv4_network_id": net["vlan4"].id},
        ],
    )
    session.commit()
    assert isinstance(vm.uuid, uuid.UUID)
    assert vm.hostname == "web3.example.net"
    assert vm.node_method.virt_node.node.fqdn == "hv02.test.example"  # only hv02 has qemu
    assert (vm.requested_state.name, vm.actual_state.name) == ("running", "pending")
    lvm, ceph = vm.disks
    assert (lvm.storage_type.name, lvm.cache_option.name, lvm.read_iops_limit) == (
        "lvm",
        "none",
        500,
    )
    assert (ceph.ceph.ceph_pool.name, ceph.ceph.discard, ceph.write_bps_limit) == (
        "ssd",
        False,
        10**8,
    )
    first, second = vm.interfaces
    assert str(first.mac).startswith("52:54:00:") and first.mac != second.mac
    assert [str(a.address) for a in first.ipv4_addresses] == ["198.51.100.2"]
    assert [str(a.address) for a in first.ipv6_addresses] == ["2001:db8:1::2"]
    # The network's VLAN is joined automatically.
    assert [v.vni for v in second.vlans] == [777]
    assert [str(a.address) for a in second.ipv4_addresses] == ["10.77.0.1"]


def test_operator_may_choose_hypervisor_mac_and_addresses(
    session: Any, net: dict[str, Any]
) -> None:
    vm = provision_vm(
        session,
        hostname="pinned.example.net",
        cores=1,
        ram=GiB,
        customer_id=1001,
        overcommit=OC,
        hypervisor="hv01",
        start=False,
        interfaces=[
            {
                "mac": "52-54-00-AA-BB-CC",
                "ipv4_address": "198.51.100.99",
                "ipv6_address": "2001:db8:1::99",
                "vlans": [net["backend"].id],
            }
        ],
    )
    iface = vm.interfaces[0]
    assert str(iface.mac) == "52:54:00:aa:bb:cc"
    assert [str(a.address) for a in (*iface.ipv4_addresses, *iface.ipv6_addresses)] == [
        "198.51.100.99",
        "2001:db8:1::99",
    ]
    assert vm.requested_state.name == "stopped"
    with pytest.raises(Conflict, match="MAC 52:54:00:aa:bb:cc is already used"):
        provision_vm(
            session,
            hostname="dup.example.net",
            cores=1,
            ram=GiB,
            customer_id=1001,
            overcommit=OC,
            interfaces=[{"mac": "52:54:00:aa:bb:cc"}],
        )
    session.rollback()  # as the API does after any error
    with pytest.raises(InvalidInput, match="multicast"):
        provision_vm(
            session,
            hostname="mc.example.net",
            cores=1,
            ram=GiB,
            customer_id=1001,
            overcommit=OC,
            interfaces=[{"mac": "01:00:5e:00:00:01"}],
        )


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (
            {"interfaces": [{"ipv4_network_id": "tiny"}, {"ipv4_network_id": "tiny"}]},
            Conflict,
            "has no free address left",
        ),
        ({"hostname": "taken.example.net"}, Conflict, "already exists"),
        ({"disks": [{"size": GiB, "storage_type": "ceph"}]}, InvalidInput, "needs a ceph_pool"),
        (
            {"disks": [{"size": GiB, "storage_type": "lvm", "ceph_pool": "rbd"}]},
            InvalidInput,
            "only apply to ceph disks",
        ),
        (
            {"disks": [{"size": GiB, "storage_type": "floppy"}]},
            InvalidInput,
            "unknown storage_type",
        ),
        (
            {"disks": [{"size": GiB, "storage_type": "lvm", "read_iops_limit": 0}]},
            InvalidInput,
            "read_iops_limit must be positive",
        ),
        ({"disks": [{"size": 600 * 10**9, "storage_type": "raw"}]}, Conflict, "local storage free"),
        ({"interfaces": [{"vlans": [999]}]}, NotFound, "VLAN 999"),
        ({"interfaces": [{"ipv4_network_id": 999}]}, NotFound, "IPv4 network 999"),
        (
            {"interfaces": [{"ipv4_address": "203.0.113.5"}]},
            InvalidInput,
            "no IPv4 network contains",
        ),
        ({"interfaces": [{"speed": 10}]}, InvalidInput, "unknown fields: speed"),
        ({"method": "vmware"}, InvalidInput, "unknown virt_method"),
        ({"cores": 0}, InvalidInput, "cores must be a positive integer"),
        ({"hostname": "bad_name!"}, InvalidInput, "not a valid hostname"),
    ],
)
def test_failures_leave_nothing_behind(
    session: Any, net: dict[str, Any], change: dict[str, Any], error: type, message: str
) -> None:
    provision_vm(
        session, hostname="taken.example.net", cores=1, ram=GiB, customer_id=1, overcommit=OC
    )
    session.commit()
    before = counts(session)
    for nic in change.get("interfaces", []):
        if isinstance(nic.get("ipv4_network_id"), str):
            nic["ipv4_network_id"] = net[nic["ipv4_network_id"]].id
    request: dict[str, Any] = {
        "hostname": "new.example.net",
        "cores": 2,
        "ram": 2 * GiB,
        "customer_id": 1001,
        "disks": [{"size": 10 * GiB, "storage_type": "lvm"}],
        "interfaces": [{"ipv4_network_id": net["v4"].id, "ipv6_network_id": net["v6"].id}],
    }
    request.update(change)
    with pytest.raises(error, match=message):
        provision_vm(session, overcommit=OC, **request)
    session.rollback()
    assert counts(session) == before


def test_customer_rules(session: Any, net: dict[str, Any]) -> None:
    mine = vlans.create_vlan(session, OPERATOR, {"name": "mine", "customer_id": 1001}, RANGE)
    theirs = vlans.create_vlan(session, OPERATOR, {"name": "theirs", "customer_id": 1002}, RANGE)
    base = {"cores": 1, "ram": GiB, "customer_id": None, "overcommit": OC, "as_customer": 1001}
    vm = provision_vm(session, hostname="c1.example.net", interfaces=[{"vlans": [mine.id]}], **base)
    assert vm.customer_id == 1001 and vm.interfaces[0].vlans == [mine]
    with pytest.raises(NotFound, match=f"VLAN {theirs.id} does not exist"):
        provision_vm(
            session, hostname="c2.example.net", interfaces=[{"vlans": [theirs.id]}], **base
        )
    with pytest.raises(Forbidden, match="customers cannot choose hypervisor, interfaces.0..mac"):
        provision_vm(
            session,
            hostname="c3.example.net",
            hypervisor="hv01",
            interfaces=[{"mac": "52:54:00:00:00:01"}],
            **base,
        )
    with pytest.raises(Forbidden, match="only create VMs for themselves"):
        provision_vm(session, hostname="c4.example.net", **{**base, "customer_id": 1002})
    # Operators cannot bridge another customer's VM into a private VLAN either.
    with pytest.raises(Conflict, match="private to customer 1002"):
        provision_vm(
            session,
            hostname="c5.example.net",
            cores=1,
            ram=GiB,
            customer_id=1001,
            overcommit=OC,
            interfaces=[{"vlans": [theirs.id]}],
        )


def test_customer_quota(session: Any, net: dict[str, Any]) -> None:
    session.add(
        CustomerQuota(customer_id=1001, max_vms=2, max_cores=3, max_ram=None, max_disk=50 * GiB)
    )
    base = {"customer_id": 1001, "overcommit": OC, "as_customer": 1001}
    provision_vm(
        session,
        hostname="q1.example.net",
        cores=2,
        ram=GiB,
        **base,
        disks=[{"size": 40 * GiB, "storage_type": "lvm"}],
    )
    with pytest.raises(QuotaExceeded, match=r"cores would use 4 of 3 \(in use: 2\)"):
        provision_vm(session, hostname="q2.example.net", cores=2, ram=GiB, **base)
    with pytest.raises(QuotaExceeded, match=r"disk would use 60 GiB of 50 GiB"):
        provision_vm(
            session,
            hostname="q2.example.net",
            cores=1,
            ram=GiB,
            **base,
            disks=[{"size": 20 * GiB, "storage_type": "lvm"}],
        )
    provision_vm(session, hostname="q2.example.net", cores=1, ram=GiB, **base)
    with pytest.raises(QuotaExceeded, match=r"vms would use 3 of 2"):
        provision_vm(session, hostname="q3.example.net", cores=1, ram=GiB, **base)
    # Operators are not bound by the customer's quota.
    provision_vm(
        session, hostname="q3.example.net", cores=1, ram=GiB, customer_id=1001, overcommit=OC
    )


def test_purge_frees_addresses_and_capacity(session: Any, net: dict[str, Any]) -> None:
    vm = provision_vm(
        session,
        hostname="gone.example.net",
        cores=1,
        ram=GiB,
        customer_id=5,
        overcommit=OC,
        disks=[{"size": GiB, "storage_type": "ceph", "ceph_pool": "rbd"}],
        interfaces=[{"ipv4_network_id": net["v4"].id, "vlans": [net["backend"].id]}],
    )
    assert str(ipam.available(session, net["v4"], 1)[0]) == "198.51.100.3"
    delete_vm(session, None, vm)
    session.commit()
    assert counts(session)["vm"] == 0 and counts(session)["storage"] == 0
    assert str(ipam.available(session, net["v4"], 1)[0]) == "198.51.100.2"
    assert session.scalar(select(func.count()).select_from(vlan_member)) == 0
