"""The document hash on ENC/Hiera/pillar, applied_document in reports, drift API and page."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import Tokens
from tests.web.test_views import login
from virtapi.db import Database
from virtapi.models import Vm
from virtapi.services import json_patch
from virtapi.services.node_document import build_node_document, document_hash

HV = "hv01.dc1.example.com"
VM = "web1.c1001.example.net"
HEADER = "X-Virtapi-Document"
REPORT = "X-Virtapi-Report"


@pytest.fixture
def reader(api_tokens: Tokens, demo: Any) -> dict[str, str]:
    return api_tokens.header(api_tokens.reader)


def _document(db: Database, certname: str) -> dict[str, Any]:
    with db.session() as s:
        document = build_node_document(s, certname)
    assert document is not None
    return document


def _hashes(client: Any, reader: dict[str, str], certname: str) -> set[str]:
    paths = [f"/enc/{certname}", f"/hiera/{certname}", f"/pillar/{certname}"]
    paths.append(f"/hiera/{certname}/virtapi::roles")
    answers = [client.get(p, headers=reader) for p in paths]
    assert all(a.status_code == 200 for a in answers), [a.status_code for a in answers]
    return {a.headers[HEADER] for a in answers}


def test_one_document_hash_for_enc_hiera_and_pillar(
    app: Any, client: Any, api_tokens: Tokens, reader: dict[str, str]
) -> None:
    db: Database = app.extensions["virtapi.db"]
    (first,) = _hashes(client, reader, HV)
    assert first == document_hash(_document(db, HV))
    # A 304 carries it too.
    etag = client.get(f"/enc/{HV}", headers=reader).headers["ETag"]
    again = client.get(f"/enc/{HV}", headers={**reader, "If-None-Match": etag})
    assert again.status_code == 304 and again.headers[HEADER] == first
    operator = api_tokens.header(api_tokens.operator)
    client.post(f"/api/v1/nodes/{HV}/report", json={"facts": {"x": 1}}, headers=operator)
    assert _hashes(client, reader, HV) == {first}  # a heartbeat changes no document
    with db.session() as s:
        s.execute(select(Vm).where(Vm.hostname == VM)).scalar_one().cores += 1
    (second,) = _hashes(client, reader, HV)
    assert second != first


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(6 if depth < 3 else 3)
    if kind == 0:
        return rng.randint(0, 3)
    if kind == 1:
        return rng.choice(["a", "b/c", "d~e", None, True])
    if kind == 2:
        return rng.random() < 0.5
    if kind in (3, 4):
        return {rng.choice("abc/~"): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]


def test_json_patch_turns_one_document_into_the_other() -> None:
    rng = random.Random(12)
    for _ in range(500):
        a, b = _random_json(rng), _random_json(rng)
        patch = json_patch.diff(a, b)
        assert json_patch.apply(a, patch) == b
        assert json_patch.diff(a, a) == []


def test_drift_appears_on_change_and_clears_when_applied(
    app: Any, client: Any, api_tokens: Tokens, reader: dict[str, str]
) -> None:
    db: Database = app.extensions["virtapi.db"]
    applied_doc = _document(db, HV)
    (applied,) = _hashes(client, reader, HV)
    report = client.post(
        f"/api/v1/nodes/{HV}/report", json={"applied_document": applied}, headers=reader
    )
    assert report.status_code == 200, report.get_json()
    drift = client.get("/api/v1/drift", headers=reader).get_json()
    assert HV not in {d["certname"] for d in drift["documents"]}

    with db.session() as s:
        s.execute(select(Vm).where(Vm.hostname == VM)).scalar_one().cores += 1
    drift = client.get("/api/v1/drift", headers=reader).get_json()
    (entry,) = [d for d in drift["documents"] if d["certname"] == HV]
    current = _document(db, HV)
    assert entry["applied"] == applied and entry["current"] == document_hash(current)
    assert json_patch.apply(applied_doc, entry["patch"]) == current
    assert entry["since"] >= entry["applied_at"]

    (now,) = _hashes(client, reader, HV)
    client.post(f"/api/v1/nodes/{HV}/report", json={"applied_document": now}, headers=reader)
    drift = client.get("/api/v1/drift", headers=reader).get_json()
    assert HV not in {d["certname"] for d in drift["documents"]}


def test_vm_reports_applied_and_state_drift(
    app: Any, client: Any, api_tokens: Tokens, reader: dict[str, str]
) -> None:
    db: Database = app.extensions["virtapi.db"]
    with db.session() as s:
        vm_uuid = s.execute(select(Vm.uuid).where(Vm.hostname == VM)).scalar_one()
    (applied,) = _hashes(client, reader, VM)
    stale = "0" * 64
    answer = client.post(
        f"/api/v1/vms/{vm_uuid}/report",
        json={"state": "running", "applied_document": stale},
        headers=reader,
    )
    assert answer.status_code == 200, answer.get_json()
    drift = client.get("/api/v1/drift", headers=reader).get_json()
    (entry,) = [d for d in drift["documents"] if d["certname"] == VM]
    assert entry["current"] == applied and entry["patch"] is None  # never served: unknown
    operator = api_tokens.header(api_tokens.operator)
    assert client.post(f"/api/v1/vms/{vm_uuid}/stop", headers=operator).status_code == 202
    states = client.get("/api/v1/drift", headers=reader).get_json()["vm_states"]
    assert {"hostname": VM, "requested_state": "stopped", "actual_state": "running"} in [
        {k: v for k, v in s.items() if k != "since"} for s in states
    ]
    bad = client.post(
        f"/api/v1/vms/{vm_uuid}/report",
        json={"state": "running", "applied_document": "nope"},
        headers=reader,
    )
    assert bad.status_code == 422 and "X-Virtapi-Document" in bad.get_json()["message"]


def test_every_answer_names_where_its_hash_is_reported(
    app: Any, client: Any, reader: dict[str, str]
) -> None:
    """ENC, Hiera and pillar clients know a certname, not a VM's uuid: the answer says
    where to report, and a VM's report takes applied_document alone (no state)."""
    db: Database = app.extensions["virtapi.db"]
    with db.session() as s:
        vm_uuid, actual = s.execute(
            select(Vm.uuid, Vm.actual_state_id).where(Vm.hostname == VM)
        ).one()
    for certname, path in (
        (HV, f"/api/v1/nodes/{HV}/report"),
        (VM, f"/api/v1/vms/{vm_uuid}/report"),
    ):
        for view in ("enc", "hiera", "pillar"):
            assert client.get(f"/{view}/{certname}", headers=reader).headers[REPORT] == path
    (current,) = _hashes(client, reader, VM)
    answer = client.post(
        f"/api/v1/vms/{vm_uuid}/report", json={"applied_document": current}, headers=reader
    )
    assert answer.status_code == 200, answer.get_json()
    drift = client.get("/api/v1/drift", headers=reader).get_json()["documents"]
    assert VM not in {d["certname"] for d in drift}
    with db.session() as s:  # the VM's state is left as it was
        assert s.execute(select(Vm.actual_state_id).where(Vm.uuid == vm_uuid)).scalar() == actual
    empty = client.post(f"/api/v1/vms/{vm_uuid}/report", json={}, headers=reader)
    assert empty.status_code == 422 and "applied_document" in str(empty.get_json()), empty.json


