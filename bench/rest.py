"""REST reads in process: statements and time for GET of one VM/node and a page of 100 VMs.

    python3 -m bench.rest                      # private PostgreSQL, 100 VMs on one hypervisor
    python3 -m bench.rest --profile            # cProfile top lines of the 100-VM page

Flask's test client against the real app (authentication included), so the figures are
the view's own cost without HTTP parsing. Never part of the test run's pass/fail.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import time
from typing import Any

from sqlalchemy import event, text

from bench.run import bench_database
from tests.services.test_node_document import make_fleet
from virtapi import migrate
from virtapi.app import create_app
from virtapi.db import Database
from virtapi.services import tokens
from virtapi.services.audit import set_actor


def timed_get(client: Any, url: str, headers: dict[str, str], rounds: int) -> tuple[float, float]:
    """Median and p99 in ms of ``rounds`` GETs through a Flask test client."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        resp = client.get(url, headers=headers)
        times.append(time.perf_counter() - started)
        assert resp.status_code == 200, (url, resp.status_code)
    return statistics.median(times) * 1000, statistics.quantiles(times, n=100)[98] * 1000


def run(url: str, rounds: int, profile: bool) -> None:
    migrate.upgrade(url)
    db = Database(url)
    with db.sessionmaker() as session:
        set_actor(session, None, "bench")
        make_fleet(session, 100)
        session.commit()
        session.execute(text("ANALYZE"))
        _, token = tokens.create_token(session, "reader", name="bench")
        vm_id = session.execute(text("SELECT max(id) FROM vm")).scalar()
        node_id = session.execute(text("SELECT id FROM node WHERE fqdn = 'hv-a.test'")).scalar()
        session.commit()
    db.dispose()
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "DATABASE_READ_URL": None})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    engine = app.extensions["virtapi.db"].engine
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    page = "/api/v1/vms?limit=100"
    for label, path in (
        ("GET /api/v1/vms/<id>", f"/api/v1/vms/{vm_id}"),
        ("GET /api/v1/nodes/<id>", f"/api/v1/nodes/{node_id}"),
        ("GET /api/v1/vms?limit=100 (interfaces, addresses, disks)", page),
        ("GET /api/v1/vms?limit=100&after=<id>", page + "&after=0"),
    ):
        client.get(path, headers=headers)  # warm up: compiled statements, token last use
        statements.clear()
        size = len(client.get(path, headers=headers).data)
        count = len(statements)
        median, p99 = timed_get(client, path, headers, rounds)
        print(
            f"{label}: {size:,} bytes, {count} statements, median {median:.2f} ms"
            f" / p99 {p99:.2f} ms (load average {os.getloadavg()[0]:.1f})",
            flush=True,
        )
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(rounds):
            client.get(page, headers=headers)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        print(out.getvalue())
    app.extensions["virtapi.db"].dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with bench_database() as url:
        run(url, args.rounds, args.profile)


if __name__ == "__main__":
    main()
