"""Hostile bodies get a 4xx with a reason, before any view or parser can turn them into a 500."""

from __future__ import annotations

from typing import Any


def test_deeply_nested_json_is_400(client: Any, api_tokens: Any) -> None:
    body = "[" * 100_000 + "]" * 100_000
    resp = client.post(
        "/api/v1/whoami",
        data=body,
        content_type="application/json",
        headers=api_tokens.header(api_tokens.admin),
    )
    assert resp.status_code == 400 and resp.json["code"] == "too_deep"
    resp = client.post("/api/v1/whoami", json={"a": [[[[[[[[{"b": 1}]]]]]]]]} | {"x": 1})
    assert resp.status_code != 400  # shallow JSON passes the guard (then 405 for this route)
    nested: Any = 1
    for _ in range(70):
        nested = [nested]
    assert client.post("/api/v1/whoami", json=nested).json["code"] == "too_deep"


def test_non_utf8_and_broken_json_are_400(client: Any) -> None:
    resp = client.post("/api/v1/whoami", data=b'{"a": "\xff\xfe"}', content_type="application/json")
    assert resp.status_code == 400 and resp.json["code"] == "bad_encoding"
    resp = client.post("/api/v1/whoami", data=b'{"a": ', content_type="application/json")
    assert resp.status_code == 400 and resp.json["code"] == "bad_json"


def test_oversized_body_is_413(app: Any, client: Any) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1000
    resp = client.post("/api/v1/whoami", data="x" * 5000, content_type="application/json")
    assert resp.status_code == 413 and resp.json["code"] == "body_too_large"
