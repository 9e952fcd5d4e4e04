"""The drift list (issue 14): every node and VM with its state, sorted, filtered and paged in
SQL; the /drift page and GET /api/v1/drift give the same answers (services.drift.host_drift)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from tests.support.queries import statements_per_path
from tests.web import test_views as test_web
from tests.web.test_lists import _column
from tests.web.test_views import page
from virtapi.db import Database
from virtapi.models import AppliedDocument, Node, NodeState, Vm
from virtapi.models.base import utcnow
from virtapi.services import drift

signed_in = test_web.signed_in

HV1, HV2, HV3 = (f"hv0{n}.dc1.example.com" for n in (1, 2, 3))
VM = "web1.c1001.example.net"
HEADER = "X-Virtapi-Document"


@pytest.fixture
def reader(api_tokens: Any, demo: Any) -> dict[str, str]:
    return api_tokens.header(api_tokens.reader)


def _report(client: Any, reader: dict[str, str], certname: str, applied: str | None = None) -> None:
    """``certname`` reports the document it is served now (or ``applied``)."""
    applied = applied or client.get(f"/enc/{certname}", headers=reader).headers[HEADER]
    if certname.startswith("hv"):
        path = f"/api/v1/nodes/{certname}/report"
    else:
        uuid = client.get(f"/api/v1/vms?hostname={certname}", headers=reader).json["results"]
        path = f"/api/v1/vms/{uuid[0]['uuid']}/report"
    answer = client.post(path, json={"applied_document": applied}, headers=reader)
    assert answer.status_code == 200, answer.get_json()


def _hosts(client: Any, reader: dict[str, str], query: str = "") -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/drift?limit=1000&{query}", headers=reader)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()["hosts"]
    assert body["count"] == len(body["results"])
    return body["results"]


def _states(client: Any, reader: dict[str, str]) -> dict[str, str]:
    return {h["certname"]: h["state"] for h in _hosts(client, reader)}


def test_states_follow_reports_writes_and_silence(
    app: Any, client: Any, reader: dict[str, str]
) -> None:
    db: Database = app.extensions["virtapi.db"]
    with db.session() as s:
        fleet = set(s.scalars(select(Node.fqdn))) | set(s.scalars(select(Vm.hostname)))
    states = _states(client, reader)
    assert set(states) == fleet and set(states.values()) == {drift.NEVER}

    _report(client, reader, HV1)
    _report(client, reader, HV2, "1" * 64)  # not what it is served: drifted at once
    _report(client, reader, VM)
    states = _states(client, reader)
    assert (states[HV1], states[HV2], states[VM]) == (drift.IN_SYNC, drift.DRIFTED, drift.IN_SYNC)

    # A write that changes hv01's document (one of its VMs) drifts hv01 and the VM, not hv03.
    _report(client, reader, HV3)
    with db.session() as s:
        s.execute(select(Vm).where(Vm.hostname == VM)).scalar_one().cores += 1
    states = _states(client, reader)
    assert (states[HV1], states[VM], states[HV3]) == (drift.DRIFTED, drift.DRIFTED, drift.IN_SYNC)
    (hv1,) = [h for h in _hosts(client, reader) if h["certname"] == HV1]
    assert hv1["since"] >= hv1["reported_at"]
    # The API's detailed list names the same hosts, with the hash it is served now.
    documents = client.get("/api/v1/drift", headers=reader).get_json()["documents"]
    assert {HV1, HV2, VM} <= {d["certname"] for d in documents}

    # Applying the new document brings it back; silence for two hours makes it stale.
    _report(client, reader, HV1)
    assert _states(client, reader)[HV1] == drift.IN_SYNC
    with db.session() as s:
        s.execute(
            update(AppliedDocument)
            .where(AppliedDocument.certname == HV3)
            .values(reported_at=utcnow() - drift.STALE_AFTER - timedelta(minutes=1))
        )
    assert _states(client, reader)[HV3] == drift.STALE


def test_page_and_api_sort_filter_and_page_alike(
    client: Any, reader: dict[str, str], signed_in: Any
) -> None:
    _report(client, reader, HV1)
    _report(client, reader, HV2, "2" * 64)
    _report(client, reader, VM)
    staff = signed_in("operator")
    queries = ("", "state=drifted", "state=never+reported", "kind=vm", "kind=node&state=in+sync")
    for query in queries:
        for column in drift.SORTS:
            for sort in (column, f"-{column}"):
                api = [h["certname"] for h in _hosts(client, reader, f"{query}&sort={sort}")]
                html = page(staff, f"/drift?{query}&sort={sort}")
                assert _column(html, 0) == api, (query, sort)
                values = [h[column] for h in _hosts(client, reader, f"{query}&sort={sort}")]
                known = [v for v in values if v is not None]  # never reported: last
                assert known == sorted(known, reverse=sort.startswith("-")), (query, sort)
                assert values == known + [None] * (len(values) - len(known))
    kinds = {h["kind"] for h in _hosts(client, reader, "kind=vm")}
    assert kinds == {"vm"}
    assert [h["certname"] for h in _hosts(client, reader, "state=drifted")] == [HV2]
    # Pages: the second page starts where the first ended.
    everything = [h["certname"] for h in _hosts(client, reader, "sort=certname")]
    first = client.get("/api/v1/drift?sort=certname&limit=3", headers=reader).json["hosts"]
    second = client.get("/api/v1/drift?sort=certname&limit=3&offset=3", headers=reader).json
    assert first["results"] and first["count"] == len(everything)
    assert [h["certname"] for h in first["results"] + second["hosts"]["results"]] == everything[:6]
    # Bad input: 422 in the API, 400 on the page, each naming what to send.
    bad = client.get("/api/v1/drift?state=late", headers=reader)
    assert bad.status_code == 422 and "state" in str(bad.get_json())
    assert client.get("/api/v1/drift?sort=hash", headers=reader).status_code == 422
    assert "in sync" in page(staff, "/drift?state=late", 400)
    assert "sort by one of" in page(staff, "/drift?sort=-hash", 400)


def _grow_fleet(db: Database, first: int, count: int) -> None:
    """``count`` more nodes, a third never reported, a third drifted, a third in sync."""
    now = utcnow()
    with db.session() as s:
        state = s.scalar(select(NodeState.id).where(NodeState.name == "running"))
        names = [f"n{first + i:04d}.bulk.example" for i in range(count)]
        s.execute(insert(Node), [{"fqdn": n, "node_state_id": state} for n in names])
        reports = [
            {"certname": n, "hash": "3" * 64, "reported_at": now, "synced_version": i % 2 or None}
            for i, n in enumerate(names)
            if i % 3
        ]
        s.execute(insert(AppliedDocument), reports)


def test_drift_page_costs_the_same_statements_at_any_fleet_size(app: Any, signed_in: Any) -> None:
    db: Database = app.extensions["virtapi.db"]
    staff = signed_in("operator")
    paths = ["/drift", "/drift?state=drifted&sort=-reported_at&page=2"]
    paths += ["/drift?kind=node&sort=state"]
    paths += ["/drift?state=in+sync&sort=applied", f"/drift/{HV1}"]
    page(staff, "/drift")  # let the token's last-use stamp settle before counting

    def measure() -> dict[str, int]:
        return statements_per_path(db.engine, lambda path: page(staff, path), paths)

    _grow_fleet(db, 0, 150)
    before = measure()
    _grow_fleet(db, 150, 300)  # 450 bulk nodes, ~300 of them reporting
    after = measure()
    assert after == before and max(after.values()) < 20, (before, after)
    html = page(staff, "/drift?kind=node&sort=certname&page=2")
    assert "page 2 of" in html and f"{150 + 300 + 6} host" in html.replace("\u202f", "")


def test_signing_in_changes_no_document(app: Any, signed_in: Any) -> None:
    """A browser session's rows are no inventory: signing in (which deletes expired sessions
    with a plain DELETE) once recorded ``*``, every document changed, which emptied every
    cache, woke every feed follower and drifted the whole fleet."""
    from virtapi.models import Change, ChangeNode

    db: Database = app.extensions["virtapi.db"]
    with db.session() as s:
        before = s.scalar(select(func.count()).select_from(ChangeNode))
    signed_in("operator")
    signed_in("customer_a")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ChangeNode)) == before
        # Nor is a session a change: its row holds the hash of the cookie's id.
        logged = select(func.count()).where(Change.object_type == "web_session")
        assert s.scalar(logged) == 0
