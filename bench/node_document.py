"""How long the node document takes, and how fast ENC/pillar are over HTTP.

    python3 bench/node_document.py                   # SQLite, 1/100/1000 VMs, plus HTTP
    python3 bench/node_document.py --url postgresql+psycopg2://…/empty_db --no-http
    python3 bench/node_document.py --pg --vms 100 --rounds 300  # private PostgreSQL, both drivers

Builds a hypervisor with N VMs (two interfaces, IPv4 + IPv6, VLANs and four disks each,
the test suite's fleet), then reports SQL statements and the median and p99 build time,
on PostgreSQL for both forms of the reads, alternating in the same run: one JSON statement
for every section ("combined", what virtapi runs) and one statement per section
("portable", what SQLite runs), and the budget line of issue 13 (< 5 ms median, < 15 ms
p99). The heap is frozen first (gc.freeze), as `virtapi serve`'s workers do. With
HTTP, serves the database with gunicorn (one worker, so the figure is per core) and
measures GET /pillar and GET /enc with and without If-None-Match. Never part of the
test run's pass/fail.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import event  # noqa: E402

from bench.calibrate import loop_seconds  # noqa: E402
from tests.services.test_node_document import make_fleet  # noqa: E402
from virtapi import migrate  # noqa: E402
from virtapi.db import Database  # noqa: E402
from virtapi.services import tokens  # noqa: E402
from virtapi.services.audit import set_actor  # noqa: E402
from virtapi.services.node_document import build_node_document  # noqa: E402

Figures = tuple[int, float, float]  # statements, median and p99 seconds


def measure_build(
    url: str, n_vms: int, rounds: int, fill: bool = True, forms: tuple[bool, ...] = (False,)
) -> list[Figures]:
    """Per form (``portable`` flag of build_node_document), alternating round by round."""
    if fill:
        migrate.upgrade(url)
    db = Database(url)
    if fill:
        with db.sessionmaker() as session:
            set_actor(session, None, "bench")
            make_fleet(session, n_vms)
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    times: list[list[float]] = [[] for _ in forms]
    counts = [0 for _ in forms]
    gc.collect()
    gc.freeze()
    with db.sessionmaker() as session:
        for _ in range(10):  # warm: psycopg prepares a statement on its sixth run
            for portable in forms:
                build_node_document(session, "hv-a.test", portable=portable)
        for _ in range(rounds):
            for i, portable in enumerate(forms):
                statements.clear()
                started = time.perf_counter()
                build_node_document(session, "hv-a.test", portable=portable)
                times[i].append(time.perf_counter() - started)
                counts[i] = sum(
                    1 for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))
                )
    gc.unfreeze()
    db.dispose()
    return [
        (count, statistics.median(ts), statistics.quantiles(ts, n=100)[98])
        for count, ts in zip(counts, times, strict=True)
    ]


def budget(median: float, p99: float) -> str:
    """Issue 13's budget for the uncached document of a 100-VM hypervisor on PostgreSQL."""
    ok = median < 0.005 and p99 < 0.015
    return f"budget (issue 13.1) < 5 ms median / < 15 ms p99: {'met' if ok else 'NOT met'}"


def calibration() -> str:
    """The machine's speed right now (bench/calibrate.py), to print beside the figures."""
    return f"calibration {loop_seconds():.2f} s (python3 -m bench.calibrate)"


