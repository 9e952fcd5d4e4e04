"""The data version and the per-process node-document cache behind ENC, Hiera and pillar."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.conftest import Tokens
from tests.support.apps import make_app
from tests.support.queries import statements_sent
from virtapi.db import Database
from virtapi.models import CephPool, Vm
from virtapi.services.audit import data_version
from virtapi.services.change_feed import Changes
from virtapi.services.document_cache import DocumentCache

HV = "hv01.dc1.example.com"
OTHER_HV = "hv03.dc1.example.com"
VM = "web1.c1001.example.net"
PATHS = [f"/enc/{HV}", f"/hiera/{HV}", f"/pillar/{HV}"]


def _version(session: Session) -> int:
    version = data_version(session)
    session.rollback()
    assert version is not None
    return version


# --- the data version ---------------------------------------------------------------------------


def test_version_rises_once_per_committed_writing_transaction(session: Session) -> None:
    start = _version(session)

    # Several flushes and objects in one transaction: one step.
    session.add(CephPool(name="one"))
    session.flush()
    session.add(CephPool(name="two"))
    session.flush()
    pool = session.execute(select(CephPool).where(CephPool.name == "one")).scalar_one()
    pool.description = "changed"
    session.commit()
    assert _version(session) == start + 1

    # Reading, and committing a transaction that only read: no step.
    session.execute(select(CephPool)).all()
    session.commit()
    session.commit()  # an empty transaction
    assert _version(session) == start + 1

    # A write rolled back never happened.
    session.add(CephPool(name="three"))
    session.flush()
    session.rollback()
    assert _version(session) == start + 1

    # An UPDATE statement bypasses the flush and the change log, but not the version.
    session.execute(update(CephPool).where(CephPool.name == "two").values(description="x"))
    session.commit()
    assert _version(session) == start + 2

    # A savepoint inside the transaction: still one step, when the outer one commits.
    session.add(CephPool(name="four"))
    with session.begin_nested():
        session.add(CephPool(name="five"))
    assert data_version(session) == start + 2
    session.commit()
    assert _version(session) == start + 3


def test_authenticated_reads_do_not_raise_the_version(
    app: Any, client: Any, api_tokens: Tokens, demo: Any
) -> None:
    db: Database = app.extensions["virtapi.db"]
    with db.session() as s:
        before = _version(s)
    reader = api_tokens.header(api_tokens.reader)
    for path in [*PATHS, "/api/v1/vms", f"/enc/{OTHER_HV}"]:
        assert client.get(path, headers=reader).status_code == 200
    # A failed authentication writes its counter, but that is no inventory change either.
    assert client.get(PATHS[0], headers=api_tokens.header("va_wrong")).status_code == 401
    with db.session() as s:
        assert _version(s) == before


# --- the cache ----------------------------------------------------------------------------------


@pytest.fixture
def reader(api_tokens: Tokens, demo: Any) -> dict[str, str]:
    return api_tokens.header(api_tokens.reader)


@pytest.fixture
def second_app(db_url: str, tmp_path: Path, app: Any) -> Iterator[Any]:
    """Another app on the same database: what a second gunicorn worker is."""
    other = make_app(db_url, tmp_path)
    yield other
    other.extensions["virtapi.db"].dispose()


def test_a_change_shows_on_the_next_request_in_every_worker(
    app: Any, second_app: Any, reader: dict[str, str]
) -> None:
    clients = [app.test_client(), second_app.test_client()]
    before = {(i, p): c.get(p, headers=reader) for i, c in enumerate(clients) for p in PATHS}
    assert all(r.status_code == 200 for r in before.values())
    # Both workers now hold the document; each serves it again from its cache.
    for (i, path), response in before.items():
        again = clients[i].get(path, headers=reader)
        assert again.data == response.data and again.headers["ETag"] == response.headers["ETag"]
    other_etag = clients[0].get(f"/enc/{OTHER_HV}", headers=reader).headers["ETag"]

    # The change committed through one worker's database handle, read through both.
    with app.extensions["virtapi.db"].session() as s:
        vm = s.execute(select(Vm).where(Vm.hostname == VM)).scalar_one()
        old_cores, vm.cores = vm.cores, vm.cores + 1
        s.commit()
    for (i, path), response in before.items():
        etag = response.headers["ETag"]
        fresh = clients[i].get(path, headers={**reader, "If-None-Match": etag})
        assert fresh.status_code == 200, (i, path)
        assert fresh.headers["ETag"] != etag
        assert fresh.data != response.data
    enc = clients[1].get(f"/enc/{HV}", headers=reader).get_data(as_text=True)
    assert f"cores: {old_cores + 1}" in enc
    # A document the change did not touch stays cached: served without a build.
    with statements_sent(app.extensions["virtapi.db"].engine) as statements:
        unchanged = clients[0].get(f"/enc/{OTHER_HV}", headers=reader)
    assert unchanged.headers["ETag"] == other_etag
    assert not any("vm_interface" in q for q in statements), statements


def test_a_change_made_over_http_shows_on_the_next_request(
    client: Any, api_tokens: Tokens, reader: dict[str, str], second_app: Any
) -> None:
    other = second_app.test_client()
    operator = api_tokens.header(api_tokens.operator)
    first = other.get(f"/pillar/{HV}", headers=reader).get_json()
    vm = next(v for v in first["virtapi"]["hypervisor"]["vms"] if v["hostname"] == VM)
    listed = client.get(f"/api/v1/vms?hostname={VM}", headers=operator).get_json()["results"]
    vm_id = next(v["id"] for v in listed if v["hostname"] == VM)
    patched = client.patch(f"/api/v1/vms/{vm_id}", json={"ram": vm["ram"] * 2}, headers=operator)
    assert patched.status_code == 200, patched.get_json()
    after = other.get(f"/pillar/{HV}", headers=reader).get_json()
    vm_after = next(v for v in after["virtapi"]["hypervisor"]["vms"] if v["hostname"] == VM)
    assert vm_after["ram"] == vm["ram"] * 2


def test_cached_hit_and_304_cost_a_few_constant_queries(app: Any, reader: dict[str, str]) -> None:
    client = app.test_client()
    for path in PATHS:
        client.get(path, headers=reader)
    counts = []
    for certname in (HV, OTHER_HV):  # different sizes, both built once before
        client.get(f"/enc/{certname}", headers=reader)
        for path in (f"/enc/{certname}", f"/pillar/{certname}"):
            client.get(path, headers=reader)
            with statements_sent(app.extensions["virtapi.db"].engine) as statements:
                response = client.get(path, headers=reader)
            assert response.status_code == 200
            etag = response.headers["ETag"]
            with statements_sent(app.extensions["virtapi.db"].engine) as revalidation:
                not_modified = client.get(path, headers={**reader, "If-None-Match": etag})
            assert not_modified.status_code == 304
            for queries in (statements, revalidation):
                # Authentication and the version; nothing of the document.
                assert not any("vm_interface" in q or "FROM node " in q for q in queries), queries
                assert sum("data_version" in q for q in queries) == 1
                counts.append(len(queries))
    assert len(set(counts)) == 1 and counts[0] <= 6, counts


def test_unknown_certname_is_not_cached(app: Any, client: Any, reader: dict[str, str]) -> None:
    assert client.get("/enc/nope.example.com", headers=reader).status_code == 404
    assert client.get("/enc/nope.example.com", headers=reader).status_code == 404
    assert len(app.extensions["virtapi_document_cache"]) == 0


def test_cache_is_bounded_and_least_recently_used_goes_first() -> None:
    cache = DocumentCache(size=2)
    cache.sync(Changes(1, 0, frozenset()))
    cache.put("a", 1, {"n": "a"})
    cache.put("b", 1, {"n": "b"})
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", 1, {"n": "c"})
    assert len(cache) == 2
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None
    # Without a version nothing is stored.
    cache.put("d", None, {"n": "d"})
    assert cache.get("d") is None
    assert DocumentCache(size=0).put("x", 1, {}).document == {}


def test_sync_drops_only_the_named_certnames_and_vms_by_any_name() -> None:
    cache = DocumentCache()
    cache.sync(Changes(5, 0, frozenset()))
    cache.put("hv", 5, {"certname": "hv", "kind": "node"})
    cache.put("other", 5, {"certname": "other", "kind": "node"})
    vm_doc = {"certname": "0b6a…", "kind": "vm", "vm": {"hostname": "web1"}}
    cache.put("0b6a…", 5, vm_doc)  # asked for by uuid
    cache.sync(Changes(6, 0, frozenset({"hv", "web1"})))
    assert cache.get("hv") is None and cache.get("0b6a…") is None
    assert cache.get("other") is not None
    # An older sync (another thread read earlier) changes nothing.
    cache.sync(Changes(5, 0, frozenset({"other"})))
    assert cache.get("other") is not None
    # A document built at version 5 arrives after version 6 was applied: not stored.
    cache.put("late", 5, {"certname": "late"})
    assert cache.get("late") is None
    # "*" (unknown consequences) and a gap longer than the retention drop everything.
    cache.sync(Changes(7, 0, frozenset({"*"})))
    assert len(cache) == 0
    cache.put("other", 7, {"certname": "other"})
    cache.sync(Changes(20, 10, frozenset()))
    assert len(cache) == 0
