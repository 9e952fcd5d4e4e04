"""The token + changes statement of a cached ENC/Hiera/pillar hit, read through the driver."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from tests.support.queries import statements_sent
from virtapi.db import Database
from virtapi.models import ApiToken
from virtapi.services import tokens
from virtapi.services.change_feed import changes_since, changes_with
from virtapi.services.direct_read import read_direct

KEY = ApiToken.__table__.c.token_hash


def test_token_row_and_changes_read_as_the_orm_reads_them(database: Database) -> None:
    used = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with database.session() as s:
        row, plaintext = tokens.create_token(s, "reader", name="r", secrets_scope=True)
        s.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=used))
    with database.session() as s:
        expected = {c.name: getattr(s.get(ApiToken, row.id), c.name) for c in KEY.table.c}
        head = changes_since(s, None)
    with statements_sent(database.engine) as sent:
        changes, found = changes_with(
            database.engine, head.version, KEY, tokens.hash_token(plaintext)
        )
    # Listeners (statement metrics, the tests' counter) see the one statement.
    assert len(sent) == 1 and "FROM data_version" in sent[0]
    assert changes == head
    assert found is not None
    # Same values and types as the ORM's: aware UTC datetimes (SQLite drops the offset), bools.
    assert {c.name: getattr(found, c.name) for c in KEY.table.c} == expected
    assert found.last_used_at == used and found.last_used_at.tzinfo is not None
    assert found.secrets is True
    assert changes_with(database.engine, head.version, KEY, "0" * 64)[1] is None


def test_changes_after_a_write_are_seen(database: Database) -> None:
    with database.session() as s:
        before = changes_since(s, None).version
    with database.session() as s:
        s.execute(text("UPDATE data_version SET version = version + 1 WHERE id = 1"))
    changes, _ = changes_with(database.engine, before, KEY, "x")
    assert changes.version == before + 1


def test_a_database_error_is_a_dbapi_error_and_the_connection_goes_back(
    database: Database,
) -> None:
    with database.session() as s:
        tokens.create_token(s, "reader", name="kept")
    broken = select(text("no_such_column")).select_from(ApiToken)
    for _ in range(20):  # more than the pool holds: a leaked connection would time out
        with pytest.raises(DBAPIError):
            read_direct(database.engine, broken, {})  # type: ignore[arg-type]
    read_direct(database.engine, select(ApiToken.id), {})  # type: ignore[arg-type]
    # The connection went back in transaction mode: an ordinary transaction still rolls back.
    with database.engine.connect() as conn:
        conn.execute(update(ApiToken).values(name="changed"))
        conn.rollback()
    names = read_direct(database.engine, select(ApiToken.name), {})  # type: ignore[arg-type]
    assert [r.name for r in names] == ["kept"]
