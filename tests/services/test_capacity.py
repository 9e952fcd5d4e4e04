"""Committed resources per hypervisor, counted from placed VMs and their local disks."""

from __future__ import annotations

from typing import Any

from virtapi.db import Database
from virtapi.services.capacity import GB, hypervisor_usage

GiB = 1024**3


def test_demo_fleet_usage(app: Any, demo: Any) -> None:
    db: Database = app.extensions["virtapi.db"]
    with db.session() as s:
        usage = {u.fqdn.split(".")[0]: u for u in hypervisor_usage(s)}
    assert set(usage) == {"hv01", "hv02", "hv03"}
    hv01, hv02, hv03 = usage["hv01"], usage["hv02"], usage["hv03"]
    # hv01 carries web1 (2 cores, 4 GiB, 20 GiB lvm) and db1 (4, 16 GiB, 100 GiB lvm + ceph).
    assert (hv01.vm_count, hv01.used_cores, hv01.used_ram) == (2, 6, 20 * GiB)
    assert hv01.used_local_bytes == 120 * GiB  # the Ceph disk is not local
    assert hv01.methods == ("kvm", "qemu")
    # hv02: web2 (ceph only) and app1 (30 GiB qcow2).
    assert (hv02.vm_count, hv02.used_cores, hv02.used_local_bytes) == (2, 4, 30 * GiB)
    assert (hv03.vm_count, hv03.used_ram) == (1, 2 * GiB)
    assert hv03.local_storage_bytes == 2000 * GB
    assert hv01.free_cores(4.0) == 32 * 4 - 6
    with db.session() as s:
        only = hypervisor_usage(s, [hv02.virt_node_id])
    assert [u.fqdn for u in only] == [hv02.fqdn]
