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
