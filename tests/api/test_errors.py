"""Whatever a client sends, the answer is a 4xx in the error shape, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import H, vm_id

BAD_BODIES = [
    ({"hostname": "h", "cores": 2**40, "ram": 1}, "cores"),
    ({"hostname": "h", "cores": 1, "ram": 2**70}, "ram"),
    ({"hostname": "h", "cores": "2", "ram": 1}, "cores"),
    ({"hostname": "h", "cores": True, "ram": 1}, "cores"),
    ({"hostname": "h", "cores": 1.5, "ram": 1}, "cores"),
    ({"hostname": "h\x00x", "cores": 1, "ram": 1}, "hostname"),
    ({"hostname": "h" * 300, "cores": 1, "ram": 1}, "hostname"),
    ({"hostname": "Web_1.example.net", "cores": 1, "ram": 1}, "hostname"),
    ({"hostname": "web1.example.net\nclasses: x", "cores": 1, "ram": 1}, "hostname"),
    ({"hostname": "h", "cores": 1, "ram": 1, "customer_id": -1}, "customer_id"),
    (
        {"hostname": "h", "cores": 1, "ram": 1, "customer_id": 5, "requested_state": []},
        "requested_state",
    ),
    (
        {"hostname": "h", "cores": 1, "ram": 1, "customer_id": 5, "virt_node_id": 2**64},
        "virt_node_id",
    ),
    ({"hostname": "h", "cores": 1, "ram": 1, "colour": "red"}, "colour"),
]


def test_bad_bodies_name_the_field(client: Any, api_tokens: Any) -> None:
    op = H(api_tokens.operator)
    for body, field in BAD_BODIES:
        resp = client.post("/api/v1/vms", json=body, headers=op)
        assert resp.status_code == 422, (body, resp.json)
        assert field in resp.json["errors"], (body, resp.json)
        assert resp.json["status"] == 422 and resp.json["code"] == "invalid"


def test_unreadable_bodies_and_odd_ids(app: Any, client: Any, api_tokens: Any, demo: Any) -> None:
    op = H(api_tokens.operator)
    for data in ("{", "[]", "null", '"x"', "1"):
        resp = client.post(
            "/api/v1/nodes", data=data, headers={**op, "Content-Type": "application/json"}
        )
        assert resp.status_code in (400, 422), (data, resp.status_code)
        assert set(resp.json) == {"status", "code", "message", "errors"}
    for url in ("/api/v1/nodes/99999999999999999999999", "/api/v1/nodes/0", "/api/v1/vms/abc"):
        assert client.get(url, headers=op).status_code == 404, url
        assert client.patch(url, json={}, headers=op).status_code == 404, url
    web1 = vm_id(app, "web1")
    for query in (
        "limit=0",
        "limit=abc",
        "offset=-1",
        "customer_id=99999999999999999999",
        "hypervisor=%00",
    ):
        resp = client.get(f"/api/v1/vms?{query}", headers=op)
        assert resp.status_code in (200, 422), (query, resp.json)
    assert client.get(f"/api/v1/vms/{web1}", headers=op).status_code == 200
    resp = client.patch(f"/api/v1/vms/{web1}", json={"cores": 0}, headers=op)
    assert resp.status_code == 422 and "cores" in resp.json["errors"]


def test_method_not_allowed_is_json(client: Any, api_tokens: Any) -> None:
    resp = client.put("/api/v1/nodes", json={}, headers=H(api_tokens.admin))
    assert resp.status_code == 405 and resp.json["code"] == "method_not_allowed"


def test_patch_without_a_body_is_422_and_changes_nothing(
    client: Any, api_tokens: Any, demo: Any
) -> None:
    """Found by schemathesis: the body is required by the document, and was not by the server."""
    op = {"Authorization": f"Bearer {api_tokens.operator}"}
    for path in ("/api/v1/nodes/1", "/api/v1/vlans/1", "/api/v1/ceph-pools/1"):
        before = client.get(path, headers=op)
        resp = client.patch(path, headers=op)
        assert resp.status_code == 422, (path, resp.status_code)
        assert "body is required" in resp.json["message"]
        assert client.get(path, headers=op).headers["ETag"] == before.headers["ETag"]
        assert client.patch(path, json={}, headers=op).status_code == 200


def test_body_booleans_are_json_booleans(client: Any, api_tokens: Any, demo: Any) -> None:
    """Found by schemathesis: 0, 1 or "yes" passed as booleans; the document says boolean."""
    op = {"Authorization": f"Bearer {api_tokens.operator}"}
    disk = client.get("/api/v1/storage", headers=op).json["results"][0]["id"]
    for value in (0, 1, "yes", "true"):
        resp = client.patch(f"/api/v1/storage/{disk}", json={"discard": value}, headers=op)
        assert resp.status_code == 422 and "discard" in resp.json["errors"], value
    assert client.patch(f"/api/v1/storage/{disk}", json={}, headers=op).status_code == 200


def test_a_row_changed_under_a_write_is_409_retry(app: Any) -> None:
    """Found by schemathesis: two concurrent cancels of one install; the second one's UPDATE
    matched no row (StaleDataError) and answered 500."""
    from sqlalchemy.orm.exc import StaleDataError

    @app.route("/_stale_for_test")
    def stale() -> None:
        raise StaleDataError("UPDATE statement on table 'install' expected to update 1 row(s)")

    resp = app.test_client().get("/_stale_for_test")
    assert resp.status_code == 409 and resp.json["code"] == "retry"


def test_a_deadlock_answers_409_retry_not_503(app: Any, client: Any, db_url: str) -> None:
    """A real PostgreSQL deadlock (two transactions locking two rows in opposite order) is a
    conflict, answered like a serialization failure: 409 retry, not "database unavailable"."""
    import threading

    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    from virtapi.api.errors import is_transaction_conflict

    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers: no deadlock to provoke")
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE deadlock_probe (id int PRIMARY KEY, n int)"))
        conn.execute(text("INSERT INTO deadlock_probe VALUES (1, 0), (2, 0)"))
    both_locked = threading.Barrier(2)
    caught: list[OperationalError] = []

    def lock(first: int, second: int) -> None:
        with engine.connect() as conn:
            try:
                conn.execute(text("UPDATE deadlock_probe SET n = 1 WHERE id = :i"), {"i": first})
                both_locked.wait(timeout=10)
                conn.execute(text("UPDATE deadlock_probe SET n = 1 WHERE id = :i"), {"i": second})
            except OperationalError as exc:
                caught.append(exc)
            conn.rollback()

    threads = [threading.Thread(target=lock, args=order) for order in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    engine.dispose()
    assert len(caught) == 1, "PostgreSQL aborts exactly one of the two"
    assert is_transaction_conflict(caught[0])
    with app.test_request_context():
        from virtapi.api.errors import _db_error

        resp = _db_error(caught[0])
    assert resp.status_code == 409 and resp.get_json()["code"] == "retry"
