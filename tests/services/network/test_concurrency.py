"""Real concurrency on PostgreSQL: parallel transactions, each on its own connection.

50 simultaneous VM creations on a fleet with room for 20 must produce exactly 20 complete VMs,
30 clean refusals, no duplicate address, MAC or VNI, and no hypervisor beyond its capacity.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.fleet import GiB, add_hypervisor, node_interface
from virtapi.auth import Principal
from virtapi.db import Database, make_engine
from virtapi.models import (
    CephPool,
    Ipv4Address,
    Ipv6Address,
    Storage,
    StorageCeph,
    Vlan,
    Vm,
    VmInterface,
    vlan_member,
)
from virtapi.services.audit import set_actor
from virtapi.services.capacity import hypervisor_usage
from virtapi.services.errors import DomainError
from virtapi.services.network import ipam, networks, vlans
from virtapi.services.placement import Overcommit
from virtapi.services.vms import provision_vm

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

WORKERS = 50
OC = Overcommit(cpu=2.0, ram=1.0)
OPERATOR = Principal(0, "test", "operator", None)


def run_parallel(url: str, n: int, work: Callable[[Session, int], Any]) -> list[Any]:
    """Run ``work(session, i)`` in ``n`` threads released at once; one transaction each."""
    engine = make_engine(url, pool_size=n, max_overflow=0)
    make = sessionmaker(engine, expire_on_commit=False)
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def worker(i: int) -> None:
        with make() as session:
            set_actor(session, None, f"worker{i}")
            session.connection()  # own connection before the start signal
            barrier.wait()
            try:
                results[i] = work(session, i)
                session.commit()
            except DomainError as exc:
                session.rollback()
                results[i] = exc
            except Exception as exc:  # anything else is a bug the test must show
                session.rollback()
                results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    engine.dispose()
    return results


def count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def duplicates(session: Session, column: Any) -> list[Any]:
    return list(session.scalars(select(column).group_by(column).having(func.count() > 1)))


def test_parallel_vm_creation_is_all_or_nothing(db_url: str) -> None:
    db = Database(db_url)
    with db.session() as s:
        set_actor(s, None, "setup")
        add_hypervisor(s, "hv01", cores=4, ram_gib=64)
        add_hypervisor(s, "hv02", cores=4, ram_gib=64)
        add_hypervisor(s, "hv03", cores=2, ram_gib=64)  # 20 one-core slots with overcommit 2
        s.add(CephPool(name="rbd"))
        v4 = networks.create_network(s, 4, "10.10.0.0/26", gateway="10.10.0.1").id
        v6 = networks.create_network(s, 6, "2001:db8:10::/64", gateway="2001:db8:10::1").id

    def create(session: Session, i: int) -> str:
        vm = provision_vm(
            session,
            hostname=f"vm{i:02d}.example.net",
            cores=1,
            ram=GiB,
            customer_id=1001,
            overcommit=OC,
            disks=[
                {"size": 10 * GiB, "storage_type": "lvm"},
                {"size": 5 * GiB, "storage_type": "ceph", "ceph_pool": "rbd"},
            ],
            interfaces=[{"ipv4_network_id": v4, "ipv6_network_id": v6}],
        )
        # A private VLAN in the same transaction, after placement, so its lock does not
        # serialise the placement decisions this test is about.
        vlan = vlans.create_vlan(
            session, OPERATOR, {"name": f"net{i}", "customer_id": 1001}, (100, 1000)
        )
        vlans.set_vlans(session, vm.interfaces[0], [vlan])
        return vm.hostname

    results = run_parallel(db_url, WORKERS, create)
    made = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, DomainError)]
    other = [r for r in results if not isinstance(r, str | DomainError)]
    assert other == [], other
    assert len(made) == 20
    assert Counter(e.code for e in refused) == {"no_capacity": 30}

    with db.session() as s:
        vms = count(s, Vm)
        assert vms == 20
        assert count(s, VmInterface, VmInterface.vm_id.is_not(None)) == vms
        assert count(s, Ipv4Address, Ipv4Address.vm_interface_id.is_not(None)) == vms
        assert count(s, Ipv6Address, Ipv6Address.vm_interface_id.is_not(None)) == vms
        assert count(s, Storage) == 2 * vms
        assert count(s, StorageCeph) == vms
        assert count(s, Vlan) == vms  # the refused requests' VLANs were rolled back too
        assert count(s, vlan_member) == vms
        for column in (Ipv4Address.address, Ipv6Address.address, VmInterface.mac, Vlan.vni):
            assert duplicates(s, column) == []
        # Every VM is complete: exactly one interface with one address of each family.
        for vm in s.scalars(select(Vm)):
            (iface,) = vm.interfaces
            assert (len(iface.ipv4_addresses), len(iface.ipv6_addresses)) == (1, 1)
            assert len(vm.disks) == 2 and len(iface.vlans) == 1
        assert sorted(str(a) for a in s.scalars(select(Ipv4Address.address))) == sorted(
            f"10.10.0.{i}" for i in range(2, 22)
        )
        for hv in hypervisor_usage(s):
            assert hv.used_cores <= hv.cores * OC.cpu, hv
        assert sorted(hv.vm_count for hv in hypervisor_usage(s)) == [4, 8, 8]
    db.dispose()


def test_parallel_allocations_from_one_network(db_url: str) -> None:
    """Without the placement lock in between: the network row lock alone keeps addresses unique."""
    db = Database(db_url)
    with db.session() as s:
        set_actor(s, None, "setup")
        net_id = networks.create_network(s, 4, "10.20.0.0/27", gateway="10.20.0.1").id
        ifaces = [node_interface(s, f"n{i}", f"0c:c4:7a:00:01:{i:02x}").id for i in range(40)]

    def allocate(session: Session, i: int) -> str:
        net = networks.get_network(session, 4, net_id)
        return str(ipam.allocate(session, net, session.get(VmInterface, ifaces[i])).address)

    results = run_parallel(db_url, 40, allocate)
    got = [r for r in results if isinstance(r, str)]
    assert len(got) == len(set(got)) == 29  # /27: 32 - network - broadcast - gateway
    assert {e.code for e in results if not isinstance(e, str)} == {"exhausted"}
    db.dispose()


def test_parallel_vlans_get_distinct_vnis(db_url: str) -> None:
    results = run_parallel(
        db_url, 30, lambda s, i: vlans.create_vlan(s, OPERATOR, {"name": f"v{i}"}, (500, 519)).vni
    )
    vnis = [r for r in results if isinstance(r, int)]
    assert sorted(vnis) == list(range(500, 520))
    assert {e.code for e in results if not isinstance(e, int)} == {"exhausted"}
