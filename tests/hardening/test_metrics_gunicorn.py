"""/metrics and JSON logs from a real gunicorn with two workers (multiprocess metrics).

Requests go to both workers (told apart by the pid on their JSON log lines); one scrape, parsed
with Prometheus' own text parser, must count every one of them, under route templates only.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.support.metrics import samples
from tests.support.server import Server, running_server
from virtapi.app import create_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("metrics")
    # A directory of our own, with a file an earlier run could have left: serve must empty it.
    prom = base / "prometheus"
    prom.mkdir()
    (prom / "counter_999999.db").write_bytes(b"stale")
    with running_server(
        base, f"sqlite:///{base / 'virtapi.sqlite'}", workers=2, VIRTAPI_LOG_FORMAT="json",
        PROMETHEUS_MULTIPROC_DIR=str(prom),
    ) as srv:  # fmt: skip
        assert not (prom / "counter_999999.db").exists()
        yield srv


def call(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


def scrape(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, headers, body = call(
        server.url + "/metrics", {"Authorization": f"Bearer {server.tokens['reader']}"}
    )
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(body)


def json_lines(server: Server) -> list[dict[str, Any]]:
    lines = []
    for raw in server.error_log.read_text(errors="replace").splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))  # every JSON-looking line must parse
    return lines


def inventory(database_url: str) -> tuple[list[int], list[str]]:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        ids = list(conn.execute(text("SELECT id FROM vm ORDER BY id")).scalars())
        names = list(conn.execute(text("SELECT hostname FROM vm")).scalars())
        names += conn.execute(text("SELECT fqdn FROM node")).scalars()
    engine.dispose()
    return ids, names


def test_two_workers_one_scrape(server: Server, tmp_path: Path) -> None:
    admin = {"Authorization": f"Bearer {server.tokens['admin']}"}
    reader = {"Authorization": f"Bearer {server.tokens['reader']}"}
    vm_ids, hostnames = inventory(server.database_url)
    before = scrape(server)

    # Until both workers have served some (the kernel decides who accepts), at most 200.
    sent, pids = 0, set()
    while sent < 200 and (sent < 20 or len(pids) < 2):
        rid = f"obs-test-{sent}"
        status, headers, _ = call(
            f"{server.url}/api/v1/vms/{vm_ids[sent % len(vm_ids)]}",
            {**admin, "X-Request-Id": rid},
        )
        assert status == 200
        assert headers["X-Request-Id"] == rid
        sent += 1
        if sent % 10 == 0:
            pids = {ln["pid"] for ln in json_lines(server) if ln.get("request_id", "") in
                    {f"obs-test-{i}" for i in range(sent)}}  # fmt: skip
    assert len(pids) == 2, "the kernel sent every request to one worker"

    for name in hostnames[:3]:
        assert call(f"{server.url}/enc/{name}", reader)[0] == 200
    status, headers, _ = call(f"{server.url}/no/such/thing/12345")
    assert status == 404 and len(headers["X-Request-Id"]) == 32
    wrong = "va_" + "NotAValidTokenAtAll" * 2
    assert (
        call(f"{server.url}/api/v1/vms?token={wrong}", {"Authorization": f"Bearer {wrong}"})[0]
        == 401
    )
    assert call(f"{server.url}/api/v1/vms")[0] == 401

    after = scrape(server)

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    vm_get = {"method": "GET", "route": "/api/v1/vms/<int:id>", "status": "200"}
    assert moved("virtapi_http_requests_total", **vm_get) == sent
    assert moved("virtapi_http_request_duration_seconds_count", **vm_get) == sent
    assert moved("virtapi_http_request_duration_seconds_bucket", le="+Inf", **vm_get) == sent
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    assert moved("virtapi_http_requests_total", **unmatched) == 1
    assert moved("virtapi_auth_failures_total", reason="invalid_token") == 1
    assert moved("virtapi_auth_failures_total", reason="missing_token") == 1
    assert moved("virtapi_db_statements_total", engine="primary") >= sent
    assert after[("virtapi_ready", ())] == 1
    assert after[("virtapi_db_pool_checked_out", (("engine", "primary"),))] >= 0

    # Bounded labels only: route templates of the app, nothing a client typed.
    app = create_app({"DATABASE_URL": server.database_url, "INSTANCE_PATH": str(tmp_path),
                      "SECRET_KEY": "x"})  # fmt: skip
    templates = {rule.rule for rule in app.url_map.iter_rules()} | {"<unmatched>"}
    app.extensions["virtapi.db"].dispose()
    routes = {dict(labels)["route"] for (_, labels) in after if "route" in dict(labels)}
    assert routes <= templates, routes - templates
    assert "/enc/<certname>" in routes or any(r.startswith("/enc/") for r in routes)
    values = {v for (_, labels) in after for (_, v) in labels}
    secrets = [*server.tokens.values(), wrong]
    for value in values:
        assert not any(s in value for s in secrets), value
        assert not any(h in value for h in hostnames), value
        assert "12345" not in value and "/api/v1/vms/" + str(vm_ids[0]) != value


def test_json_request_lines(server: Server) -> None:
    admin = {"Authorization": f"Bearer {server.tokens['admin']}", "X-Request-Id": "trace-me.1"}
    vm_ids, _ = inventory(server.database_url)
    call(f"{server.url}/api/v1/vms/{vm_ids[0]}", admin)
    for _ in range(50):  # the worker writes the line just after the response
        lines = [ln for ln in json_lines(server) if ln.get("request_id") == "trace-me.1"]
        if lines:
            break
        time.sleep(0.1)
    (line,) = [ln for ln in lines if ln["logger"] == "virtapi.request"]
    assert line["route"] == "/api/v1/vms/<int:id>"
    assert line["status"] == 200
    assert line["method"] == "GET"
    assert isinstance(line["duration_ms"], float)
    assert isinstance(line["token_id"], int)
    assert line["customer_id"] is None
    logs = server.logs()
    assert not any(token in logs for token in server.tokens.values())


def test_a_dead_workers_counts_stay_and_its_live_gauges_go(server: Server) -> None:
    prom = Path(server.database_url.removeprefix("sqlite:///")).parent / "prometheus"
    admin = {"Authorization": f"Bearer {server.tokens['admin']}"}
    victim = server.worker_pids()[0]

    def victim_served() -> bool:
        return any(ln["pid"] == victim and ln.get("route") == "/api/v1/vms"
                   for ln in json_lines(server))  # fmt: skip

    # The request line is logged before the response leaves, so no wait is needed.
    for _ in range(100):
        assert call(f"{server.url}/api/v1/vms", admin)[0] == 200
        if victim_served():
            break
    assert victim_served(), "the kernel sent no request to the victim"
    assert (prom / f"gauge_livesum_{victim}.db").exists()
    before = scrape(server)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = server.worker_pids()
        if len(pids) == 2 and victim not in pids:
            break
        time.sleep(0.2)
    assert victim not in server.worker_pids()
    assert not (prom / f"gauge_livesum_{victim}.db").exists()  # child_exit: mark_process_dead
    assert (prom / f"counter_{victim}.db").exists()
    after = scrape(server)
    key = ("virtapi_http_requests_total",
           (("method", "GET"), ("route", "/api/v1/vms"), ("status", "200")))  # fmt: skip
    assert after[key] == before[key] > 0  # the dead worker's requests still count
