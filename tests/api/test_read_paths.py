"""REST reads: constant statements for one object and a page of 100 VMs; keyset pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from tests.api.helpers import H, db_of
from tests.services.test_node_document import make_fleet
from tests.support.apps import make_app
from tests.support.queries import statements_sent
from virtapi.models import Vm
from virtapi.services.audit import set_actor


def _fleet(app: Any, n_vms: int) -> list[int]:
    with db_of(app).sessionmaker() as session:
        set_actor(session, None, "test")
        make_fleet(session, n_vms)
        return list(session.scalars(select(Vm.id).order_by(Vm.id)))


def _statements(app: Any, client: Any, url: str, headers: dict[str, str]) -> tuple[int, Any]:
    with statements_sent(db_of(app).engine) as statements:
        resp = client.get(url, headers=headers)
    assert resp.status_code == 200, resp.json
    return len(statements), resp.json


def _missing(app: Any, client: Any, headers: dict[str, str]) -> int:
    """Statements of a GET that finds nothing: authentication and one look-up."""
    with statements_sent(db_of(app).engine) as statements:
        resp = client.get("/api/v1/vms/999999999", headers=headers)
    assert resp.status_code == 404, resp.json
    return len(statements)


def test_page_of_100_vms_costs_what_a_page_of_one_does(
    app: Any, client: Any, api_tokens: Any
) -> None:
    _fleet(app, 100)
    reader = H(api_tokens.reader)
    client.get("/api/v1/whoami", headers=reader)  # token last use recorded outside the count
    one, _ = _statements(app, client, "/api/v1/vms?limit=1", reader)
    hundred, page = _statements(app, client, "/api/v1/vms?limit=100", reader)
    keyset, _ = _statements(app, client, "/api/v1/vms?limit=100&after=0", reader)
    assert len(page["results"]) == 100
    assert all(len(vm["interfaces"]) == 2 for vm in page["results"][:100])
    assert hundred == one == keyset, (one, hundred, keyset)


def test_get_one_vm_costs_the_same_whatever_hangs_off_it(
    app: Any, client: Any, api_tokens: Any
) -> None:
    vm = _fleet(app, 1)[0]
    reader, operator = H(api_tokens.reader), H(api_tokens.operator)
    client.get("/api/v1/whoami", headers=reader)
    before, body = _statements(app, client, f"/api/v1/vms/{vm}", reader)
    for _ in range(3):
        resp = client.post("/api/v1/vm-interfaces", json={"vm_id": vm}, headers=operator)
        assert resp.status_code == 201, resp.json
    after, grown = _statements(app, client, f"/api/v1/vms/{vm}", reader)
    assert len(grown["interfaces"]) == len(body["interfaces"]) + 3
    assert after == before
    if db_of(app).engine.dialect.name == "postgresql":
        # One statement per object: what a GET of a VM that does not exist costs.
        assert after == _missing(app, client, reader), after


def test_get_one_node_is_one_statement_on_postgresql(
    app: Any, client: Any, api_tokens: Any
) -> None:
    _fleet(app, 2)
    reader = H(api_tokens.reader)
    client.get("/api/v1/whoami", headers=reader)
    node = client.get("/api/v1/nodes?fqdn=hv-a.test", headers=reader).json["results"][0]
    assert node["interfaces"], node
    count, body = _statements(app, client, f"/api/v1/nodes/{node['id']}", reader)
    assert body == node
    if db_of(app).engine.dialect.name == "postgresql":
        assert count == _missing(app, client, reader), count


def test_keyset_pages_walk_the_whole_list_once(app: Any, client: Any, api_tokens: Any) -> None:
    ids = _fleet(app, 7)
    reader = H(api_tokens.reader)
    seen: list[int] = []
    url: str | None = "/api/v1/vms?limit=3&after=0"
    while url:
        page = client.get(url, headers=reader).json
        assert page["count"] == len(ids) and page["previous"] is None
        seen += [vm["id"] for vm in page["results"]]
        url = page["next"]
        if url:
            query = parse_qs(urlsplit(url).query)
            assert query["after"] == [str(seen[-1])] and "offset" not in query
    assert seen == ids
    # A filter survives into the next link.
    page = client.get("/api/v1/vms?limit=1&after=0&customer_id=1", headers=reader).json
    assert "customer_id=1" in page["next"]


def test_after_with_offset_skips_past_the_key(app: Any, client: Any, api_tokens: Any) -> None:
    ids = _fleet(app, 7)
    reader = H(api_tokens.reader)
    page = client.get(f"/api/v1/vms?after={ids[1]}&offset=2&limit=2", headers=reader).json
    assert [vm["id"] for vm in page["results"]] == ids[4:6]
    # The walk goes on by key from there, without the offset.
    query = parse_qs(urlsplit(page["next"]).query)
    assert query["after"] == [str(ids[5])] and "offset" not in query


def test_after_is_in_the_openapi_document(client: Any) -> None:
    spec = client.get("/api/v1/openapi.json").json
    params = spec["paths"]["/api/v1/nodes"]["get"]["parameters"]
    after = next(p for p in params if p["name"] == "after")
    assert after["in"] == "query" and "keyset" in after["description"]


def test_a_get_keeps_its_statement_prepared_on_postgresql(
    app: Any, api_tokens: Any, tmp_path: Path
) -> None:
    if db_of(app).engine.dialect.name != "postgresql":
        pytest.skip("server-side prepared statements: PostgreSQL only")
    vm = _fleet(app, 1)[0]
    # psycopg 3 prepares (psycopg2 never does): the suite's URLs name psycopg 3, as production.
    url = db_of(app).engine.url.set(drivername="postgresql+psycopg")
    served = make_app(url.render_as_string(hide_password=False), tmp_path / "psycopg")
    try:
        engine, client = db_of(served).engine, served.test_client()
        # psycopg prepares at the 5th execution on a connection; the pool hands its idle
        # connections out in turn, so each gets at least six GETs.
        for _ in range(6 * max(engine.pool.checkedin(), 1)):
            resp = client.get(f"/api/v1/vms/{vm}", headers=H(api_tokens.reader))
            assert resp.status_code == 200, resp.json
        with engine.connect() as conn:
            prepared = conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements")
            statements = list(prepared.scalars())
    finally:
        db_of(served).dispose()
    # A read ended by ROLLBACK made psycopg forget it: PostgreSQL planned it every time.
    assert any("json_agg" in text for text in statements), statements
