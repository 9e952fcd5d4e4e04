"""?dry_run=true: the same code, rolled back, with a JSON Patch per affected document."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import Tokens
from virtapi.db import Database
from virtapi.models import Change, DataVersion, Vm
from virtapi.services import json_patch
from virtapi.services.node_document import build_node_document

HV = "hv01.dc1.example.com"
VM = "web1.c1001.example.net"  # customer 1001 (A), on hv01


@pytest.fixture
def operator(api_tokens: Tokens, demo: Any) -> dict[str, str]:
    return api_tokens.header(api_tokens.operator)


def _state(db: Database) -> tuple[int, int, int]:
    with db.session() as s:
        return (
            s.execute(select(func.count(Change.id))).scalar_one(),
            s.execute(select(DataVersion.version)).scalar_one(),
            s.execute(select(Vm.cores).where(Vm.hostname == VM)).scalar_one(),
        )


def _documents(db: Database, *names: str) -> dict[str, Any]:
    with db.session() as s:
        return {n: build_node_document(s, n) for n in names}


def _vm(db: Database) -> Vm:
    with db.session() as s:
        return s.execute(select(Vm).where(Vm.hostname == VM)).scalar_one()


def test_dry_run_previews_exactly_what_the_real_call_does(
    app: Any, client: Any, api_tokens: Tokens, operator: dict[str, str]
) -> None:
    db: Database = app.extensions["virtapi.db"]
    reader = api_tokens.header(api_tokens.reader)
    vm = _vm(db)
    cursor = client.get("/api/v1/feed", headers=reader).get_json()["cursor"]
    enc_before = client.get(f"/enc/{HV}", headers=reader)
    before_docs = _documents(db, HV, VM)
    state = _state(db)

    body = {"cores": vm.cores + 1}
    dry = client.patch(f"/api/v1/vms/{vm.id}?dry_run=true", json=body, headers=operator)
    assert dry.status_code == 200, dry.get_json()
    preview = dry.get_json()
    assert preview["dry_run"] is True and preview["status"] == 200
    assert preview["result"]["cores"] == vm.cores + 1
    assert preview["affected"] == sorted({HV, VM})
    assert set(preview["documents"]) == {HV, VM}

    # Nothing persisted: no change row, no version step, no feed entry, no cache change.
    assert _state(db) == state
    assert client.get(f"/api/v1/feed?since={cursor}", headers=reader).get_json()["nodes"] == []
    assert client.get(f"/enc/{HV}", headers=reader).data == enc_before.data

    real = client.patch(f"/api/v1/vms/{vm.id}", json=body, headers=operator)
    assert real.status_code == preview["status"]
    assert real.get_json() == {**preview["result"], "updated_at": real.get_json()["updated_at"]}
    after_docs = _documents(db, HV, VM)
    for name, patch in preview["documents"].items():
        assert json_patch.apply(before_docs[name], patch) == after_docs[name]


def test_errors_answer_as_the_real_call_would(
    app: Any, client: Any, operator: dict[str, str]
) -> None:
    vm = _vm(app.extensions["virtapi.db"])
    for body in ({"cores": 0}, {"ram": "lots"}):
        dry = client.patch(f"/api/v1/vms/{vm.id}?dry_run=true", json=body, headers=operator)
        real = client.patch(f"/api/v1/vms/{vm.id}", json=body, headers=operator)
        assert dry.status_code == real.status_code == 422
        assert dry.get_json() == real.get_json()
    assert (
        client.patch("/api/v1/vms/999999?dry_run=1", json={}, headers=operator).status_code == 404
    )
    bad = client.patch(f"/api/v1/vms/{vm.id}?dry_run=maybe", json={}, headers=operator)
    assert bad.status_code == 422 and "dry_run" in bad.get_json()["message"]


def test_actions_and_deletes_preview_their_status(
    app: Any, client: Any, operator: dict[str, str]
) -> None:
    db: Database = app.extensions["virtapi.db"]
    vm = _vm(db)
    state = _state(db)
    stop = client.post(f"/api/v1/vms/{vm.uuid}/stop?dry_run=true", headers=operator)
    assert stop.status_code == 200
    preview = stop.get_json()
    assert preview["status"] == 202 and preview["result"]["requested_state"] == "stopped"
    ops = preview["documents"][VM]
    assert {"op": "replace", "path": "/vm/requested_state", "value": "stopped"} in ops
    delete = client.delete(f"/api/v1/vms/{vm.id}?dry_run=true", headers=operator)
    assert delete.status_code == 200, delete.get_json()
    assert delete.get_json()["status"] in (202, 204)
    assert _state(db) == state and _vm(db).requested_state_id == vm.requested_state_id


def test_customers_see_only_their_own_vms_patches(
    app: Any, client: Any, api_tokens: Tokens, demo: Any
) -> None:
    customer = api_tokens.header(api_tokens.customer_a)
    vm = _vm(app.extensions["virtapi.db"])
    dry = client.post(f"/api/v1/vms/{vm.uuid}/stop?dry_run=true", headers=customer)
    assert dry.status_code == 200, dry.get_json()
    preview = dry.get_json()
    assert HV in preview["affected"] and VM in preview["affected"]
    assert set(preview["documents"]) == {VM}  # the hypervisor lists other customers' VMs
    other = api_tokens.header(api_tokens.customer_b)
    hidden = client.post(f"/api/v1/vms/{vm.uuid}/stop?dry_run=true", headers=other)
    assert hidden.status_code == 404