def measure_http(url: str, seconds: float, threads: int) -> None:
    db = Database(url)
    with db.session() as session:
        _, token = tokens.create_token(session, "reader", name="bench")
    db.dispose()
    port = 18000 + os.getpid() % 1000
    env = {**os.environ, "VIRTAPI_DATABASE_URL": url, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "1",
         "-k", "gthread", "--threads", str(threads), "virtapi.app:create_app()"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).close()  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        for path in ("/pillar/hv-a.test", "/enc/hv-a.test"):
            request = urllib.request.Request(base + path)  # noqa: S310
            request.add_header("Authorization", f"Bearer {token}")
            with urllib.request.urlopen(request) as resp:  # noqa: S310
                etag, size = resp.headers["ETag"], len(resp.read())
            for label, extra in (("200", {}), ("304", {"If-None-Match": etag})):
                count = [0]
                stop = time.monotonic() + seconds

                def worker(
                    extra: dict[str, str] = extra,
                    count: list[int] = count,
                    stop: float = stop,
                    path: str = path,
                ) -> None:
                    while time.monotonic() < stop:
                        req = urllib.request.Request(base + path)  # noqa: S310
                        req.add_header("Authorization", f"Bearer {token}")
                        for k, v in extra.items():
                            req.add_header(k, v)
                        try:
                            urllib.request.urlopen(req).read()  # noqa: S310
                        except urllib.error.HTTPError as exc:
                            assert exc.code == 304
                        count[0] += 1

                pool = [threading.Thread(target=worker) for _ in range(threads)]
                for t in pool:
                    t.start()
                for t in pool:
                    t.join()
                print(
                    f"  GET {path} ({size} bytes) answering {label}: "
                    f"{count[0] / seconds:.0f} req/s, one worker"
                )
    finally:
        proc.terminate()
        proc.wait()


def measure_pg(sizes: list[int], rounds: int) -> None:
    """Each size in its own database of a private cluster, measured with every PostgreSQL
    driver that is installed (the same rows, so the drivers compare like for like)."""
    from sqlalchemy import create_engine, text

    from tests.support.pg import PostgresCluster, pg_bindir

    bindir = pg_bindir()
    if bindir is None:
        sys.exit("PostgreSQL server binaries not found")
    print(calibration(), flush=True)
    cluster = PostgresCluster(bindir).init().start()
    try:
        admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
        for n in sizes:
            with admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE bench_{n}"))
            base = cluster.url(f"bench_{n}")
            migrate.upgrade(base)
            with Database(base).sessionmaker() as session:
                set_actor(session, None, "bench")
                make_fleet(session, n)
                session.execute(text("ANALYZE"))  # statistics for this database's plans
                session.commit()
            for driver in ("psycopg2", "psycopg"):
                try:
                    __import__(driver)
                except ImportError:
                    continue
                url = base.replace("+psycopg2", f"+{driver}")
                results = measure_build(url, n, rounds, fill=False, forms=(False, True))
                forms = zip(("combined", "portable"), results, strict=True)
                for form, (selects, median, p99) in forms:
                    line = (
                        f"{n:5d} VMs, PostgreSQL, {driver}, {form}: {selects} statements, build"
                        f" median {median * 1000:.2f} ms / p99 {p99 * 1000:.2f} ms"
                    )
                    if n == 100 and form == "combined":
                        line += f"; {budget(median, p99)}"
                    print(f"{line} (load average {os.getloadavg()[0]:.1f})", flush=True)
        admin.dispose()
        print(calibration(), flush=True)
    finally:
        cluster.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an empty database URL (default: temporary SQLite)")
    parser.add_argument("--vms", type=int, nargs="*", default=[1, 100, 1000])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument(
        "--pg", action="store_true", help="a private PostgreSQL cluster; every driver installed"
    )
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    if args.pg:
        measure_pg(args.vms, args.rounds)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.vms:
            url = args.url or f"sqlite:///{tmp}/bench-{n}.sqlite"
            [(selects, median, p99)] = measure_build(url, n, args.rounds)
            print(
                f"{n:5d} VMs: {selects} statements, build median {median * 1000:.1f} ms"
                f" / p99 {p99 * 1000:.1f} ms (load average {os.getloadavg()[0]:.1f})"
            )
            if n == 100 and not args.no_http:
                measure_http(url, args.seconds, threads=4)
            if args.url:
                break  # a given database is filled once


if __name__ == "__main__":
    main()
