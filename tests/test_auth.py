"""Bearer tokens: valid, unknown, revoked, expired; the error shape on the way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, select

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


def test_failures_are_throttled_per_source_but_valid_tokens_always_served(
    app: Any, api_tokens: Any
) -> None:
    override(app, auth_max_failures=3)
    client = app.test_client()
    attacker = {"REMOTE_ADDR": "198.51.100.66"}
    bad = {"Authorization": "Bearer va_guess"}
    for _ in range(3):
        assert client.get("/api/v1/whoami", headers=bad, environ_base=attacker).status_code == 401
    resp = client.get("/api/v1/whoami", headers=bad, environ_base=attacker)
    assert resp.status_code == 429 and resp.json["code"] == "too_many_requests"
    assert int(resp.headers["Retry-After"]) > 0
    # A valid token from the same address is served: one stale token on a puppetserver must
    # not stop configuration management for every node behind it.
    resp = client.get(
        "/api/v1/whoami", headers=api_tokens.header(api_tokens.admin), environ_base=attacker
    )
    assert resp.status_code == 200
    # Another address is unaffected even for failures.
    resp = client.get("/api/v1/whoami", headers=bad, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert resp.status_code == 401


def test_values_that_cannot_be_tokens_are_refused_but_not_counted(app: Any) -> None:
    override(app, auth_max_failures=3)
    client = app.test_client()
    source = {"REMOTE_ADDR": "198.51.100.67"}
    for credential in ["SCHEMATHESIS-INVALID-VALUE", "x" * 10, "va_" + "x" * 200] * 5:
        resp = client.get(
            "/api/v1/whoami", headers={"Authorization": f"Bearer {credential}"}, environ_base=source
        )
        assert resp.status_code == 401
    # Guesses shaped like tokens still count from the first one.
    guess = {"Authorization": "Bearer va_guess"}
    codes = [client.get("/api/v1/whoami", headers=guess, environ_base=source).status_code
             for _ in range(4)]  # fmt: skip
    assert codes == [401, 401, 401, 429]


def test_fifty_bad_tokens_then_the_reader_gets_its_enc(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    certname = "hv01.dc1.example.com"
    for n in range(50):
        client.get(f"/enc/{certname}", headers={"Authorization": f"Bearer va_stale{n}"})
    refused = client.get(f"/enc/{certname}", headers={"Authorization": "Bearer va_stale"})
    assert refused.status_code == 429
    resp = client.get(f"/enc/{certname}", headers=api_tokens.header(api_tokens.reader))
    assert resp.status_code == 200 and b"classes" in resp.data


def _statements(app: Any, call: Any) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cur: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            seen.append(statement)

    engine = app.extensions["virtapi.db"].engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def test_authentication_is_one_statement_and_use_is_written_in_a_batch(
    app: Any, client: Any, api_tokens: Any
) -> None:
    db: Database = app.extensions["virtapi.db"]
    headers = api_tokens.header(api_tokens.reader)
    first = _statements(app, lambda: client.get("/api/v1/whoami", headers=headers))
    # The lookup, then after the response one UPDATE recording the use.
    assert len(first) == 2 and first[1].lstrip().upper().startswith("UPDATE")
    with db.session() as s:
        used = s.scalar(select(ApiToken.last_used_at).where(ApiToken.name == "reader"))
    assert used is not None
    again = _statements(app, lambda: client.get("/api/v1/whoami", headers=headers))
    assert len(again) == 1 and "api_token" in again[0]


def test_no_token_or_hash_in_logs(app: Any, api_tokens: Any, caplog: Any) -> None:
    caplog.set_level("DEBUG")
    client = app.test_client()
    client.get("/api/v1/whoami", headers=api_tokens.header(api_tokens.admin))
    client.get("/api/v1/whoami", headers={"Authorization": "Bearer va_wrong-secret-value"})
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert api_tokens.admin not in logged and "va_wrong-secret-value" not in logged
    assert tokens.hash_token(api_tokens.admin) not in logged
