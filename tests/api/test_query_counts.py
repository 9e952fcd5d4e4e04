"""Nested lists cost a constant number of SQL queries, however many rows they show."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text

from tests.api.helpers import GiB, H, db_of
from tests.support.queries import statements_sent
from virtapi.models import Node
from virtapi.observability import metrics
from virtapi.services.audit import data_version


def _queries(app: Any, client: Any, url: str, headers: dict[str, str]) -> int:
    with statements_sent(db_of(app).engine) as statements:
        resp = client.get(url, headers=headers)
        assert resp.status_code == 200
    return len(statements)


def test_list_query_count_is_constant(app: Any, client: Any, api_tokens: Any, demo: Any) -> None:
    op = H(api_tokens.operator)
    client.get("/api/v1/whoami", headers=op)  # token use recorded outside the measurement
    urls = (
        "/api/v1/vms?limit=1000",
        "/api/v1/nodes?limit=1000",
        "/api/v1/vm-interfaces?limit=1000",
    )
    before = {url: _queries(app, client, url, op) for url in urls}
    for n in range(6):
        vm = client.post(
            "/api/v1/vms",
            json={"hostname": f"q{n}.example.net", "cores": 1, "ram": GiB, "customer_id": 1001},
            headers=op,
        ).json
        client.post("/api/v1/vm-interfaces", json={"vm_id": vm["id"], "vlans": [1]}, headers=op)
        client.post(
            "/api/v1/storage",
            json={"vm_id": vm["id"], "size": GiB, "storage_type": "ceph", "ceph_pool": "rbd"},
            headers=op,
        )
        client.post("/api/v1/nodes", json={"fqdn": f"n{n}.example.com"}, headers=op)
    after = {url: _queries(app, client, url, op) for url in urls}
    assert after == before
    assert before["/api/v1/vms?limit=1000"] <= 12


def test_heartbeat_is_one_update_after_authentication(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    """1,000 hosts report once a minute: a heartbeat must cost the database next to nothing,
    and leave the ENC cache of every other host alone."""
    db = db_of(app)
    reader, hv = H(api_tokens.reader), "hv03.dc1.example.com"
    url = f"/api/v1/nodes/{hv}/report"
    assert client.post(url, json={}, headers=reader).status_code == 200  # token use recorded
    client.get("/enc/hv01.dc1.example.com", headers=reader)  # cached from here on
    with db.session() as s:
        changes, version = s.scalar(text("SELECT count(*) FROM change")), data_version(s)
    with statements_sent(db.engine) as statements:
        resp = client.post(
            url, json={"state": "offline", "facts": {"kernel": "6.1"}}, headers=reader
        )
    assert resp.status_code == 200, resp.json
    assert (resp.json["fqdn"], resp.json["state"], resp.json["reported_state"]) == (
        hv,
        "running",
        "offline",
    )
    sent = [" ".join(q.split()) for q in statements if not q.startswith("BEGIN")]
    assert len(sent) == 2, sent
    assert "FROM api_token" in sent[0]
    assert sent[1].startswith("UPDATE node SET") and "RETURNING" in sent[1]
    with statements_sent(db.engine) as enc:
        assert client.get("/enc/hv01.dc1.example.com", headers=reader).status_code == 200
    # Authentication and the cache's look at what changed, one statement: nothing rebuilt.
    assert len([q for q in enc if not q.startswith("BEGIN")]) == 1, enc
    with db.session() as s:
        assert s.scalar(text("SELECT count(*) FROM change")) == changes
        assert data_version(s) == version
        node = s.scalar(select(Node).where(Node.fqdn == hv))
        assert node.facts == {"kernel": "6.1"} and node.reported_state.name == "offline"
    # An unknown state is refused naming the field, and nothing of the report stays.
    bad = client.post(url, json={"state": "exploded", "facts": {}}, headers=reader)
    assert bad.status_code == 422 and "node_state" in bad.json["message"], bad.json
    with db.session() as s:
        assert s.scalar(select(Node.facts).where(Node.fqdn == hv)) == {"kernel": "6.1"}


def _built_and_rendered() -> tuple[float, float]:
    registry = metrics.local_registry()
    renders = sum(
        registry.get_sample_value("virtapi_document_renders_total", {"format": f}) or 0
        for f in metrics.FORMATS
    )
    return registry.get_sample_value("virtapi_document_build_seconds_count") or 0, renders


def test_cached_answer_and_304_are_one_statement_and_no_work(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    """A cached ENC/Hiera/pillar answer and its 304 cost one SQL statement (the token and what
    changed, read together) and build or render nothing."""
    reader, hv = H(api_tokens.reader), "hv01.dc1.example.com"
    paths = [f"/enc/{hv}", f"/hiera/{hv}", f"/hiera/{hv}/virtapi::roles", f"/pillar/{hv}"]
    etags = {}
    for path in paths:  # build, render and record the token's use before counting
        first = client.get(path, headers=reader)
        assert first.status_code == 200, first.json
        etags[path] = first.headers["ETag"]
    before = _built_and_rendered()
    assert before[0] >= 1 and before[1] >= len(paths)
    for path in paths:
        for headers, status in ((reader, 200), ({**reader, "If-None-Match": etags[path]}, 304)):
            with statements_sent(db_of(app).engine) as statements:
                resp = client.get(path, headers=headers)
            assert resp.status_code == status, (path, resp.status_code)
            assert resp.headers["ETag"] == etags[path]
            assert resp.headers["X-Virtapi-Document"] and resp.headers["X-Virtapi-Report"]
            sent = [" ".join(q.split()) for q in statements if not q.startswith("BEGIN")]
            assert len(sent) == 1, (path, status, sent)
            assert "FROM data_version" in sent[0] and "api_token" in sent[0], sent
    assert _built_and_rendered() == before
    # A change to the node is seen by that same statement: one build, one render, new ETag.
    op = H(api_tokens.operator)
    node = client.get(f"/api/v1/nodes?fqdn={hv}", headers=op).json["results"][0]
    patched = client.patch(f"/api/v1/nodes/{node['id']}", json={"location": "dc1 rack 9"},
                           headers=op)  # fmt: skip
    assert patched.status_code == 200, patched.json
    changed = client.get(paths[0], headers={**reader, "If-None-Match": etags[paths[0]]})
    assert changed.status_code == 200 and changed.headers["ETag"] != etags[paths[0]]
    assert _built_and_rendered() == (before[0] + 1, before[1] + 1)
