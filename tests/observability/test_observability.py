"""/readyz, request ids, the /metrics guard and the scrape-time inventory gauges, in process.

The same through a real gunicorn with two workers: tests/hardening/test_metrics_gunicorn.py.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import Tokens
from tests.support.apps import make_app
from tests.support.metrics import samples
from virtapi import migrate
from virtapi.config import load_settings, override
from virtapi.observability.logs import JsonFormatter
from virtapi.observability.readiness import head_revision

# --- /readyz ----------------------------------------------------------------------------------


def test_readyz_ready_when_migrated_to_head(client: Any) -> None:
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "ready"
    assert resp.json["checks"]["migration"] == {"current": head_revision(), "head": head_revision()}
    assert resp.headers["Cache-Control"] == "no-store"


def test_readyz_503_on_a_fresh_empty_database(tmp_path: Any) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'empty.sqlite'}", tmp_path)
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.json["status"] == "not ready"
    assert "virtapi db upgrade" in resp.json["reason"]
    assert resp.json["checks"]["migration"]["current"] is None
    app.extensions["virtapi.db"].dispose()


def test_readyz_503_when_the_database_is_unreachable(tmp_path: Any) -> None:
    app = make_app("postgresql+psycopg2://nobody@127.0.0.1:1/none", tmp_path)
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.json["reason"] == "database unreachable"
    assert "nobody" not in resp.get_data(as_text=True)
    app.extensions["virtapi.db"].dispose()


def test_readyz_503_when_behind_head_then_200_after_upgrade(db_url: str, tmp_path: Any) -> None:
    migrate.downgrade(db_url, "0002")
    app = make_app(db_url, tmp_path)
    client = app.test_client()
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json["checks"]["migration"]["current"] == "0002"
    migrate.upgrade(db_url)
    assert client.get("/readyz").status_code == 200
    app.extensions["virtapi.db"].dispose()


def test_readyz_checks_the_replica(db_url: str, tmp_path: Any) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("replica lag is read from a PostgreSQL standby (pg_last_xact_replay_timestamp)")
    # The primary standing in for its own replica: not in recovery, so no lag.
    app = make_app(db_url, tmp_path, DATABASE_READ_URL=db_url)
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 200, resp.json
    assert resp.json["checks"]["replica"]["lag_seconds"] == 0
    app.extensions["virtapi.db"].dispose()


def test_readyz_503_when_the_replica_is_unreachable(db_url: str, tmp_path: Any) -> None:
    dead = "postgresql+psycopg2://nobody@127.0.0.1:1/none"
    app = make_app(db_url, tmp_path, DATABASE_READ_URL=dead)
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.json["checks"]["replica"] == "unreachable"
    assert "replica" in resp.json["reason"]
    assert "nobody" not in resp.get_data(as_text=True)  # driver details go to the log only
    # 0 leaves the replica out: the app reads from the primary while the replica is down.
    override(app, ready_max_replica_lag_seconds=0)
    assert app.test_client().get("/readyz").status_code == 200
    app.extensions["virtapi.db"].dispose()


# --- request ids ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/vms", "/no/such/page/42"])
def test_request_id_echoed_when_safe(client: Any, path: str) -> None:
    resp = client.get(path, headers={"X-Request-Id": "lb-7f3a:01.x_y"})
    assert resp.headers["X-Request-Id"] == "lb-7f3a:01.x_y"


@pytest.mark.parametrize("given", [None, "", "a" * 129, "two words", "x\"}{'", "id\ttab"])
def test_request_id_generated_when_missing_or_unsafe(client: Any, given: str | None) -> None:
    headers = {} if given is None else {"X-Request-Id": given}
    first = client.get("/api/v1/vms", headers=headers).headers["X-Request-Id"]
    second = client.get("/api/v1/vms", headers=headers).headers["X-Request-Id"]
    assert first != given and len(first) == 32 and int(first, 16) >= 0
    assert first != second


# --- /metrics ---------------------------------------------------------------------------------


def test_metrics_needs_a_reader_token(client: Any, api_tokens: Tokens) -> None:
    assert client.get("/metrics").status_code == 401
    customer = client.get("/metrics", headers=Tokens.header(api_tokens.customer_a))
    assert customer.status_code == 403
    for token in (api_tokens.reader, api_tokens.operator, api_tokens.admin):
        resp = client.get("/metrics", headers=Tokens.header(token))
        assert resp.status_code == 200
        assert resp.mimetype == "text/plain"


def test_metrics_count_requests_per_route_template(client: Any, api_tokens: Tokens) -> None:
    reader = Tokens.header(api_tokens.reader)
    before = samples(client.get("/metrics", headers=reader).get_data(as_text=True))
    for vm_id in (1, 2, 3):
        assert client.get(f"/api/v1/vms/{vm_id}", headers=reader).status_code == 404
    client.get("/api/v1/vms", headers={"Authorization": "Bearer va_wrongwrongwrong"})
    client.get("/api/v1/vms")
    after = samples(client.get("/metrics", headers=reader).get_data(as_text=True))

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    vm = {"method": "GET", "route": "/api/v1/vms/<int:id>", "status": "404"}
    assert moved("virtapi_http_requests_total", **vm) == 3
    assert moved("virtapi_http_request_duration_seconds_count", **vm) == 3
    assert moved("virtapi_auth_failures_total", reason="invalid_token") == 1
    assert moved("virtapi_auth_failures_total", reason="missing_token") == 1
    assert moved("virtapi_db_statements_total", engine="primary") > 0
    labels = {v for (_, ls) in after for (_, v) in ls}
    assert not any("/api/v1/vms/1" in v or "va_" in v for v in labels)


def test_metrics_listener_needs_no_token_and_serves_nothing_else(
    db_url: str, tmp_path: Any
) -> None:
    app = make_app(db_url, tmp_path, METRICS_BIND="127.0.0.1:9102", TRUSTED_PROXIES=1)
    client = app.test_client()
    listener = "http://127.0.0.1:9102"
    assert client.get("/metrics", base_url=listener).status_code == 200
    assert client.get("/readyz", base_url=listener).status_code == 200
    assert client.get("/api/v1/vms", base_url=listener).status_code == 404
    # The main listener still wants a token, even when a trusted proxy's header names the port.
    spoofed = {"X-Forwarded-Host": "127.0.0.1:9102"}
    assert client.get("/metrics", headers=spoofed).status_code == 401
    app.extensions["virtapi.db"].dispose()


def test_inventory_gauges_follow_the_database(app: Any, demo: Any, api_tokens: Tokens) -> None:
    db = app.extensions["virtapi.db"]
    with db.session() as s:
        first = s.execute(text("SELECT min(id) FROM vm")).scalar()
        other = s.execute(
            text("SELECT min(id) FROM vm_state WHERE id != (SELECT requested_state_id FROM vm"
                 " WHERE id = :id)"), {"id": first},
        ).scalar()  # fmt: skip
        s.execute(
            text("UPDATE vm SET actual_state_id = :o WHERE id = :id"), {"o": other, "id": first}
        )
        drifted = s.execute(
            text("SELECT count(*) FROM vm WHERE requested_state_id != actual_state_id")
        ).scalar()
        nodes = s.execute(text("SELECT count(*) FROM node WHERE last_seen_at IS NULL")).scalar()
    body = app.test_client().get("/metrics", headers=Tokens.header(api_tokens.reader))
    got = samples(body.get_data(as_text=True))
    assert got[("virtapi_vms_drifted", ())] == drifted >= 1
    assert got[("virtapi_vms_drift_oldest_seconds", ())] >= 0
    assert got[("virtapi_nodes_stale", (("heartbeat", "never"),))] == nodes > 0
    assert got[("virtapi_ready", ())] == 1
    assert {k[1] for k in got if k[0] == "virtapi_installs"} == {
        (("state", s),) for s in ("pending", "running", "done", "failed", "cancelled")
    }


def test_host_drift_gauges_follow_applied_reports(app: Any, demo: Any, api_tokens: Tokens) -> None:
    """A host drifts from the moment its document changes after what it reported applying."""
    reader = Tokens.header(api_tokens.reader)
    client = app.test_client()
    hv = "hv01.dc1.example.com"

    def scrape() -> tuple[float, float]:
        got = samples(client.get("/metrics", headers=reader).get_data(as_text=True))
        return got[("virtapi_nodes_drifted", ())], got[("virtapi_nodes_drift_oldest_seconds", ())]

    applied = client.get(f"/enc/{hv}", headers=reader).headers["X-Virtapi-Document"]
    report = client.post(
        f"/api/v1/nodes/{hv}/report", json={"applied_document": applied}, headers=reader
    )
    assert report.status_code == 200, report.get_json()
    assert scrape() == (0, 0)
    # The operator changes a VM on hv01: hv01's document changes.
    vm = client.get(
        "/api/v1/vms?hostname=web1.c1001.example.net", headers=Tokens.header(api_tokens.admin)
    ).get_json()["results"][0]
    patched = client.patch(
        f"/api/v1/vms/{vm['id']}", json={"cores": vm["cores"] + 1},
        headers=Tokens.header(api_tokens.admin),
    )  # fmt: skip
    assert patched.status_code == 200, patched.get_json()
    drifted, oldest = scrape()
    assert drifted == 1 and oldest >= 0
    now = client.get(f"/enc/{hv}", headers=reader).headers["X-Virtapi-Document"]
    assert now != applied
    client.post(f"/api/v1/nodes/{hv}/report", json={"applied_document": now}, headers=reader)
    assert scrape() == (0, 0)


# --- logs and settings ------------------------------------------------------------------------


def test_json_log_line_is_redacted_and_carries_the_request_id(app: Any) -> None:
    with app.test_request_context("/x", headers={"X-Request-Id": "req-42"}):
        app.preprocess_request()
        record = logging.LogRecord(
            "virtapi.test", logging.WARNING, __file__, 1,
            "client sent %s", ("?token=va_SECRETSECRET123",), None,
        )  # fmt: skip
        line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-42"
    assert line["level"] == "warning"
    assert "SECRETSECRET" not in json.dumps(line)


def test_log_format_setting_is_checked(tmp_path: Any) -> None:
    env = {"VIRTAPI_INSTANCE_PATH": str(tmp_path), "VIRTAPI_SECRET_KEY": "k"}
    assert load_settings(env).log_format == "text"
    assert load_settings({**env, "VIRTAPI_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(ValueError, match="VIRTAPI_LOG_FORMAT"):
        load_settings({**env, "VIRTAPI_LOG_FORMAT": "yaml"})


def test_document_and_refusal_metrics_move_with_real_requests(
    app: Any, api_tokens: Tokens, demo: Any
) -> None:
    """Builds, cache hits and misses and refused allocations are counted where they happen."""
    from virtapi.observability import metrics

    reader = Tokens.header(api_tokens.reader)
    customer = Tokens.header(api_tokens.customer_b)
    client = app.test_client()
    before = samples(client.get("/metrics", headers=reader).get_data(as_text=True))
    hv = "hv01.dc1.example.com"
    assert client.get(f"/enc/{hv}", headers=reader).status_code == 200  # miss, build
    assert client.get(f"/enc/{hv}", headers=reader).status_code == 200  # hit
    assert client.get(f"/pillar/{hv}", headers=reader).status_code == 200  # hit
    assert client.get(f"/hiera/{hv}/virtapi::roles", headers=reader).status_code in (200, 404)
    # Customer 1002 may have 8 cores and uses 3: 6 more is over quota.
    quota = client.post(
        "/api/v1/vms",
        json={"hostname": "big.example.net", "cores": 6, "ram": 1024},
        headers=customer,
    )
    assert quota.json["code"] == "quota_exceeded"
    admin = Tokens.header(api_tokens.admin)
    capacity = client.post(
        "/api/v1/vms",
        json={"hostname": "huge.example.net", "cores": 10_000, "ram": 1024, "customer_id": 7},
        headers=admin,
    )
    assert capacity.json["code"] == "no_capacity", capacity.json
    metrics.count_cache("/enc/web01.example.com", True)  # never a label: counts as other
    with metrics.feed_waiter():
        during = samples(client.get("/metrics", headers=reader).get_data(as_text=True))
    metrics.observe_feed_lag(7)
    after = samples(client.get("/metrics", headers=reader).get_data(as_text=True))

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert moved("virtapi_document_build_seconds_count") == 1
    assert moved("virtapi_document_cache_total", view="enc", result="miss") == 1
    assert moved("virtapi_document_cache_total", view="enc", result="hit") == 1
    assert moved("virtapi_document_cache_total", view="pillar", result="hit") == 1
    assert moved("virtapi_document_cache_total", view="hiera", result="hit") == 1
    assert moved("virtapi_document_cache_total", view="other", result="hit") == 1
    assert moved("virtapi_allocations_refused_total", reason="quota") == 1
    assert moved("virtapi_allocations_refused_total", reason="capacity") == 1
    assert not any(
        dict(k[1]).get("reason") == "other" for k in after if k[0].startswith("virtapi_alloc")
    )
    assert during[("virtapi_feed_waiters", ())] == before.get(("virtapi_feed_waiters", ()), 0) + 1
    assert after[("virtapi_feed_waiters", ())] == before.get(("virtapi_feed_waiters", ()), 0)
    assert moved("virtapi_feed_cursor_lag_changes_bucket", le="10.0") == 1
    assert moved("virtapi_feed_cursor_lag_changes_bucket", le="5.0") == 0
