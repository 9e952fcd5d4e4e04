"""GET /api/v1/feed: certnames affected after a cursor, long-poll, resync, roles."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.conftest import Tokens
from virtapi.db import Database
from virtapi.models import DataVersion, Vm

HV = "hv01.dc1.example.com"
VM = "web1.c1001.example.net"
OTHER_VM = "app2.c1002.example.net"
OTHER_HV = "hv03.dc1.example.com"


@pytest.fixture
def reader(api_tokens: Tokens, demo: Any) -> dict[str, str]:
    return api_tokens.header(api_tokens.reader)


def _cursor(client: Any, reader: dict[str, str]) -> str:
    answer = client.get("/api/v1/feed", headers=reader)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["nodes"] == []
    return answer.get_json()["cursor"]


def _bump_cores(db: Database, hostname: str) -> None:
    with db.session() as s:
        vm = s.execute(select(Vm).where(Vm.hostname == hostname)).scalar_one()
        vm.cores += 1


def test_feed_names_what_changed_after_the_cursor_once(
    app: Any, client: Any, api_tokens: Tokens, reader: dict[str, str]
) -> None:
    db: Database = app.extensions["virtapi.db"]
    cursor = _cursor(client, reader)
    _bump_cores(db, VM)
    _bump_cores(db, VM)
    # A heartbeat and a VM state report change no document: not in the feed.
    operator = api_tokens.header(api_tokens.operator)
    beat = client.post(f"/api/v1/nodes/{OTHER_HV}/report", json={"facts": {}}, headers=operator)
    assert beat.status_code == 200
    answer = client.get(f"/api/v1/feed?since={cursor}", headers=reader).get_json()
    assert answer["nodes"] == sorted({VM, HV})  # deduplicated over both transactions
    assert int(answer["cursor"]) > int(cursor)
    again = client.get(f"/api/v1/feed?since={answer['cursor']}", headers=reader).get_json()
    assert again == {"cursor": answer["cursor"], "nodes": []}


def test_feed_roles_and_bad_cursors(
    app: Any, client: Any, api_tokens: Tokens, reader: dict[str, str]
) -> None:
    assert client.get("/api/v1/feed").status_code == 401
    customer = api_tokens.header(api_tokens.customer_a)
    assert client.get("/api/v1/feed", headers=customer).status_code == 403
    bad = client.get("/api/v1/feed?since=abc", headers=reader)
    assert bad.status_code == 422 and "cursor" in bad.get_json()["message"]
    assert client.get("/api/v1/feed?wait=61", headers=reader).status_code == 422
    cursor = int(_cursor(client, reader))
    # A cursor ahead of the head belongs to another database: resync too.
    ahead = client.get(f"/api/v1/feed?since={cursor + 5}", headers=reader)
    assert ahead.status_code == 410 and ahead.get_json()["code"] == "resync"
    db: Database = app.extensions["virtapi.db"]
    _bump_cores(db, VM)
    with db.session() as s:  # what pruning does once the feed's retention is exceeded
        s.execute(update(DataVersion).values(retained_from=cursor + 1))
    old = client.get(f"/api/v1/feed?since={cursor}", headers=reader)
    assert old.status_code == 410 and old.get_json()["code"] == "resync"
    assert client.get(f"/api/v1/feed?since={cursor + 1}", headers=reader).status_code == 200


def test_long_poll_returns_when_a_change_commits(
    app: Any, client: Any, reader: dict[str, str]
) -> None:
    db: Database = app.extensions["virtapi.db"]
    cursor = _cursor(client, reader)
    quiet = client.get(f"/api/v1/feed?since={cursor}&wait=0.6", headers=reader).get_json()
    assert quiet == {"cursor": cursor, "nodes": []}

    answers: list[Any] = []
    waiter = threading.Thread(
        target=lambda: answers.append(
            app.test_client().get(f"/api/v1/feed?since={cursor}&wait=30", headers=reader)
        )
    )
    waiter.start()
    time.sleep(0.3)
    _bump_cores(db, OTHER_VM)
    waiter.join(timeout=30)
    assert answers and answers[0].status_code == 200
    assert answers[0].get_json()["nodes"] == sorted({OTHER_VM, OTHER_HV})


def test_cursors_follow_commit_order(app: Any, reader: dict[str, str], db_url: str) -> None:
    """A transaction that drew its ids first but commits last is not skipped."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers: no interleaving to test")
    db: Database = app.extensions["virtapi.db"]
    client = app.test_client()
    cursor = _cursor(client, reader)
    slow = db.sessionmaker()
    vm = slow.execute(select(Vm).where(Vm.hostname == VM)).scalar_one()
    vm.cores += 1
    slow.flush()  # its change row (and id) exist; it has not committed
    _bump_cores(db, OTHER_VM)
    first = client.get(f"/api/v1/feed?since={cursor}", headers=reader).get_json()
    assert first["nodes"] == sorted({OTHER_VM, OTHER_HV})
    slow.commit()
    slow.close()
    second = client.get(f"/api/v1/feed?since={first['cursor']}", headers=reader).get_json()
    assert second["nodes"] == sorted({VM, HV})
