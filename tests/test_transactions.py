"""A request's transaction ends with COMMIT when it only read, ROLLBACK when it wrote and the
view did not commit (virtapi/transactions.py, db._close_session)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select

from tests.api.helpers import H, db_of
from tests.support.apps import make_app
from virtapi.db import get_session
from virtapi.models import VirtMethod
from virtapi.services import bulk


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Any:
    """An app with views that leave their transaction open, added before its first request."""
    app = make_app(db_url, tmp_path / "instance")

    @app.get("/_t/read")
    def _read() -> str:
        return str(get_session().execute(select(func.count(VirtMethod.id))).scalar_one())

    @app.get("/_t/insert")
    def _insert() -> str:
        get_session().execute(insert(VirtMethod).values(name="by-core", description=""))
        return "ok"

    @app.get("/_t/pending")
    def _pending() -> str:
        get_session().add(VirtMethod(name="pending", description=""))
        return "ok"

    @app.get("/_t/bulk")
    def _bulk() -> str:
        bulk.insert_rows(
            get_session(), VirtMethod.__table__, [{"name": "by-copy", "description": ""}], ids=True
        )
        return "ok"

    ends: list[str] = []
    engine = db_of(app).engine
    event.listen(engine, "commit", lambda _conn: ends.append("commit"))
    event.listen(engine, "rollback", lambda _conn: ends.append("rollback"))
    app.ends = ends  # type: ignore[attr-defined]
    yield app
    db_of(app).dispose()


def _names(app: Any) -> set[str]:
    with db_of(app).sessionmaker() as session:
        return set(session.scalars(select(VirtMethod.name)))


def test_a_transaction_that_only_read_ends_with_commit(served: Any) -> None:
    resp = served.test_client().get("/_t/read")
    assert resp.status_code == 200
    assert served.ends == ["commit"]


@pytest.mark.parametrize("view", ["insert", "pending", "bulk"])
def test_what_a_view_wrote_and_did_not_commit_is_rolled_back(served: Any, view: str) -> None:
    before = _names(served)
    served.ends.clear()
    assert served.test_client().get(f"/_t/{view}").status_code == 200
    assert "commit" not in served.ends
    assert _names(served) == before


def test_a_rest_get_and_an_enc_answer_end_with_commit(app: Any, api_tokens: Any, demo: Any) -> None:
    ends: list[str] = []
    engine = db_of(app).engine
    event.listen(engine, "commit", lambda _conn: ends.append("commit"))
    event.listen(engine, "rollback", lambda _conn: ends.append("rollback"))
    client = app.test_client()
    assert client.get("/api/v1/vms?limit=5", headers=H(api_tokens.reader)).status_code == 200
    assert "commit" in ends and "rollback" not in ends
    ends.clear()
    resp = client.get("/enc/hv01.dc1.example.com", headers=H(api_tokens.reader))
    assert resp.status_code == 200, resp.data
    assert "commit" in ends and "rollback" not in ends
