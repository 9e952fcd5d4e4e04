"""REST reads: GET of one VM/node and a page of 100 VMs, in process and over HTTP (gunicorn).

    python3 -m bench.rest                      # everything below, private PostgreSQL
    python3 -m bench.rest --profile            # plus cProfile top lines of each endpoint
    python3 -m bench.rest --no-http            # in process only

In process (Flask's test client, authentication included): statements and median/p99 of the
read path now (virtapi/api/reads.py: on PostgreSQL, GET of one object reads it and its lists
in one statement; a read ends with COMMIT so psycopg keeps its prepared statements), of the
path before (one statement per list, ended by ROLLBACK) and of the ORM + marshmallow path,
alternating block by block so all see the same machine load; their ratios.

Over HTTP: ``virtapi serve`` (gunicorn) serves each endpoint and a static file of the same size
(issue 13: GET of one object and a page of 100 VMs ≥ 1/3 of that file's rate), measured with
bench/run.py's client, and prints the ratio with its budget. Never part of the test run.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import event, text

from bench.run import STATIC_DIR, Table, bench_database, fetch, serve, wrk
from tests.services.test_node_document import make_fleet
from virtapi.app import create_app
from virtapi.db import Database
from virtapi.services import tokens
from virtapi.services.audit import set_actor

PAGE = "/api/v1/vms?limit=100"
BUDGET = 1 / 3  # of the same-size static file's rate (issue 13 point 3)


def endpoints(vm_id: int, node_id: int) -> list[tuple[str, str]]:
    return [
        ("GET /api/v1/vms/<id>", f"/api/v1/vms/{vm_id}"),
        ("GET /api/v1/nodes/<id>", f"/api/v1/nodes/{node_id}"),
        ("GET /api/v1/vms?limit=100 (interfaces, addresses, disks)", PAGE),
        ("GET /api/v1/vms?limit=100&after=<id>", PAGE + "&after=0"),
    ]


@contextmanager
def orm_path() -> Iterator[None]:
    """The read path before reads.py: ORM loading and Schema.dump (the resources' shapes off)."""
    from virtapi.api.crud import _REGISTRY

    shapes = [(r, r.shape) for r in _REGISTRY.values()]
    for resource, _ in shapes:
        resource.shape = None
    try:
        yield
    finally:
        for resource, shape in shapes:
            resource.shape = shape


@contextmanager
def rollback_ending() -> Iterator[None]:
    """Reads ended by the teardown's ROLLBACK, as before: psycopg then forgets its prepared
    statements, so every request plans its statements again."""
    from virtapi import db

    wrote_nothing = db.wrote_nothing
    db.wrote_nothing = lambda session: False  # type: ignore[assignment]
    try:
        yield
    finally:
        db.wrote_nothing = wrote_nothing


@contextmanager
def before_path() -> Iterator[None]:
    """reads.py before: one statement per list, the transaction ended by ROLLBACK."""
    from virtapi.api import reads

    nested = reads._nested
    reads._nested = lambda shape: None  # type: ignore[assignment]
    try:
        with rollback_ending():
            yield
    finally:
        reads._nested = nested


@contextmanager
def orm_before() -> Iterator[None]:
    with orm_path(), rollback_ending():
        yield


MODES = {"now": nullcontext, "before (per list)": before_path, "ORM (before reads.py)": orm_before}
# Each round runs a block of requests per mode, the first WARM of them unmeasured: psycopg
# prepares a statement at its 5th execution on a connection, and a mode that ends in ROLLBACK
# clears what the others prepared, so requests alternating one by one would measure neither.
WARM, MEASURED = 6, 4


def timed(client: Any, url: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    resp = client.get(url, headers=headers)
    elapsed = time.perf_counter() - started
    assert resp.status_code == 200, (url, resp.status_code)
    return elapsed


def summary(times: list[float]) -> str:
    median = statistics.median(times) * 1000
    p99 = statistics.quantiles(times, n=100)[98] * 1000 if len(times) > 1 else median
    return f"median {median:.2f} ms / p99 {p99:.2f} ms"


def make_database(url: str) -> tuple[str, int, int]:
    """A fleet of 100 VMs on one hypervisor; a reader token, the last VM's and hv-a's ids."""
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
    return token, int(vm_id), int(node_id)


def in_process(url: str, token: str, paths: list[tuple[str, str]], rounds: int) -> Any:
    """Each read path (MODES), alternating round by round, each endpoint; returns the app."""
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "DATABASE_READ_URL": None})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    engine = app.extensions["virtapi.db"].engine
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    print(f"in process, {rounds} rounds of {WARM} + {MEASURED} measured requests per path, "
          f"{', '.join(MODES)} alternating:", flush=True)  # fmt: skip
    for label, path in paths:
        counts: dict[str, int] = {}
        times: dict[str, list[float]] = {mode: [] for mode in MODES}
        bodies: dict[str, bytes] = {}
        for mode, context in MODES.items():
            with context():
                client.get(path, headers=headers)  # warm up: compiled statements, token use
                statements.clear()
                bodies[mode] = client.get(path, headers=headers).data
                counts[mode] = len(statements)
        if len(set(bodies.values())) == 1:
            same = "the same bytes on every path"
        elif len({json.dumps(json.loads(b), sort_keys=True) for b in bodies.values()}) == 1:
            same = "the same JSON on every path, keys in another order than the ORM path's"
        else:
            same = "BODIES DIFFER"
        for _ in range(rounds):
            for mode, context in MODES.items():
                with context():
                    for _ in range(WARM):
                        timed(client, path, headers)
                    times[mode] += [timed(client, path, headers) for _ in range(MEASURED)]
        fast = statistics.median(times["now"])
        print(f"  {label}: {len(bodies['now']):,} bytes, {same}")
        for mode in MODES:
            ratio = statistics.median(times[mode]) / fast
            print(f"    {mode:21} {counts[mode]:2} statements, {summary(times[mode])}"
                  f"  ({ratio:.2f}× now)")  # fmt: skip
        print(f"    load average {os.getloadavg()[0]:.1f}", flush=True)
    return app