def test_drift_roles_and_page(app: Any, client: Any, api_tokens: Tokens, demo: Any) -> None:
    customer = api_tokens.header(api_tokens.customer_a)
    assert client.get("/api/v1/drift", headers=customer).status_code == 403
    reader = api_tokens.header(api_tokens.reader)
    (applied,) = _hashes(client, reader, HV)
    client.post(f"/api/v1/nodes/{HV}/report", json={"applied_document": "1" * 64}, headers=reader)
    staff = app.test_client()
    login(staff, api_tokens.operator)
    html = staff.get("/drift?state=drifted")
    assert html.status_code == 200 and HV in html.text and "1" * 12 in html.text
    host = staff.get(f"/drift/{HV}")  # the host's own page: current hash and why
    assert host.status_code == 200 and applied in host.text and "no longer known" in host.text
    assert staff.get("/drift/nope.example.com").status_code == 404
    outsider = app.test_client()
    login(outsider, api_tokens.customer_a)
    assert outsider.get("/drift").status_code == 403
    assert outsider.get(f"/drift/{HV}").status_code == 403


def test_overdue_backups_in_drift_api_and_page(
    app: Any, client: Any, api_tokens: Tokens, demo: Any
) -> None:
    from datetime import UTC, datetime

    from virtapi.models import BackupSchedule

    op, reader = api_tokens.header(api_tokens.operator), api_tokens.header(api_tokens.reader)
    store = {"name": "nfs1", "kind": "path", "target": "/srv/backups"}
    assert client.post("/api/v1/backup-stores", json=store, headers=op).status_code == 201
    web1 = client.get(f"/api/v1/vms?hostname={VM}", headers=op).json["results"][0]["id"]
    body = {"vm_id": web1, "store": "nfs1", "on_calendar": "Sun 04:00", "retention": 2}
    sid = client.post("/api/v1/backup-schedules", json=body, headers=op).json["id"]
    assert client.get("/api/v1/drift", headers=reader).json["backups"] == []
    db: Database = app.extensions["virtapi.db"]
    with db.session() as s:  # as if made long ago and never run since
        row = s.get(BackupSchedule, sid)
        assert row is not None
        row.created_at = datetime(2020, 1, 1, tzinfo=UTC)
        s.commit()
    (overdue,) = client.get("/api/v1/drift", headers=reader).json["backups"]
    assert overdue["schedule_id"] == sid and overdue["hostname"] == VM
    assert overdue["last_success_at"] is None and overdue["store"] == "nfs1"
    assert overdue["due_at"].startswith("2020-01-05T04:00:00")
    assert client.get(f"/api/v1/backup-schedules/{sid}", headers=op).json["overdue"] is True
    staff = app.test_client()
    login(staff, api_tokens.operator)
    html = staff.get("/drift").text
    assert "drift-backups" in html and "Sun 04:00" in html and f"#{sid}" in html
    # One backups table, in the page body (a copy once sat inside <title>).
    assert html.count("drift-backups") == 1 and "<table" not in html.split("</title>")[0]
