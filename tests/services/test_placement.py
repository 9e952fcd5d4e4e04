"""Placement: only running hypervisors with the method and room qualify; least loaded wins."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.fleet import GiB, add_hypervisor
from virtapi.models import CephPool, NodeState
from virtapi.services import placement
from virtapi.services.errors import Conflict, NotFound
from virtapi.services.lookups import by_name
from virtapi.services.placement import Need, Overcommit
from virtapi.services.vms import provision_vm

OC = Overcommit(cpu=1.0, ram=1.0)


def vm(session: Any, name: str, cores: int = 2, ram_gib: int = 4, **kw: Any) -> Any:
    kw.setdefault("overcommit", OC)
    return provision_vm(
        session, hostname=f"{name}.example.net", cores=cores, ram=ram_gib * GiB, customer_id=7, **kw
    )


def where(v: Any) -> str:
    return v.node_method.virt_node.node.fqdn.split(".")[0]


def test_least_loaded_wins_and_load_spreads(session: Any) -> None:
    add_hypervisor(session, "hv01", cores=8, ram_gib=32)
    add_hypervisor(session, "hv02", cores=16, ram_gib=64)
    # Load is the core or RAM share after placing: 2/16 on hv02 beats 2/8 on hv01; then
    # 4/16 and 2/8 tie and the one with fewer VMs wins; 6/16 beats 4/8; then 8/16 and 4/8 tie again.
    got = [where(vm(session, f"a{i}")) for i in range(5)]
    assert got == ["hv02", "hv01", "hv02", "hv02", "hv01"]


def test_no_capacity_messages_name_the_resource(session: Any) -> None:
    add_hypervisor(session, "hv01", cores=4, ram_gib=16, local_gb=100)
    add_hypervisor(session, "hv02", cores=8, ram_gib=12, local_gb=50)
    add_hypervisor(session, "hv03", cores=64, ram_gib=512, methods=("qemu",))
    add_hypervisor(session, "hv04", cores=64, ram_gib=512, state="maintenance")
    with pytest.raises(
        Conflict,
        match=r"no running hypervisor with kvm has 64 GiB RAM free "
        r"\(largest free: 16 GiB on hv01\)",
    ) as exc:
        vm(session, "big", ram_gib=64)
    assert exc.value.code == "no_capacity"
    with pytest.raises(
        Conflict,
        match=r"no running hypervisor with kvm and 14 GiB RAM free has 6 cores free "
        r"\(most free: 4 on hv01, CPU overcommit 1\)",
    ):
        vm(session, "wide", cores=6, ram_gib=14)
    with pytest.raises(Conflict, match=r"has 200 GiB local storage free \(largest free: 93"):
        vm(session, "disky", disks=[{"size": 200 * GiB, "storage_type": "lvm"}])
    with pytest.raises(Conflict, match="no running hypervisor supports virtualisation method"):
        vm(session, "nspawn", method="systemd-nspawn")
    # Overcommit turns hv01's 4 cores into 8.
    assert where(vm(session, "wide", cores=6, ram_gib=14, overcommit=Overcommit(cpu=2.0))) == "hv01"
    # Ceph disks do not use local storage.
    session.add(CephPool(name="rbd"))
    cephy = vm(session, "cephy", disks=[{"size": 500 * GiB, "ceph_pool": "rbd"}])
    assert cephy.disks[0].ceph.ceph_pool.name == "rbd"


def test_no_running_hypervisor(session: Any) -> None:
    with pytest.raises(Conflict, match="no hypervisor is registered"):
        vm(session, "x")
    add_hypervisor(session, "hv01", state="offline")
    with pytest.raises(Conflict, match=r"no hypervisor is in state running \(1 registered\)"):
        vm(session, "x")


def test_manual_placement_is_validated_like_automatic(session: Any) -> None:
    add_hypervisor(session, "hv01", cores=4, ram_gib=16)
    add_hypervisor(session, "hv02", cores=32, ram_gib=128, state="maintenance", methods=("qemu",))
    assert where(vm(session, "m1", hypervisor="hv01.test.example")) == "hv01"
    assert where(vm(session, "m2", hypervisor="hv01")) == "hv01"  # short name
    with pytest.raises(Conflict) as exc:
        vm(session, "m3", hypervisor="hv02")
    assert "it is in state maintenance, not running" in exc.value.message
    assert "it does not support kvm (it has: qemu)" in exc.value.message
    with pytest.raises(Conflict, match="it has 8 GiB RAM free, the VM needs 9 GiB"):
        vm(session, "m4", ram_gib=9, hypervisor="hv01")
    with pytest.raises(NotFound, match="no hypervisor 'hv09'"):
        vm(session, "m5", hypervisor="hv09")


def test_migrate_moves_validates_and_never_counts_twice(session: Any) -> None:
    hv1 = add_hypervisor(session, "hv01", cores=4, ram_gib=16)
    add_hypervisor(session, "hv02", cores=4, ram_gib=16)
    big = vm(session, "big", cores=4, ram_gib=12, hypervisor="hv01")
    with pytest.raises(Conflict, match="already on hv01"):
        placement.migrate(session, big, OC, "hv01")
    placement.migrate(session, big, OC, "hv02")
    assert where(big) == "hv02"
    # hv01 is empty again, hv02 full: another big one fits on hv01 only.
    other = vm(session, "other", cores=4, ram_gib=12)
    assert where(other) == "hv01"
    with pytest.raises(Conflict, match="cannot go to hv02: it has 4 GiB RAM free"):
        placement.migrate(session, other, OC, "hv02")
    # Automatic migration looks only at other hypervisors.
    hv1.node.state = by_name(session, NodeState, "maintenance")
    session.flush()
    with pytest.raises(Conflict, match="no hypervisor is in state running|RAM free"):
        placement.migrate(session, other, OC)


def test_choose_prefers_lowest_share_after_placement(session: Any) -> None:
    add_hypervisor(session, "hv01", cores=8, ram_gib=64)
    add_hypervisor(session, "hv02", cores=32, ram_gib=16)
    # RAM-heavy VM: on hv02 it would use 75 % of RAM, on hv01 19 %.
    chosen = placement.choose(session, Need(cores=1, ram=12 * GiB, local_bytes=0, method="kvm"), OC)
    assert chosen.fqdn.startswith("hv01")
