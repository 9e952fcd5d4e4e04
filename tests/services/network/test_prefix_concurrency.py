"""Routed /64s under real concurrency (PostgreSQL): 50 interfaces ask one pool of 32 at once."""

from __future__ import annotations

from collections import Counter

import netaddr
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.services.network.test_concurrency import count, duplicates, run_parallel
from tests.support.fleet import GiB
from virtapi.db import Database
from virtapi.models import Ipv6PrefixPool, Ipv6RoutedPrefix, Vm, VmInterface, VmState
from virtapi.services.audit import set_actor
from virtapi.services.errors import DomainError
from virtapi.services.lookups import by_name
from virtapi.services.network import prefixes

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

WORKERS = 50


def test_parallel_prefix_allocation_is_unique_and_exhausts_cleanly(db_url: str) -> None:
    db = Database(db_url)
    with db.session() as s:
        set_actor(s, None, "setup")
        pool_id = prefixes.create_pool(s, "2001:db8:ab00::/59").id  # 32 /64s
        pending = by_name(s, VmState, "pending")
        ifaces = []
        for i in range(WORKERS):
            vm = Vm(
                hostname=f"p{i}.example.net",
                cores=1,
                ram=GiB,
                customer_id=7,
                requested_state=pending,
                actual_state=pending,
            )
            iface = VmInterface(vm=vm, mac=f"52:54:00:ab:00:{i:02x}")
            s.add_all([vm, iface])
            s.flush()
            ifaces.append(iface.id)

    def allocate(session: Session, i: int) -> str:
        pool = session.get(Ipv6PrefixPool, pool_id)
        row = prefixes.allocate_prefix(session, session.get(VmInterface, ifaces[i]), pool)
        return str(row.cidr)

    results = run_parallel(db_url, WORKERS, allocate)
    got = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert [r for r in results if not isinstance(r, str | DomainError)] == []
    assert len(got) == len(set(got)) == 32
    assert sorted(got) == sorted(str(n) for n in netaddr.IPNetwork("2001:db8:ab00::/59").subnet(64))
    assert Counter(e.code for e in refused) == {"exhausted": 18}
    with db.session() as s:
        assert count(s, Ipv6RoutedPrefix) == 32
        assert duplicates(s, Ipv6RoutedPrefix.prefix) == []
        assert duplicates(s, Ipv6RoutedPrefix.vm_interface_id) == []
        assert len(set(s.scalars(select(Ipv6RoutedPrefix.vm_interface_id)))) == 32
    db.dispose()
