"""Availability under load and faults, measured (issue 15 point 7; figures in SECURITY.md).

Two API hosts (separate gunicorn processes) behind a round-robin TCP balancer on loopback, on
a private PostgreSQL holding a 2,000-VM fleet. Simulated nodes fetch their ENC or pillar while
50 customers create, resize and delete VMs; meanwhile one API host is restarted, every
database connection is killed (pg_terminate_backend), and PostgreSQL itself is restarted.

Clients behave like virtapi-enc and the pillar module: on a refused connection or a 503 they
wait (Retry-After) and retry. A node must never receive another node's document. Afterwards
every write the server confirmed must be in the database, and every one it refused absent.

    .venv/bin/python -m tests.hardening.availability --seconds 40

Not a pass/fail test (timings depend on the machine); it exits non-zero on a wrong document,
a lost committed write or a present refused one.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench.fleet import generate
from tests.support.pg import PostgresCluster, free_port, pg_bindir
from tests.support.server import _RUNNER, server_env, stop, wait_until_up
from virtapi.db import Database
from virtapi.services import tokens

GiB = 1024**3


class Balancer:
    """Round-robin TCP proxy; a backend that refuses the connection is skipped for this one."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.port = free_port()
        self._next = itertools.count()
        self._sock = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self._sock.accept()
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        first = next(self._next)
        for i in range(len(self.backends)):
            port = self.backends[(first + i) % len(self.backends)]
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=2)
                break
            except OSError:
                continue
        else:
            client.close()
            return
        upstream.settimeout(None)
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
        _pipe(client, upstream)


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n


