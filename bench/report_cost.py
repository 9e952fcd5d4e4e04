"""What one node heartbeat costs in process: SQL statements and CPU µs per report.

    python3 -m bench.report_cost                 # 1,000 nodes, 2,000 reports, PostgreSQL
    python3 -m bench.report_cost --profile 25    # plus the top 25 cProfile lines

Runs ``POST /api/v1/nodes/<fqdn>/report`` through the Flask test client (no sockets, no
other process), so the figures hold on a shared machine where request rates do not. Prints
the statements one report sends and the CPU time per report. Never part of the test run's
pass/fail (tests/api/test_report_cost.py asserts the statement count).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile
import time

from bench.loop import with_nodes
from bench.run import BIG_HV, bench_database, big_hypervisor
from tests.support.apps import make_app
from tests.support.queries import statements_sent
from virtapi.services import tokens, transfer
from virtapi.services.audit import set_actor


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--profile", type=int, default=0, help="print this many cProfile lines")
    parser.add_argument("--sort", default="tottime", help="cProfile order (tottime, cumulative)")
    args = parser.parse_args(argv)
    with bench_database() as url, tempfile.TemporaryDirectory() as instance:
        app = make_app(url, instance, TESTING=False)
        db = app.extensions["virtapi.db"]
        with db.session() as s:
            set_actor(s, None, "bench")
            transfer.import_inventory(s, with_nodes(big_hypervisor(100), args.nodes))
            _, operator = tokens.create_token(s, "operator", name="bench-reports")
        client = app.test_client()
        headers = {"Authorization": f"Bearer {operator}"}
        body = json.dumps({"state": "running", "facts": {"load": 0.1}})

        def report(i: int) -> None:
            fqdn = f"n{i % args.nodes:04d}.dc1.example.com"
            response = client.post(
                f"/api/v1/nodes/{fqdn}/report",
                data=body,
                headers=headers,
                content_type="application/json",
            )
            assert response.status_code == 200, response.get_data(as_text=True)

        for i in range(50):  # warm: compiled statements, prepared plans, token last-use
            report(i)
        with statements_sent(db.engine) as statements:
            report(1)
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(args.reports):
            report(i)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        enc = f"/enc/{BIG_HV}"
        client.get(enc, headers=headers)
        with statements_sent(db.engine) as enc_statements:
            client.get(enc, headers=headers)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for i in range(min(args.reports, 500)):
                report(i)
            profiler.disable()
        db.dispose()
    print("| POST /api/v1/nodes/<fqdn>/report | |")
    print("|---|---|")
    print(f"| SQL statements per report | {len(statements)} |")
    per_report = cpu / args.reports * 1e6
    print(f"| CPU µs per report (this process, {args.reports} reports) | {per_report:.0f} |")
    print(f"| wall µs per report | {wall / args.reports * 1e6:.0f} |")
    print(f"| SQL statements per cached GET {enc} | {len(enc_statements)} |")
    for s in statements:
        print("    " + " ".join(s.split())[:160])
    if args.profile:
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.profile)


if __name__ == "__main__":
    main()
