"""Growth: the same measurements at several fleet sizes, one table.

    python3 -m bench.growth --sizes 1000 5000 10000      # hypervisors x 20 VMs each

Per size, in a fresh database of one private PostgreSQL cluster: import time (wall, and the
CPU time of this process and of the server's processes, which a shared machine disturbs
far less), export time,
the uncached node document of a hypervisor with 100 VMs (median / p99, statements), and the
first and last page of GET /api/v1/vms?limit=100 by offset and by keyset (`after`), in
process through Flask's test client. Then one gunicorn worker (`virtapi serve -w 1`) with
VIRTAPI_DOCUMENT_CACHE_SIZE=`--cache-size` answers GET /enc/<certname> for 1.5 × that many
distinct certnames, round robin on one keep-alive connection (every answer a cache miss: the
uncached ENC rate), and the worker's RSS is read from /proc once the cache is full.
Never part of the test run's pass/fail.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import create_engine, text

from bench.fleet import generate
from bench.rest import timed
from bench.run import big_hypervisor, node_document_timing, serve, time_import
from tests.support.pg import PostgresCluster, pg_bindir
from virtapi import migrate
from virtapi.app import create_app
from virtapi.db import Database
from virtapi.services import tokens, transfer


def _page_ms(client: Any, url: str, headers: dict[str, str], rounds: int = 15) -> float:
    """Median milliseconds of ``rounds`` GETs of ``url`` through the test client."""
    return statistics.median(timed(client, url, headers) for _ in range(rounds)) * 1000


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()  # noqa: SIM115 - tiny read
            except OSError:
                continue
            # The fields after the parenthesised command: state, ppid, …
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU of ``pid`` (with ``children``: of its reaped children instead)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    except OSError:
        return 0.0
    # After the command: state is field 3; utime, stime 14, 15; cutime, cstime 16, 17.
    first = 13 if children else 11
    return (int(fields[first]) + int(fields[first + 1])) / os.sysconf("SC_CLK_TCK")


def server_cpu(cluster: PostgresCluster) -> float:
    """CPU seconds the cluster's server processes have used so far: on a shared machine the
    import's wall time follows the neighbours, its CPU time (ours and the server's) much less."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    return _cpu_seconds(postmaster, children=True) + sum(
        _cpu_seconds(c) for c in _children(postmaster)
    )


def _rss_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):  # noqa: SIM115 - tiny read
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def enc_and_rss(url: str, token: str, certnames: list[str], cache_size: int) -> tuple[float, float]:
    """Uncached ENC answers per second over ``certnames`` (more than the cache holds) and the
    RSS in MiB of the one gunicorn worker afterwards."""
    os.environ["VIRTAPI_DOCUMENT_CACHE_SIZE"] = str(cache_size)
    try:
        with serve(url, 1) as base:
            parts = urlsplit(base)
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            headers = {"Authorization": f"Bearer {token}"}
            started = time.perf_counter()
            for certname in certnames:
                conn.request("GET", f"/enc/{certname}", headers=headers)
                resp = conn.getresponse()
                resp.read()
                assert resp.status == 200, (certname, resp.status)
            rate = len(certnames) / (time.perf_counter() - started)
            conn.close()
            workers = [c for p in _children(os.getpid()) for c in _children(p)]
            rss = max((_rss_mib(w) for w in workers), default=0.0)
    finally:
        del os.environ["VIRTAPI_DOCUMENT_CACHE_SIZE"]
    return rate, rss


