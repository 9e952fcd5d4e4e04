"""The node document with configuration data (issue 18): 1,000 host groups, 20 levels of data.

    python3 -m bench.config_data            # SQLite in a temporary file
    python3 -m bench.config_data --pg       # a private PostgreSQL (bench.run's cluster)

A hypervisor with 100 VMs (the test suite's fleet) sits in two chains of 8 nested groups
(16 group levels) plus global, area, role and node data: 20 levels, 20 keys each. Another
984 groups with data and no member of this node fill the table. Prints the SQL statements and
the median/p99 uncached build time without and with that data, the budget line of issue 18
point 5 (same statements as without data, < 5 ms median and < 15 ms p99 on PostgreSQL) and
the load average. The heap is frozen first (gc.freeze), as `virtapi serve`'s workers do.
Never part of the tests.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import event, select  # noqa: E402

from bench.calibrate import loop_seconds  # noqa: E402
from tests.services.test_node_document import make_fleet  # noqa: E402
from virtapi import migrate  # noqa: E402
from virtapi.db import Database  # noqa: E402
from virtapi.models import ConfigData, HostGroup, HostGroupMember, Node  # noqa: E402
from virtapi.services.audit import set_actor  # noqa: E402
from virtapi.services.node_document import build_node_document  # noqa: E402

HV = "hv-a.test"
KEYS = 20


def _data(level: str) -> dict[str, object]:
    return {f"{level}::key{i}": {"value": i, "list": [level, i]} for i in range(KEYS)}


def fill_config(db: Database, groups: int) -> None:
    with db.sessionmaker() as session:
        set_actor(session, None, "bench")
        node = session.scalar(select(Node).where(Node.fqdn == HV))
        assert node is not None
        node.area = "bench"
        for level, target in (("global", ""), ("area", "bench"), ("role", "hypervisor")):
            session.add(ConfigData(level=level, target=target, classes={}, data=_data(level)))
        session.add(
            ConfigData(level="node", target=f"node:{node.id}", node_id=node.id, classes={},
                       data=_data("node"))
        )  # fmt: skip
        made = 0
        for chain in ("a", "b"):  # two chains of 8: the node's 16 group levels
            parent = None
            for depth in range(8):
                group = HostGroup(
                    name=f"{chain}{depth}", description="", parent=parent, depth=depth,
                    classes={f"profile::{chain}{depth}": {"p": depth}},
                    data=_data(f"group_{chain}{depth}"),
                )  # fmt: skip
                session.add(group)
                parent = group
                made += 1
            session.add(HostGroupMember(group=parent, node_id=node.id))
        while made < groups:
            session.add(
                HostGroup(name=f"other{made}", description="", depth=0, classes={},
                          data=_data(f"other{made}"))
            )  # fmt: skip
            made += 1
        session.commit()


def measure(db: Database, rounds: int) -> tuple[int, float, float, int]:
    statements: list[str] = []
    listener = lambda *a: statements.append(a[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    times = []
    keys = 0
    gc.collect()
    gc.freeze()
    with db.sessionmaker() as session:
        for _ in range(10):  # warm: psycopg prepares a statement on its sixth run
            build_node_document(session, HV)
        for _ in range(rounds):
            statements.clear()
            started = time.perf_counter()
            document = build_node_document(session, HV)
            times.append(time.perf_counter() - started)
            assert document is not None
            keys = len(document["config"]["data"])
    event.remove(db.engine, "before_cursor_execute", listener)
    gc.unfreeze()
    reads = sum(1 for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH")))
    return reads, statistics.median(times), statistics.quantiles(times, n=100)[98], keys


@contextmanager
def database(pg: bool) -> Iterator[str]:
    if pg:
        from bench.run import bench_database

        with bench_database() as url:
            yield url
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite"
        migrate.upgrade(url)
        yield url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", action="store_true", help="private PostgreSQL instead of SQLite")
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--vms", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args(argv)
    with database(args.pg) as url:
        db = Database(url)
        with db.sessionmaker() as session:
            set_actor(session, None, "bench")
            make_fleet(session, args.vms)
        print(f"{'backend':<10} {'data':<28} {'reads':>5} {'median ms':>9} {'p99 ms':>8} keys")
        backend = "postgresql" if args.pg else "sqlite"
        plain, median, p99, keys = measure(db, args.rounds)
        print(f"{backend:<10} {'none':<28} {plain:>5} {median * 1000:>9.2f} {p99 * 1000:>8.2f} "
              f"{keys}")  # fmt: skip
        fill_config(db, args.groups)
        reads, median, p99, keys = measure(db, args.rounds)
        label = f"{args.groups} groups, 20 levels"
        print(f"{backend:<10} {label:<28} {reads:>5} {median * 1000:>9.2f} {p99 * 1000:>8.2f} "
              f"{keys}")  # fmt: skip
        met = reads == plain and median < 0.005 and p99 < 0.015
        print(
            f"budget (issue 18.5: statements as without data, < 5 ms median, < 15 ms p99"
            f"{'' if args.pg else '; PostgreSQL is the budget, this is SQLite'}):"
            f" {'met' if met else 'NOT met'} (load average {os.getloadavg()[0]:.1f},"
            f" calibration {loop_seconds():.2f} s: python3 -m bench.calibrate)"
        )
        db.dispose()


if __name__ == "__main__":
    main()
