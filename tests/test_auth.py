"""Bearer tokens: valid, unknown, revoked, expired; the error shape on the way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from virtapi.config import override
from virtapi.db import Database
from virtapi.models import ApiToken
from virtapi.services import tokens


def test_whoami_per_role(client: Any, api_tokens: Any) -> None:
    for label in ("admin", "operator", "reader", "customer_a"):
        resp = client.get("/api/v1/whoami", headers=api_tokens.header(getattr(api_tokens, label)))
        assert resp.status_code == 200, resp.json
        assert resp.json["name"] == label
    resp = client.get("/api/v1/whoami", headers=api_tokens.header(api_tokens.customer_a))
    assert resp.json == {**resp.json, "role": "customer", "customer_id": 1001}


def test_missing_and_unknown_tokens_get_401_json(client: Any, api_tokens: Any) -> None:
    for headers in ({}, {"Authorization": "Bearer va_nope"}, {"Authorization": "Basic eDp5"}):
        resp = client.get("/api/v1/whoami", headers=headers)
        assert resp.status_code == 401
        assert resp.json["code"] == "unauthorized" and resp.json["status"] == 401
        assert "Bearer" in resp.headers["WWW-Authenticate"].title()


def test_revoked_and_expired_tokens_refused(app: Any, client: Any) -> None:
    db: Database = app.extensions["virtapi.db"]
    with db.session() as s:
        revoked, revoked_plain = tokens.create_token(s, "admin")
        _, expired_plain = tokens.create_token(
            s, "admin", expires_at=datetime.now(UTC) - timedelta(seconds=1)
        )
        _, live_plain = tokens.create_token(
            s, "admin", expires_at=datetime.now(UTC) + timedelta(hours=1)
        )
    assert (
        client.get(
            "/api/v1/whoami", headers={"Authorization": f"Bearer {revoked_plain}"}
        ).status_code
        == 200
    )
    with db.session() as s:
        tokens.revoke(s, revoked.id)
    for plain in (revoked_plain, expired_plain):
        resp = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {plain}"})
        assert resp.status_code == 401
    assert (
        client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {live_plain}"}).status_code
        == 200
    )
    with db.session() as s:
        assert s.get(ApiToken, revoked.id).last_used_at is not None


def test_unknown_route_is_json_404(client: Any) -> None:
    resp = client.get("/api/v1/no-such-thing")
    assert resp.status_code == 404 and resp.json["code"] == "not_found"


def test_failed_authentication_is_rate_limited_per_source(app: Any, api_tokens: Any) -> None:
    override(app, auth_max_failures=3)
    client = app.test_client()
    attacker = {"REMOTE_ADDR": "198.51.100.66"}
    for _ in range(3):
        resp = client.get("/api/v1/whoami", headers={"Authorization": "Bearer va_guess"},
                          environ_base=attacker)  # fmt: skip
        assert resp.status_code == 401
    # Blocked now, even with a valid token: a lucky guess cannot be told apart.
    resp = client.get(
        "/api/v1/whoami", headers=api_tokens.header(api_tokens.admin), environ_base=attacker
    )
    assert resp.status_code == 429 and resp.json["code"] == "too_many_requests"
    assert int(resp.headers["Retry-After"]) > 0
    # Another address is unaffected.
    resp = client.get(
        "/api/v1/whoami",
        headers=api_tokens.header(api_tokens.admin),
        environ_base={"REMOTE_ADDR": "198.51.100.67"},
    )
    assert resp.status_code == 200


def test_no_token_or_hash_in_logs(app: Any, api_tokens: Any, caplog: Any) -> None:
    caplog.set_level("DEBUG")
    client = app.test_client()
    client.get("/api/v1/whoami", headers=api_tokens.header(api_tokens.admin))
    client.get("/api/v1/whoami", headers={"Authorization": "Bearer va_wrong-secret-value"})
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert api_tokens.admin not in logged and "va_wrong-secret-value" not in logged
    assert tokens.hash_token(api_tokens.admin) not in logged