def profile(app: Any, token: str, paths: list[tuple[str, str]], rounds: int) -> None:
    """cProfile of each endpoint (fast path): top lines by cumulative and by own time."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    for label, path in paths:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(rounds):
            client.get(path, headers=headers)
        profiler.disable()
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(25)
            print(f"cProfile of {rounds} × {label} (fast path), by {order}:")
            print(out.getvalue())


def over_http(url: str, token: str, paths: list[tuple[str, str]], args: Any) -> Table:
    """Each endpoint and a static file of its size from the same gunicorn: rates and ratio."""
    auth = {"Authorization": f"Bearer {token}"}
    table = Table()
    STATIC_DIR.mkdir(exist_ok=True)
    made: list[Any] = []
    try:
        with serve(url, args.workers) as base:
            for label, path in paths:
                status, body, _ = fetch(base + path, auth)
                assert status == 200, (path, status)
                static = STATIC_DIR / f"bench-rest-{len(body)}.json"
                static.write_bytes(b"x" * len(body))
                made.append(static)
                ceiling = wrk(f"{base}/static/{static.name}", {}, args.duration, args.connections)
                rate = wrk(base + path, auth, args.duration, args.connections)
                ok = "✔" if rate >= BUDGET * ceiling else "✘"
                table.add(f"static file of {len(body):,} bytes, same gunicorn",
                          f"{ceiling:,.0f} req/s", "1.00")  # fmt: skip
                table.add(f"{label} ({len(body):,} bytes, load average "
                          f"{os.getloadavg()[0]:.1f})", f"{rate:,.0f} req/s",
                          f"{rate / ceiling:.2f}", f"≥ 0.33 of static {ok}")  # fmt: skip
    finally:
        for static in made:
            static.unlink(missing_ok=True)
        if STATIC_DIR.exists() and not any(STATIC_DIR.iterdir()):
            STATIC_DIR.rmdir()
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-http", dest="http", action="store_false")
    parser.add_argument("--duration", type=int, default=5, help="seconds per HTTP run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with bench_database() as url:
        token, vm_id, node_id = make_database(url)
        paths = endpoints(vm_id, node_id)
        app = in_process(url, token, paths, args.rounds)
        if args.profile:
            profile(app, token, paths[:3], args.rounds)
        app.extensions["virtapi.db"].dispose()
        if args.http:
            table = over_http(url, token, paths[:3], args)
            print()
            print(table.markdown())


if __name__ == "__main__":
    main()
