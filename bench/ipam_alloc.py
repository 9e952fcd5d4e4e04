"""How long the next free address takes in a /16 as it fills up (SQLite or PostgreSQL).

python3 bench/ipam_alloc.py [DATABASE_URL]     # default: a temporary SQLite file
"""

from __future__ import annotations

import sys
import tempfile
import time

import netaddr
from sqlalchemy import insert

from virtapi import migrate
from virtapi.db import Database
from virtapi.models import Ipv4Address, Node, NodeState, VmInterface
from virtapi.services.audit import set_actor
from virtapi.services.lookups import by_name
from virtapi.services.network import ipam, networks


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite"
    migrate.upgrade(url)
    db = Database(url)
    with db.session() as s:
        set_actor(s, None, "bench")
        node = Node(fqdn="bench.example", state=by_name(s, NodeState, "running"))
        iface = VmInterface(node=node, node_ifname="eno1", mac="0c:c4:7a:00:00:01")
        s.add_all([node, iface])
        net = networks.create_network(s, 4, "10.0.0.0/16", gateway="10.0.0.1")
        net_id, iface_id, base = net.id, iface.id, int(net.network)
    used = 2
    for target in (1_000, 10_000, 30_000, 60_000):
        with db.session() as s:
            s.execute(
                insert(Ipv4Address),
                [
                    {"address": netaddr.IPAddress(base + i), "network_id": net_id,
                     "vm_interface_id": iface_id}
                    for i in range(used, target + 2)
                ],
            )  # fmt: skip
        used = target + 2
        with db.session() as s:
            set_actor(s, None, "bench")
            net = networks.get_network(s, 4, net_id)
            iface = s.get(VmInterface, iface_id)
            start = time.perf_counter()
            row = ipam.allocate(s, net, iface)
            took = time.perf_counter() - start
            s.rollback()
        print(f"{target:>6} used: next free {row.address} in {took * 1000:.1f} ms")
    db.dispose()


if __name__ == "__main__":
    main()
