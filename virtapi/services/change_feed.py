"""The change feed: which certnames committed transactions affected after a cursor.

A cursor is a data version (``data_version``). ``audit`` raises the version under its row
lock and writes the transaction's ``change_node`` rows with it, in the same transaction, so
versions follow commit order: a reader that sees version N sees every transaction up to N,
and a transaction committing later always gets a greater version (never skipped). One
statement reads the head, the retention floor and the certnames after a cursor, so a worker
learns what changed since it last looked for the price of one cheap query.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, Engine, Select, bindparam, null, select, union
from sqlalchemy.orm import Session

from ..models import ChangeNode, DataVersion, Node, Vm
from .affected import EVERYTHING
from .direct_read import read_direct
from .errors import Gone, InvalidInput


@dataclass(frozen=True)
class Changes:
    version: int | None  # None: no data_version row (not migrated): nothing is cacheable
    retained_from: int  # change_node holds the versions after this one
    certnames: frozenset[str]  # may hold EVERYTHING


_HEAD = select(DataVersion.version, DataVersion.retained_from).where(DataVersion.id == 1)


def changes_since(conn: Session | Connection, since: int | None) -> Changes:
    """The head version and the certnames changed by versions after `since` (none if
    `since` is None: the caller only wants the head)."""
    if since is None:
        row = conn.execute(_HEAD).one_or_none()
        return Changes(row[0], row[1], frozenset()) if row else Changes(None, 0, frozenset())
    rows = conn.execute(
        select(DataVersion.version, DataVersion.retained_from, ChangeNode.certname)
        .select_from(DataVersion)
        .outerjoin(ChangeNode, ChangeNode.version > since)
        .where(DataVersion.id == 1)
    ).all()
    if not rows:
        return Changes(None, 0, frozenset())
    return Changes(rows[0][0], rows[0][1], frozenset(r[2] for r in rows if r[2] is not None))


def changes_with(
    engine: Engine, since: int | None, key: Column[Any], value: Any
) -> tuple[Changes, Any | None]:
    """`changes_since`, and in the same statement the row of ``key``'s table where ``key``
    equals ``value`` (None if none): a config-management request learns who asks (its token)
    and what changed for one round trip, outside any transaction
    (services/direct_read.read_direct). The row has the table's columns as attributes.

    Without a data_version row (not migrated) nothing is read: (Changes(None, …), None)."""
    stmt = _changes_with_statement(key, since is not None)
    rows = read_direct(engine, stmt, {"feed_since": since, "feed_key": value})
    if not rows:
        return Changes(None, 0, frozenset()), None
    names = frozenset(r[2] for r in rows if r[2] is not None) if since is not None else frozenset()
    first = rows[0]
    found = getattr(first, key.table.primary_key.columns.values()[0].name) is not None
    return Changes(first[0], first[1], names), (first if found else None)


@functools.cache
def _changes_with_statement(key: Column[Any], with_changes: bool) -> Select[Any]:
    # Built once: this runs on every cached ENC/Hiera/pillar hit, where building the
    # statement cost more Python than the rest of the request.
    table = key.table
    stmt = select(
        DataVersion.version.label("feed_version"),
        DataVersion.retained_from.label("feed_retained_from"),
        (ChangeNode.certname if with_changes else null()).label("feed_certname"),
        *(c.label(c.name) for c in table.c),
    ).select_from(DataVersion)
    stmt = stmt.outerjoin(table, key == bindparam("feed_key"))
    if with_changes:
        stmt = stmt.outerjoin(ChangeNode, ChangeNode.version > bindparam("feed_since"))
    return stmt.where(DataVersion.id == 1)


def parse_cursor(cursor: str | None) -> int | None:
    """The version a feed cursor names; 422 for anything but a cursor the feed gave out."""
    if cursor is None or cursor == "":
        return None
    if not cursor.isdigit() or len(cursor) > 18:
        raise InvalidInput(
            "since must be a cursor returned by the feed; omit it to get the current one",
            errors={"since": ["not a cursor"]},
        )
    return int(cursor)


@dataclass(frozen=True)
class FeedPage:
    cursor: str
    nodes: list[str]
    behind: int  # versions between the client's cursor and the head


def read_feed(session: Session, since: int | None) -> FeedPage:
    """Certnames affected after `since`, sorted; 410 ``resync`` if the cursor is older than
    what is kept (or from another database: ahead of the head)."""
    changes = changes_since(session, since)
    head = changes.version or 0
    if since is None:
        return FeedPage(str(head), [], 0)
    if since < changes.retained_from or since > head:
        raise Gone(
            f"cursor {since} is older than the feed keeps (or unknown here): treat every "
            "node as changed, then continue from a fresh cursor (GET /api/v1/feed "
            "without since)",
        )
    names = set(changes.certnames)
    if EVERYTHING in names:
        names = _every_certname(session)
    return FeedPage(str(head), sorted(names), head - since)


def _every_certname(session: Session) -> set[str]:
    return set(session.execute(union(select(Node.fqdn), select(Vm.hostname))).scalars())
