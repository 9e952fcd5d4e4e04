"""Growth: the same measurements at several fleet sizes, one table.

    python3 -m bench.growth --sizes 1000 5000 10000      # hypervisors x 20 VMs each

Per size, in a fresh database of one private PostgreSQL cluster: import time, export time,
the uncached node document of a hypervisor with 100 VMs (median / p99, statements), and the
first and last page of GET /api/v1/vms?limit=100 by offset and by keyset (`after`), in
process through Flask's test client. Never part of the test run's pass/fail.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

from sqlalchemy import create_engine, text

from bench.fleet import generate
from bench.rest import timed_get
from bench.run import big_hypervisor, node_document_timing, time_import
from tests.support.pg import PostgresCluster, pg_bindir
from virtapi import migrate
from virtapi.app import create_app
from virtapi.db import Database
from virtapi.services import tokens, transfer


def _page_ms(client: Any, url: str, headers: dict[str, str], rounds: int = 15) -> float:
    return timed_get(client, url, headers, rounds)[0]


def measure(url: str, hypervisors: int, per_hv: int, doc_runs: int) -> dict[str, str]:
    migrate.upgrade(url)
    db = Database(url)
    fleet = generate(hypervisors, per_hv, 30, 20)
    load = os.getloadavg()[0]
    phases = time_import(db, fleet)
    started = time.perf_counter()
    with db.session() as s:
        exported = transfer.export_inventory(s)
    export_s = time.perf_counter() - started
    time_import(db, big_hypervisor(100))
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    timing = node_document_timing(db, doc_runs)
    assert timing is not None
    times, statements = timing
    with db.session() as s:
        _, token = tokens.create_token(s, "reader", name="bench")
        vms = s.execute(text("SELECT count(*) FROM vm")).scalar() or 0
        last_after = s.execute(
            text("SELECT id FROM vm ORDER BY id DESC OFFSET 100 LIMIT 1")
        ).scalar()
    db.dispose()
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "DATABASE_READ_URL": None})
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    client.get("/api/v1/whoami", headers=auth)
    pages = {
        "first": _page_ms(client, "/api/v1/vms?limit=100", auth),
        "last offset": _page_ms(client, f"/api/v1/vms?limit=100&offset={vms - 100}", auth),
        "last after": _page_ms(client, f"/api/v1/vms?limit=100&after={last_after}", auth),
    }
    app.extensions["virtapi.db"].dispose()
    return {
        "fleet": f"{hypervisors:,} × {per_hv} ({len(exported['vms']):,} VMs)",
        "import": f"{phases['total']:.1f} s",
        "export": f"{export_s:.1f} s",
        "node document median / p99": f"{statistics.median(times) * 1000:.2f} / "
        f"{statistics.quantiles(times, n=100)[98] * 1000:.2f} ms ({statements} statements)",
        "VM page first / last (offset) / last (after)": " / ".join(
            f"{v:.0f}" for v in pages.values()
        )
        + " ms",
        "load average": f"{load:.1f} → {os.getloadavg()[0]:.1f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--vms-per-hypervisor", type=int, default=20)
    parser.add_argument("--doc-runs", type=int, default=200)
    args = parser.parse_args()
    bindir = pg_bindir()
    if bindir is None:
        sys.exit("PostgreSQL server binaries not found")
    cluster = PostgresCluster(bindir).init().start()
    rows = []
    try:
        admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
        for size in args.sizes:
            with admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE growth_{size}"))
            url = cluster.url(f"growth_{size}").replace("postgresql+psycopg2", "postgresql")
            row = measure(url, size, args.vms_per_hypervisor, args.doc_runs)
            print("  ".join(f"{k}: {v}" for k, v in row.items()), file=sys.stderr, flush=True)
            rows.append(row)
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE growth_{size}"))
        admin.dispose()
    finally:
        cluster.destroy()
    head = list(rows[0])
    print(f"\nMeasured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with "
          f"`python3 -m bench.growth --sizes {' '.join(map(str, args.sizes))}`\n")  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row[k] for k in head) + " |")


if __name__ == "__main__":
    main()
