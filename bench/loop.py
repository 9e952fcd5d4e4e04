"""hv's ENC rate while the rest of the fleet reports (issue 12: heartbeats invalidate nothing).

    python3 -m bench.loop                     # 1,000 reporting nodes, 10 s per run
    python3 -m bench.loop --nodes 1000 --duration 20

Imports one hypervisor with 100 VMs (bench.run.big_hypervisor) and ``--nodes`` other nodes,
serves it with ``virtapi serve`` on a private PostgreSQL, and measures GET /enc/<hv> per
second twice: alone, then while the other nodes each POST a heartbeat once a "minute"
(scaled: ``--nodes`` reports per ``--minute`` seconds, spread evenly). Prints both rates and
their ratio (target ≥ 0.9). Never part of the test run's pass/fail.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.request
from typing import Any

from sqlalchemy import text

from bench.run import BIG_HV, bench_database, big_hypervisor, python_client, serve
from virtapi.db import Database
from virtapi.services import tokens, transfer
from virtapi.services.audit import set_actor


def with_nodes(doc: dict[str, Any], nodes: int) -> dict[str, Any]:
    doc["nodes"] += [{"fqdn": f"n{i:04d}.dc1.example.com"} for i in range(nodes)]
    return doc


def report_loop(base: str, auth: dict[str, str], nodes: int, minute: float, stop: Any) -> int:
    """Heartbeats at ``nodes`` per ``minute`` seconds until ``stop`` is set; returns how many."""
    interval = minute / nodes
    sent, i, next_at = 0, 0, time.monotonic()
    body = json.dumps({"state": "running", "facts": {"load": 0.1}}).encode()
    while not stop.is_set():
        fqdn = f"n{i % nodes:04d}.dc1.example.com"
        request = urllib.request.Request(
            f"{base}/api/v1/nodes/{fqdn}/report",
            data=body,
            headers={**auth, "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()
        sent, i = sent + 1, i + 1
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    return sent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--minute", type=float, default=60.0, help="seconds per report round")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    with bench_database() as url:
        db = Database(url)
        with db.session() as s:
            set_actor(s, None, "bench")
            transfer.import_inventory(s, with_nodes(big_hypervisor(100), args.nodes))
        with db.session() as s:
            _, reader = tokens.create_token(s, "reader", name="bench")
            _, operator = tokens.create_token(s, "operator", name="bench-reports")
            changes_before = s.execute(text("SELECT count(*) FROM change")).scalar()
        auth = {"Authorization": f"Bearer {reader}"}
        with serve(url, args.workers) as base:
            enc = f"{base}/enc/{BIG_HV}"
            python_client(enc, auth, 2, args.connections)  # warm every worker's cache
            alone = python_client(enc, auth, args.duration, args.connections)
            stop = threading.Event()
            sent: list[int] = []
            reporter = threading.Thread(
                target=lambda: sent.append(
                    report_loop(
                        base, {"Authorization": f"Bearer {operator}"}, args.nodes, args.minute, stop
                    )
                )
            )
            reporter.start()
            loaded = python_client(enc, auth, args.duration, args.connections)
            stop.set()
            reporter.join()
        with db.session() as s:
            changes_after = s.execute(text("SELECT count(*) FROM change")).scalar()
        db.dispose()
    print(f"| GET /enc/{BIG_HV} (100 VMs) | requests/s |")
    print("|---|---|")
    print(f"| alone | {alone:.0f} |")
    print(
        f"| while {args.nodes:,} nodes report once per {args.minute:g} s "
        f"({sent[0]} reports in the run) | {loaded:.0f} |"
    )
    ratio = loaded / alone if alone else 0.0
    print(f"| ratio (target ≥ 0.9) | {ratio:.2f} {'✔' if ratio >= 0.9 else '✘'} |")
    print(f"| change-log rows written by the reports | {changes_after - changes_before} |")


if __name__ == "__main__":
    main()
