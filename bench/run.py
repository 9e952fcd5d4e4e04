"""Benchmarks on a private PostgreSQL: bulk import, node document, config-management HTTP.

    python3 -m bench.run                       # the full 1,000 x 20 fleet (a few minutes)
    python3 -m bench.run --hypervisors 100     # quicker
    python3 -m bench.run --profile import      # pyinstrument profile of the import
    python3 -m bench.run --hypervisors 20 --profile http   # cProfile of cached ENC hits and 304s
    python3 -m bench.run --hypervisors 100 --duration 5 --baseline /work/main   # before/after

Prints one table (docs/scale.md shows the latest). Never part of the test run: timings depend
on the machine and on whatever else it is doing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text

from bench.fleet import GiB, generate
from tests.support.pg import PostgresCluster, free_port, pg_bindir
from virtapi import migrate
from virtapi.db import Database
from virtapi.services import tokens, transfer
from virtapi.services.audit import set_actor

ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = ROOT / "virtapi" / "static"  # Flask's default static folder of the app
BIG_HV = "hv-big.dc1.example.com"
PENDING = "pending"


def big_hypervisor(vms: int = 100) -> dict[str, Any]:
    """One hypervisor with ``vms`` VMs, in address space the generated fleet does not use."""
    doc: dict[str, Any] = {
        "version": 1,
        "nodes": [
            {
                "fqdn": BIG_HV,
                "hypervisor": {
                    "cores": 256,
                    "ram": 2048 * GiB,
                    "methods": ["kvm"],
                    "vg_name": "vg0",
                    "local_storage_gb": 20000,
                },
                "interfaces": [
                    {"name": "eno1", "mac": "0c:c4:7b:00:00:01", "addresses": ["100.127.255.2"]}
                ],
            }
        ],  # fmt: skip
        "networks": {
            "ipv4": [{"cidr": "100.127.0.0/16", "gateway": "100.127.0.1"}],
            "ipv6": [{"cidr": "2001:db8:ffff::/64", "gateway": "2001:db8:ffff::1"}],
        },
        "vlans": [{"vni": 900000, "name": "big", "customer_id": 9999}],
        "ceph_pools": [{"name": "bench-big"}],
        "vms": [],
    }
    for n in range(vms):
        disks: list[dict[str, Any]] = [{"type": "lvm", "size": 20 * GiB, "cache": "none"}]
        if n % 2:
            disks.append({"type": "ceph", "size": 100 * GiB, "cache": "writeback",
                          "read_iops_limit": 2000, "ceph": {"pool": "bench-big"}})  # fmt: skip
        doc["vms"].append(
            {
                "hostname": f"big{n:03d}.c9999.example.net",
                "customer_id": 9999,
                "cores": 2,
                "ram": 4 * GiB,
                "requested_state": "running",
                "actual_state": "running",
                "placement": {"hypervisor": BIG_HV, "method": "kvm"},
                "interfaces": [
                    {
                        "mac": f"52:54:01:00:{n // 256:02x}:{n % 256:02x}",
                        "vlans": [900000],
                        "addresses": [
                            f"100.127.{n // 250}.{n % 250 + 2}",
                            f"2001:db8:ffff::{n + 2:x}",
                        ],
                    }
                ],  # fmt: skip
                "disks": disks,
            }
        )
    return doc


@contextmanager
def counting(db: Database) -> Iterator[list[int]]:
    counter = [0]

    def _count(*_args: Any) -> None:
        counter[0] += 1

    event.listen(db.engine, "before_cursor_execute", _count)
    try:
        yield counter
    finally:
        event.remove(db.engine, "before_cursor_execute", _count)


def time_import(db: Database, doc: dict[str, Any]) -> dict[str, float]:
    raw = json.dumps(doc)
    phases: dict[str, float] = {}
    cpu = time.process_time()
    t0 = time.perf_counter()
    with transfer.gc_paused(), db.session() as s:
        set_actor(s, None, "bench")
        data = transfer.load_document(transfer.parse_document(raw, "json"))
        t1 = time.perf_counter()
        plan = transfer.check(s, data)
        t2 = time.perf_counter()
        transfer.write(s, data, plan)
        t3 = time.perf_counter()
    t4 = time.perf_counter()
    phases.update(
        parse_and_schema=t1 - t0, cross_check=t2 - t1, insert=t3 - t2, commit=t4 - t3, total=t4 - t0
    )
    # On a shared machine wall time depends on the neighbours; our own CPU time much less.
    phases["cpu_python"] = time.process_time() - cpu
    return phases


def node_document_timing(db: Database, runs: int) -> tuple[list[float], int] | None:
    try:
        from virtapi.services.node_document import build_node_document
    except ImportError:
        return None
    with db.session() as s:
        build_node_document(s, BIG_HV)  # warm caches and compiled statements
    times = []
    queries = 0
    for _ in range(runs):
        with db.session() as s, counting(db) as counter:
            t = time.perf_counter()
            build_node_document(s, BIG_HV)
            times.append(time.perf_counter() - t)
        queries = counter[0]
    return times, queries


# --- HTTP ---------------------------------------------------------------------------------------


def wrk(url: str, headers: dict[str, str], duration: int, connections: int) -> float:
    """Requests per second with wrk (Debian package), or a Python keep-alive client."""
    if shutil.which("wrk"):
        cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
        for k, v in headers.items():
            cmd += ["-H", f"{k}: {v}"]
        out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
        if "Non-2xx or 3xx" in out:
            raise RuntimeError(f"wrk saw errors for {url}:\n{out}")
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return python_client(url, headers, duration, connections)


def python_client(url: str, headers: dict[str, str], duration: int, connections: int) -> float:
    import http.client
    import threading
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    target = f"{parts.path}?{parts.query}" if parts.query else parts.path  # keep ?limit=100
    stop = time.monotonic() + duration
    counts = [0] * connections

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port)
        while time.monotonic() < stop:
            conn.request("GET", target, headers=headers)
            resp = conn.getresponse()
            resp.read()
            counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / duration


def fetch(url: str, headers: dict[str, str]) -> tuple[int, bytes, str | None]:
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(), resp.headers.get("ETag")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), None


@contextmanager
def serve(url: str, workers: int, checkout: Path = ROOT) -> Iterator[str]:
    """`virtapi serve` (gunicorn) on url; ``checkout``: the source tree to run (a baseline)."""
    port = free_port()
    instance = tempfile.mkdtemp(prefix="virtapi-bench-")
    env = {
        **os.environ,
        "VIRTAPI_DATABASE_URL": url,
        "VIRTAPI_INSTANCE_PATH": instance,
        "VIRTAPI_SECRET_KEY": "bench",
        # `python -m virtapi` from the checkout imports its package, not the installed one.
        "PYTHONPATH": str(checkout),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "virtapi", "serve", "-b", f"127.0.0.1:{port}", "-w", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=checkout,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if fetch(f"{base}/healthz", {})[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("virtapi serve did not come up")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(instance, ignore_errors=True)


# --- report -------------------------------------------------------------------------------------


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, what: str, value: str, ratio: str = "", budget: str = "") -> None:
        self.rows.append((what, value, ratio, budget))
        print(f"  {what}: {value} {ratio} {budget}", file=sys.stderr, flush=True)

    def markdown(self) -> str:
        head = ("measurement", "result", "vs static file", "budget")
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines)


@contextmanager
def bench_database() -> Iterator[str]:
    """The URL of a migrated, empty database on a private PostgreSQL, destroyed afterwards."""
    bindir = pg_bindir()
    if bindir is None:
        sys.exit("PostgreSQL server binaries not found (apt-get install postgresql)")
    cluster = PostgresCluster(bindir).init().start()
    try:
        admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE bench"))
        admin.dispose()
        # The production URL form: plain postgresql:// (psycopg 3, see virtapi.db.resolve_url).
        url = cluster.url("bench").replace("postgresql+psycopg2", "postgresql")
        migrate.upgrade(url)
        yield url
    finally:
        cluster.destroy()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="virtapi benchmarks on a private PostgreSQL")
    parser.add_argument("--hypervisors", type=int, default=1000)
    parser.add_argument("--vms-per-hypervisor", type=int, default=20)
    parser.add_argument("--ceph-nodes", type=int, default=30)
    parser.add_argument("--networks", type=int, default=20)
    parser.add_argument("--doc-runs", type=int, default=300)
    parser.add_argument("--duration", type=int, default=10, help="seconds per HTTP run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (e.g. /work/main) served beside this one on the same database; "
        "the config-management runs alternate between the two (before/after in one run)",
    )
    parser.add_argument(
        "--profile",
        choices=["import", "document", "http"],
        help="pyinstrument (import, document); http: cProfile of cached ENC answers and 304s "
        "through the WSGI app, instead of the gunicorn runs",
    )
    args = parser.parse_args(argv)

    table = Table()
    with bench_database() as url:
        db = Database(url)

        fleet = generate(args.hypervisors, args.vms_per_hypervisor, args.ceph_nodes, args.networks)
        vms = len(fleet["vms"])
        print(f"importing {args.hypervisors} hypervisors, {vms} VMs …", file=sys.stderr)
        profiler = _profiler(args.profile == "import")
        phases = time_import(db, fleet)
        _stop(profiler, "import")
        detail = ", ".join(f"{k} {v:.1f}" for k, v in phases.items() if k != "total")
        load = os.getloadavg()[0]
        table.add(
            f"import {args.hypervisors:,} hypervisors × {args.vms_per_hypervisor} VMs "
            f"({vms:,} VMs, one transaction)",
            f"{phases['total']:.1f} s ({detail}; load average {load:.1f})",
            "",
            "< 60 s" + (" ✔" if phases["total"] < 60 else " ✘"),
        )
        t = time.perf_counter()
        with db.session() as s:
            exported = transfer.export_inventory(s)
        table.add(f"export of the same ({len(exported['vms']):,} VMs)",
                  f"{time.perf_counter() - t:.1f} s")  # fmt: skip
        time_import(db, big_hypervisor(100))
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))

        profiler = _profiler(args.profile == "document")
        timing = node_document_timing(db, args.doc_runs)
        _stop(profiler, "document")
        if timing is None:
            table.add("node document, hypervisor with 100 VMs, in process (median / p99)",
                      PENDING, "", "< 5 ms median, < 15 ms p99")  # fmt: skip
            table.add("SQL queries per node document", PENDING)
        else:
            times, queries = timing
            median = statistics.median(times) * 1000
            p99 = statistics.quantiles(times, n=100)[98] * 1000
            table.add(
                "node document, hypervisor with 100 VMs, in process (median / p99)",
                f"{median:.2f} ms / {p99:.2f} ms",
                "",
                "< 5 ms median, < 15 ms p99" + (" ✔" if median < 5 and p99 < 15 else " ✘"),
            )
            table.add("SQL queries per node document", str(queries))

        with db.session() as s:
            _, reader = tokens.create_token(s, "reader", name="bench")
            big_id = s.execute(text("SELECT id FROM node WHERE fqdn = :f"), {"f": BIG_HV}).scalar()
        db.dispose()
        auth = {"Authorization": f"Bearer {reader}"}
        if args.profile == "http":
            profile_http(url, auth)
            return
        _http(table, url, auth, args, big_id)
    print()
    print(table.markdown())


# Config management's budget (issue 13 point 2): full answers and 304s each at least half the
# rate of a static file of the same size from the same gunicorn (its 304 for the 304s).
CONFMGMT_BUDGET = 0.5


def _verdict(ratio: float, budget: float) -> str:
    return f"≥ {budget:g} of static" + (" ✔" if ratio >= budget else " ✘")


def _http(
    table: Table, url: str, auth: dict[str, str], args: argparse.Namespace, big_id: int
) -> None:
    STATIC_DIR.mkdir(exist_ok=True)
    statics: list[Path] = []
    try:
        with contextlib.ExitStack() as stack:
            base = stack.enter_context(serve(url, args.workers))
            before = None
            if args.baseline:
                before = stack.enter_context(serve(url, args.workers, args.baseline.resolve()))
            endpoints = [
                ("ENC", f"/enc/{BIG_HV}", True),
                ("Hiera (whole hash)", f"/hiera/{BIG_HV}", True),
                ("pillar", f"/pillar/{BIG_HV}", True),
                # Not config management (bench/rest.py covers REST): one object with its ETag.
                ("REST GET /api/v1/nodes/<id>", f"/api/v1/nodes/{big_id}", False),
            ]
            for label, path, budgeted in endpoints:
                status, body, etag = fetch(base + path, auth)
                if status != 200:
                    table.add(f"{label} over HTTP", f"{PENDING} (HTTP {status})")
                    continue
                static = STATIC_DIR / f"bench-ceiling-{len(body)}.txt"
                static.write_bytes(b"x" * len(body))
                statics.append(static)
                _compare(table, args, label, path, len(body), etag, budgeted, static.name,
                         auth, base, before)  # fmt: skip
    finally:
        for static in statics:
            static.unlink(missing_ok=True)
        if STATIC_DIR.exists() and not any(STATIC_DIR.iterdir()):
            STATIC_DIR.rmdir()


def _compare(
    table: Table,
    args: argparse.Namespace,
    label: str,
    path: str,
    size: int,
    etag: str | None,
    budgeted: bool,
    static_name: str,
    auth: dict[str, str],
    base: str,
    before: str | None,
) -> None:
    """One endpoint against a static file of its size, full and 304, each run next to its
    static ceiling (and to the baseline's, when there is one) so they share the load."""
    status, _, static_etag = fetch(f"{base}/static/{static_name}", {})
    assert status == 200, status
    static_url = f"{base}/static/{static_name}"
    runs = [("full response", {}, {})]
    if etag:
        runs.append(("304 revalidation", {"If-None-Match": static_etag or ""},
                     {"If-None-Match": etag}))  # fmt: skip
    for what, static_headers, headers in runs:
        ceiling = wrk(static_url, static_headers, args.duration, args.connections)
        rate = wrk(base + path, {**auth, **headers}, args.duration, args.connections)
        load = os.getloadavg()[0]
        table.add(f"static file of {size:,} bytes, {what} (same gunicorn)",
                  f"{ceiling:,.0f} req/s", "1.00")  # fmt: skip
        ratio = rate / ceiling
        budget = _verdict(ratio, CONFMGMT_BUDGET) if budgeted else ""
        result = f"{rate:,.0f} req/s (load average {load:.1f})"
        table.add(f"{label} {what} ({size:,} bytes)", result, f"{ratio:.2f}", budget)
        if before is not None:
            old = wrk(before + path, {**auth, **headers}, args.duration, args.connections)
            again = wrk(static_url, static_headers, args.duration, args.connections)
            # The static ceiling measured before and after both runs: their mean is the
            # fairest denominator on a machine whose load moves.
            mean = (ceiling + again) / 2
            table.add(f"{label} {what}, baseline {args.baseline}",
                      f"{old:,.0f} req/s (load average {os.getloadavg()[0]:.1f})",
                      f"{old / mean:.2f} (this tree {rate / mean:.2f})",
                      _verdict(old / mean, CONFMGMT_BUDGET) if budgeted else "")  # fmt: skip


PROFILED = (
    ("ENC", f"/enc/{BIG_HV}"),
    ("Hiera", f"/hiera/{BIG_HV}"),
    ("pillar", f"/pillar/{BIG_HV}"),
)


def profile_http(
    url: str, auth: dict[str, str], requests: int = 2000, rounds: int = 5, cprofile: bool = True
) -> None:
    """Cached ENC, Hiera and pillar answers through the WSGI app (what a gunicorn worker
    calls), full and 304, each against a static file of its size from the same app: µs per
    request without a profiler (median of ``rounds``, the runs alternating so they share the
    load) and their ratio, then a cProfile of each (top lines, pstats files kept)."""
    import cProfile
    import io
    import pstats

    from werkzeug.test import EnvironBuilder

    from virtapi.app import create_app

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})

    def call(path: str, headers: dict[str, str]) -> tuple[str, dict[str, str], bytes]:
        environ = EnvironBuilder(path=path, headers=headers).get_environ()
        out: dict[str, Any] = {}

        def start_response(status: str, hdrs: list[tuple[str, str]], *_: Any) -> None:
            out["status"], out["headers"] = status, dict(hdrs)

        body = app(environ, start_response)
        raw = b"".join(body)
        getattr(body, "close", lambda: None)()
        return out["status"], out["headers"], raw

    def loop(path: str, headers: dict[str, str], n: int) -> None:
        environ = EnvironBuilder(path=path, headers=headers).get_environ()
        for _ in range(n):
            # A fresh environ per request, as a server hands one over.
            body = app(dict(environ, **{"wsgi.input": io.BytesIO()}), lambda *_a: None)
            b"".join(body)
            getattr(body, "close", lambda: None)()

    STATIC_DIR.mkdir(exist_ok=True)
    statics: list[Path] = []
    runs: list[tuple[str, str, dict[str, str], str, dict[str, str]]] = []
    try:
        for label, path in PROFILED:
            status, headers, body = call(path, auth)  # builds and caches the document
            assert status.startswith("200"), status
            static = STATIC_DIR / f"bench-profile-{len(body)}.txt"
            static.write_bytes(b"x" * len(body))
            statics.append(static)
            spath = f"/static/{static.name}"
            s_etag = call(spath, {})[1]["ETag"]
            runs.append((f"{label} full ({len(body):,} bytes)", path, auth, spath, {}))
            runs.append((f"{label} 304", path, {**auth, "If-None-Match": headers["ETag"]},
                         spath, {"If-None-Match": s_etag}))  # fmt: skip
        for _, path, sent, spath, s_sent in runs:
            assert call(path, sent)[0][:3] == call(spath, s_sent)[0][:3]
        times: dict[str, list[tuple[float, float]]] = {run[0]: [] for run in runs}
        n = max(requests // rounds, 1)
        for _ in range(rounds):
            for what, path, sent, spath, s_sent in runs:
                t, c = time.perf_counter(), time.thread_time()
                loop(path, sent, n)
                mid, cmid = time.perf_counter(), time.thread_time()
                loop(spath, s_sent, n)
                end, cend = time.perf_counter(), time.thread_time()
                times[what].append((mid - t, end - mid, cmid - c, cend - cmid))
        load = os.getloadavg()[0]
        print(f"\n--- in process, no profiler: µs per request, median of {rounds} rounds of "
              f"{n} (load average {load:.1f})", file=sys.stderr)  # fmt: skip
        for what, pairs in times.items():
            ours = statistics.median(p[0] for p in pairs) / n * 1e6
            static_us = statistics.median(p[1] for p in pairs) / n * 1e6
            ratio = statistics.median(p[1] / p[0] for p in pairs)
            # CPU time of this process only (not PostgreSQL's, nor waits): steadier under load.
            cpu, s_cpu = (statistics.median(p[i] for p in pairs) / n * 1e6 for i in (2, 3))
            print(f"  {what}: {ours:.0f} µs, static file {static_us:.0f} µs, ratio {ratio:.2f}; "
                  f"CPU {cpu:.0f} / {s_cpu:.0f} µs, ratio {s_cpu / cpu:.2f}",
                  file=sys.stderr)  # fmt: skip
        for what, path, sent, _, _ in runs if cprofile else []:
            profiler = cProfile.Profile()
            profiler.enable()
            loop(path, sent, requests)
            profiler.disable()
            name = re.sub(r"[^a-z0-9]+", "-", what.lower().split(" (")[0]).strip("-")
            dump = Path(tempfile.gettempdir()) / f"virtapi-profile-{name}.prof"
            profiler.dump_stats(dump)
            stream = io.StringIO()
            stats = pstats.Stats(profiler, stream=stream)
            stats.sort_stats("tottime").print_stats(15)
            print(f"\n--- cProfile, cached {what}, {requests} requests (pstats file: {dump}, "
                  f"load average {os.getloadavg()[0]:.1f})", file=sys.stderr)  # fmt: skip
            print(stream.getvalue(), file=sys.stderr)
    finally:
        for static in statics:
            static.unlink(missing_ok=True)
        if STATIC_DIR.exists() and not any(STATIC_DIR.iterdir()):
            STATIC_DIR.rmdir()


def _profiler(enabled: bool) -> Any:
    if not enabled:
        return None
    from pyinstrument import Profiler

    profiler = Profiler()
    profiler.start()
    return profiler


def _stop(profiler: Any, name: str) -> None:
    if profiler is None:
        return
    profiler.stop()
    out = Path(tempfile.gettempdir()) / f"virtapi-profile-{name}.html"
    out.write_text(profiler.output_html())
    print(profiler.output_text(unicode=True, color=False, show_all=False), file=sys.stderr)
    print(f"profile written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