def measure(
    cluster: PostgresCluster,
    url: str,
    hypervisors: int,
    per_hv: int,
    doc_runs: int,
    cache_size: int = 1000,
) -> tuple[dict[str, float], dict[str, str]]:
    migrate.upgrade(url)
    db = Database(url)
    fleet = generate(hypervisors, per_hv, 30, 20)
    load = os.getloadavg()[0]
    server = server_cpu(cluster)
    phases = time_import(db, fleet)
    server = server_cpu(cluster) - server
    print(f"import {hypervisors:,}: " + ", ".join(f"{k} {v:.1f}" for k, v in phases.items())
          + f", cpu_server {server:.1f} s (load average {load:.1f} → {os.getloadavg()[0]:.1f})",
          file=sys.stderr, flush=True)  # fmt: skip
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
        # Hypervisors and VMs interleaved, more of them than the cache holds.
        want = cache_size * 3 // 2
        certnames = list(
            s.execute(
                text(
                    "SELECT name FROM (SELECT fqdn AS name, id FROM node UNION ALL "
                    "SELECT hostname, id FROM vm) AS c ORDER BY id, name LIMIT :n"
                ),
                {"n": want},
            ).scalars()
        )
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
    enc_rate, rss = enc_and_rss(url, token, certnames, cache_size)
    cpu = phases["cpu_python"] + server
    raw = {"hypervisors": hypervisors, "vms": len(exported["vms"]), "import": phases["total"],
           "import_cpu": cpu, "document": statistics.median(times), "enc": enc_rate}  # fmt: skip
    return raw, {
        "fleet": f"{hypervisors:,} × {per_hv} ({len(exported['vms']):,} VMs)",
        "import": f"{phases['total']:.1f} s ({phases['total'] / hypervisors * 1e3:.1f} s / 1,000)",
        "import CPU, Python + server": f"{phases['cpu_python']:.1f} + {server:.1f} s "
        f"({cpu / hypervisors * 1e3:.1f} s / 1,000)",
        "export": f"{export_s:.1f} s",
        "node document median / p99": f"{statistics.median(times) * 1000:.2f} / "
        f"{statistics.quantiles(times, n=100)[98] * 1000:.2f} ms ({statements} statements)",
        f"ENC uncached ({len(certnames):,} certnames)": f"{enc_rate:.0f} req/s",
        f"worker RSS, cache of {cache_size:,} full": f"{rss:.0f} MiB",
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
    parser.add_argument("--cache-size", type=int, default=1000, help="VIRTAPI_DOCUMENT_CACHE_SIZE")
    args = parser.parse_args()
    bindir = pg_bindir()
    if bindir is None:
        sys.exit("PostgreSQL server binaries not found")
    cluster = PostgresCluster(bindir).init().start()
    rows, raws = [], []
    try:
        admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
        for size in args.sizes:
            with admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE growth_{size}"))
            url = cluster.url(f"growth_{size}").replace("postgresql+psycopg2", "postgresql")
            raw, row = measure(
                cluster, url, size, args.vms_per_hypervisor, args.doc_runs, args.cache_size
            )
            print("  ".join(f"{k}: {v}" for k, v in row.items()), file=sys.stderr, flush=True)
            rows.append(row)
            raws.append(raw)
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE growth_{size}"))
        admin.dispose()
    except KeyboardInterrupt:  # a slow machine: the table of the sizes that finished
        print("interrupted", file=sys.stderr)
    finally:
        cluster.destroy()
    if not rows:
        return
    head = list(rows[0])
    print(f"\nMeasured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with "
          f"`python3 -m bench.growth --sizes {' '.join(map(str, args.sizes))}`\n")  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row[k] for k in head) + " |")
    _budgets(raws)


def _budgets(raws: list[dict[str, float]]) -> None:
    """Linear import, 200,000 VMs under 6 minutes, document and ENC flat within 20 %."""
    small, large = raws[0], raws[-1]
    print()
    for key, what in (("import", "wall time"), ("import_cpu", "CPU time (Python + server)")):
        per = [r[key] / r["hypervisors"] for r in raws]
        print(f"import {what} per hypervisor, largest / smallest fleet: {per[-1] / per[0]:.2f} "
              f"(linear ≤ 1, 10 % noise allowed {_mark(per[-1] <= per[0] * 1.1)})")  # fmt: skip
    if large["vms"] >= 200_000:
        print(f"import of {large['vms']:,} VMs: {large['import']:.0f} s "
              f"(< 360 s {_mark(large['import'] < 360)})")  # fmt: skip
    doc = large["document"] / small["document"]
    enc = large["enc"] / small["enc"]
    print(f"node document time {doc:.2f}× and ENC rate {enc:.2f}× the smallest fleet's "
          f"(flat within 20 % {_mark(doc <= 1.2 and enc >= 0.8)})")  # fmt: skip


def _mark(ok: bool) -> str:
    return "✔" if ok else "✘"


if __name__ == "__main__":
    main()