def call(
    url: str, token: str, method: str = "GET", body: Any = None, timeout: float = 30
) -> tuple[int, bytes, dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def node_client(base: str, token: str, names: list[str], done: threading.Event, t: Tally) -> None:
    """A node fetching its ENC or pillar, retrying like the shipped clients do."""
    rng = random.Random()
    while not done.is_set():
        name = rng.choice(names)
        path = rng.choice(("enc", "pillar"))
        for attempt in range(10):
            try:
                status, body, headers = call(f"{base}/{path}/{name}", token)
            except (OSError, urllib.error.URLError):
                t.add("read: connection failed, retried")
                time.sleep(0.2 * (attempt + 1))
                continue
            if status == 503:
                t.add("read: 503, retried")
                if "Retry-After" not in headers:
                    t.add("read: 503 WITHOUT Retry-After")
                time.sleep(float(headers.get("Retry-After", "1")))
                continue
            if status == 200:
                t.add("read: served")
                if name.encode() not in body:
                    t.add("read: WRONG DOCUMENT")
            else:
                t.add(f"read: status {status}")
            break
        else:
            t.add("read: gave up after 10 tries")


def customer(
    base: str, token: str, customer_id: int, done: threading.Event, t: Tally, ledger: dict[str, str]
) -> None:
    """Create, resize, delete own VMs. ``ledger``: hostname → what the server said."""
    n = 0
    mine: list[tuple[int, str]] = []
    while not done.is_set():
        action = "create" if len(mine) < 3 else random.choice(("resize", "delete", "create"))
        try:
            if action == "create":
                n += 1
                host = f"w{n}.c{customer_id}.example.net"
                status, body, _ = call(
                    f"{base}/api/v1/vms", token, "POST",
                    {"hostname": host, "cores": 1, "ram": GiB},
                )  # fmt: skip
                if status == 201:
                    mine.append((json.loads(body)["id"], host))
                    ledger[host] = "present:1"
                else:
                    ledger[host] = "absent"
            elif action == "resize":
                vm_id, host = random.choice(mine)
                cores = random.randint(1, 4)
                status, _, _ = call(f"{base}/api/v1/vms/{vm_id}", token, "PATCH", {"cores": cores})
                if status == 200:
                    ledger[host] = f"present:{cores}"
            else:
                vm_id, host = mine.pop(random.randrange(len(mine)))
                status, _, _ = call(f"{base}/api/v1/vms/{vm_id}", token, "DELETE")
                if status == 204:
                    ledger[host] = "absent"
                else:
                    mine.append((vm_id, host))
            t.add(f"write {action}: {status}")
        except (OSError, urllib.error.URLError):
            # The outcome is unknown (the request may have committed): not checked afterwards.
            t.add(f"write {action}: connection lost, outcome unknown")
            # Whatever the action, the VM's state is unknown now (a resize may have committed).
            ledger[host] = "unknown"
            time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # The load runs 4 × seconds/5 plus the faults' own time (a host and PostgreSQL restarting).
    parser.add_argument("--seconds", type=int, default=40)
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--node-threads", type=int, default=16)
    args = parser.parse_args(argv)

    bindir = pg_bindir()
    if bindir is None:
        print("PostgreSQL server binaries not installed", file=sys.stderr)
        return 2
    pg = PostgresCluster(bindir).init().start()
    base_dir = Path(tempfile.mkdtemp(prefix="virtapi-avail-"))
    hosts: dict[int, subprocess.Popen[bytes]] = {}
    try:
        admin = create_engine(pg.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE avail"))
        url = pg.url("avail")
        env = server_env(base_dir, url)
        run = [sys.executable, "-m", "virtapi.cli"]
        subprocess.run([*run, "db", "upgrade"], env=env, check=True, capture_output=True)
        fleet = generate(hypervisors=args.nodes // 20, vms_per_hypervisor=20)
        (base_dir / "fleet.json").write_text(json.dumps(fleet))
        subprocess.run([*run, "import", str(base_dir / "fleet.json")], env=env, check=True,
                       capture_output=True)  # fmt: skip
        names = [vm["hostname"] for vm in fleet["vms"]]

        db = Database(url)
        with db.session() as session:
            reader = tokens.create_token(session, "reader")[1]
            customers = {c: tokens.create_token(session, "customer", customer_id=c)[1]
                         for c in range(9001, 9001 + args.customers)}  # fmt: skip
        db.dispose()

        def start_host(port: int) -> subprocess.Popen[bytes]:
            proc = subprocess.Popen(
                [sys.executable, "-c", _RUNNER, f"127.0.0.1:{port}", "2",
                 str(base_dir / f"access-{port}.log"), str(base_dir / f"error-{port}.log")],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
            wait_until_up(f"http://127.0.0.1:{port}", proc)
            return proc

        ports = [free_port(), free_port()]
        for port in ports:
            hosts[port] = start_host(port)
        lb = Balancer(ports)
        base = f"http://127.0.0.1:{lb.port}"

        tally, ledger = Tally(), {}
        started = time.monotonic()
        done = threading.Event()
        threads = [threading.Thread(target=node_client, args=(base, reader, names, done, tally))
                   for _ in range(args.node_threads)]  # fmt: skip
        threads += [threading.Thread(target=customer, args=(base, tok, c, done, tally, ledger))
                    for c, tok in customers.items()]  # fmt: skip
        for th in threads:
            th.start()

        faults: list[str] = []
        time.sleep(args.seconds * 0.2)
        stop(hosts[ports[0]])
        hosts[ports[0]] = start_host(ports[0])
        faults.append(f"{time.monotonic() - started:.0f}s: API host 1 restarted")
        time.sleep(args.seconds * 0.2)
        with admin.connect() as conn:
            killed = conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = 'avail' AND pid <> pg_backend_pid()"
            )).scalar_one()  # fmt: skip
        faults.append(f"{time.monotonic() - started:.0f}s: {killed} connections terminated")
        time.sleep(args.seconds * 0.2)
        admin.dispose()
        pg._run(str(bindir / "pg_ctl"), "-D", str(pg.data), "-l", str(pg.dir / "log"),
                "-m", "fast", "-w", "restart")  # fmt: skip
        faults.append(f"{time.monotonic() - started:.0f}s: PostgreSQL restarted")
        time.sleep(args.seconds * 0.2)
        done.set()
        elapsed = time.monotonic() - started
        for th in threads:
            th.join()

        engine = create_engine(url)
        with engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT hostname, cores FROM vm")).all())
        engine.dispose()
        lost = [h for h, s in ledger.items() if s.startswith("present")
                and rows.get(h) != int(s.split(":")[1])]  # fmt: skip
        ghosts = [h for h, s in ledger.items() if s == "absent" and h in rows]

        print(f"## availability, {elapsed:.0f} s, {len(names)} nodes, {args.customers} customers")
        for fault in faults:
            print(f"- {fault}")
        for key, value in sorted(tally.counts.items()):
            print(f"- {key}: {value}")
        print(f"- writes confirmed and checked: {sum(s != 'unknown' for s in ledger.values())}")
        print(f"- confirmed writes missing or different: {len(lost)} {lost[:5]}")
        print(f"- refused writes present: {len(ghosts)} {ghosts[:5]}")
        bad = tally.counts["read: WRONG DOCUMENT"] or lost or ghosts
        return 1 if bad else 0
    finally:
        for proc in hosts.values():
            stop(proc)
        pg.destroy()


if __name__ == "__main__":
    sys.exit(main())
