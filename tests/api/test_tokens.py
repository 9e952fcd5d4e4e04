"""Admin token management over HTTP: shown once, hashed, revocable, admins only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.api.helpers import H, db_of
from virtapi.models import ApiToken


def test_admin_creates_lists_and_revokes(app: Any, client: Any, api_tokens: Any) -> None:
    ad = H(api_tokens.admin)
    resp = client.post(
        "/api/v1/tokens", json={"role": "customer", "customer_id": 77, "name": "c77"}, headers=ad
    )
    assert resp.status_code == 201, resp.json
    token = resp.json["token"]
    assert resp.headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/whoami", headers=H(token)).json["customer_id"] == 77
    listed = client.get("/api/v1/tokens?customer_id=77", headers=ad).json["results"]
    assert [t["name"] for t in listed] == ["c77"] and "token" not in listed[0]
    with db_of(app).session() as s:
        stored = s.scalar(select(ApiToken.token_hash).where(ApiToken.id == resp.json["id"]))
        assert stored and token not in stored
    assert client.delete(resp.headers["Location"], headers=ad).status_code == 204
    assert client.get("/api/v1/whoami", headers=H(token)).status_code == 401
    assert client.get(resp.headers["Location"], headers=ad).json["revoked_at"] is not None
    bad = client.post("/api/v1/tokens", json={"role": "customer"}, headers=ad)
    assert bad.status_code == 422 and "customer" in bad.json["message"]
    for tok in (api_tokens.operator, api_tokens.reader, api_tokens.customer_a):
        assert (
            client.post("/api/v1/tokens", json={"role": "admin"}, headers=H(tok)).status_code == 403
        )
        assert client.get("/api/v1/tokens", headers=H(tok)).status_code == 403


def test_an_admin_cannot_revoke_the_token_it_is_using(
    app: Any, client: Any, api_tokens: Any
) -> None:
    ad = H(api_tokens.admin)
    with db_of(app).session() as s:
        me = s.scalar(select(ApiToken.id).where(ApiToken.name == "admin"))
    resp = client.delete(f"/api/v1/tokens/{me}", headers=ad)
    assert resp.status_code == 409 and resp.json["code"] == "own_token"
    assert client.get("/api/v1/whoami", headers=ad).status_code == 200
    # Another admin may revoke it; then that one is the last admin and keeps itself.
    other = client.post("/api/v1/tokens", json={"role": "admin"}, headers=ad).json
    assert client.delete(f"/api/v1/tokens/{me}", headers=H(other["token"])).status_code == 204
    resp = client.delete(f"/api/v1/tokens/{other['id']}", headers=H(other["token"]))
    assert resp.status_code == 409
    assert client.get("/api/v1/whoami", headers=H(other["token"])).status_code == 200
