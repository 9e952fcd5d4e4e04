"""The change log, written by a session hook so no code path can change data unrecorded.

Every flush adds one ``change`` row per created, updated or deleted object, in the same
transaction as the change itself. The actor comes from ``session.info["actor"]``.

Each row carries ``affected``: the certnames whose node document it alters
(services/affected.py). A transaction that recorded any change also raises the data version
(``data_version``) by one, just before it commits, and writes one ``change_node`` row per
affected certname with that version: the change feed and the per-node cache invalidation
read them. Heartbeats and reports (``REPORTED``) change no document: they are kept on the
object only, and record, raise and invalidate nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import netaddr
from sqlalchemy import Connection, delete, event, insert, inspect, select, update
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from ..models import (
    ApiToken,
    AppliedDocument,
    AuthFailure,
    Change,
    ChangeNode,
    DataVersion,
    Install,
    Ipv4Address,
    Ipv6Address,
    Ipv6RoutedPrefix,
    Snapshot,
    Storage,
    StorageCeph,
    Vm,
    VmInterface,
    WebSession,
)
from ..models.base import is_secret, utcnow
from .affected import EVERYTHING, Resolver, Touches, touches
from .bulk import RECORDED, insert_rows

# Never copied into the log: hashes of secrets are secrets too.
SECRET_COLUMNS = frozenset({"token_hash", "root_password_hash", "secret_hash"})
# What the log holds for a column marked secret (models.base.SECRET): whether it is set and
# that it changed, never the value, not even encrypted.
REDACTED = "<secret>"
REDACTED_NEW = "<new secret>"
ANONYMOUS = (None, "system")
# Bookkeeping, not inventory: recording it would only bury the real changes. Browser
# sessions among them: a sign-in's plain DELETE of expired sessions once marked every
# document changed (emptying every cache, waking every feed follower), and its INSERT put a
# session id's hash into the change log.
UNAUDITED = (Change, ChangeNode, AuthFailure, AppliedDocument, WebSession)
# What hosts report about themselves: the latest values stay on the object, but they are in
# no node document, so they are neither recorded nor a reason to rebuild one.
REPORTED = {
    "node": frozenset({"last_seen_at", "facts", "reported_state_id"}),
    "vm": frozenset({"actual_state_id", "reported_at"}),
}
_NOT_CHANGES = frozenset({"updated_at", "last_used_at"})
# change_node rows older than this many versions are pruned; older feed cursors resync.
FEED_RETENTION = 100_000
_PRUNE_EVERY = 1000


def set_actor(session: Session, token_id: int | None, name: str) -> None:
    session.info["actor"] = (token_id, name)


_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, netaddr.IPAddress | netaddr.EUI | uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def _columns(obj: Any, *, before: bool) -> dict[str, Any]:
    """Column values (and many-to-many member ids) as they were before or are after this flush."""
    state = inspect(obj)
    out: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        if attr.key in SECRET_COLUMNS:
            continue
        hist = state.attrs[attr.key].history
        value = hist.deleted[0] if before and hist.deleted else state.attrs[attr.key].value
        if any(is_secret(c) for c in attr.columns):
            changed = bool(hist.added) and bool(hist.deleted) and not before
            out[attr.key] = redact(value, changed)
            continue
        out[attr.key] = jsonable(value)
    for rel in state.mapper.relationships:
        # Many-to-many membership (VLANs of an interface) lives in no column of its own.
        if rel.secondary is None or rel.key not in state.dict:
            continue
        hist = state.attrs[rel.key].history
        kept = list(hist.unchanged or ())
        items = kept + list((hist.deleted if before else hist.added) or ())
        out[rel.key] = sorted(_object_id(i) for i in items)
    return out


def redact(value: Any, changed: bool = False) -> str | None:
    """A secret column's value as the change log (and exports) may show it."""
    if value is None:
        return None
    return REDACTED_NEW if changed else REDACTED


def _customer_id(session: Session, obj: Any) -> int | None:
    """The customer an object belongs to, so customers can read their own history."""
    if isinstance(obj, Vm):
        return obj.customer_id
    if isinstance(obj, ApiToken):
        return None
    if hasattr(obj, "customer_id"):
        return obj.customer_id
    vm_id = None
    if isinstance(obj, VmInterface | Storage | Install):
        vm_id = obj.vm_id
    elif isinstance(obj, Ipv4Address | Ipv6Address | Ipv6RoutedPrefix):
        iface = session.get(VmInterface, obj.vm_interface_id) if obj.vm_interface_id else None
        vm_id = iface.vm_id if iface is not None else None
    elif isinstance(obj, StorageCeph | Snapshot):
        storage = session.get(Storage, obj.storage_id)
        vm_id = storage.vm_id if storage is not None else None
    if vm_id is None:
        return None
    vm = session.get(Vm, vm_id)
    return vm.customer_id if vm is not None else None


def _object_id(obj: Any) -> str:
    # identity keys are assigned only after the flush; the primary key is already there.
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    return ",".join(str(v) for v in key)


@event.listens_for(Session, "after_flush")
def _record_changes(session: Session, _flush: UOWTransaction) -> None:
    if session.info.get("audit_disabled"):
        # Unrecorded, so of unknown consequence: every document.
        objects = (*session.new, *session.dirty, *session.deleted)
        if any(not isinstance(o, UNAUDITED) for o in objects):
            _note_affected(session, {EVERYTHING})
        return
    token_id, actor = session.info.get("actor", ANONYMOUS)
    now = utcnow()
    rows: list[dict[str, Any]] = []

    def add(obj: Any, action: str, before: Any, after: Any) -> None:
        rows.append(
            {
                "at": now,
                "actor_token_id": token_id,
                "actor": actor,
                "action": action,
                "object_type": obj.__tablename__,
                "object_id": _object_id(obj),
                "customer_id": _customer_id(session, obj),
                "before": before,
                "after": after,
            }
        )

    with session.no_autoflush:
        for obj in session.new:
            if not isinstance(obj, UNAUDITED):
                add(obj, "create", None, _columns(obj, before=False))
        for obj in session.dirty:
            if isinstance(obj, UNAUDITED) or not session.is_modified(obj):
                continue
            before, after = _columns(obj, before=True), _columns(obj, before=False)
            changed = {k for k in after if before.get(k) != after.get(k)}
            changed -= _NOT_CHANGES | REPORTED.get(obj.__tablename__, frozenset())
            if changed:
                add(
                    obj,
                    "update",
                    {k: before.get(k) for k in sorted(changed)},
                    {k: after[k] for k in sorted(changed)},
                )
        for obj in session.deleted:
            if not isinstance(obj, UNAUDITED):
                add(obj, "delete", _columns(obj, before=True), None)
    if rows:
        # Resolved now, on the state after this flush, while deleted rows' neighbours exist.
        resolver = Resolver(session.connection())
        everything: set[str] = set()
        for row in rows:
            t = touches(row["object_type"], row["object_id"], row["before"], row["after"])
            row["affected"] = sorted(resolver.certnames(t))
            everything.update(row["affected"])
        session.connection().execute(insert(Change), rows)
        _note_affected(session, everything)


# The certnames the current transaction affected so far (a set; present when it wrote);
# cleared when it ends.
_WROTE = "data_version_pending"


def _note_affected(session: Session, certnames: set[str]) -> None:
    session.info.setdefault(_WROTE, set()).update(certnames)


def pending_affected(session: Session) -> set[str] | None:
    """The certnames the session's open transaction has affected so far (after a flush);
    None if it wrote nothing."""
    session.flush()
    pending = session.info.get(_WROTE)
    return None if pending is None else set(pending)


# Statements on these tables change no node document.
_UNAUDITED_TABLES = frozenset(m.__table__ for m in UNAUDITED)


@event.listens_for(Session, "do_orm_execute")
def _note_statement_write(state: ORMExecuteState) -> None:
    # INSERT/UPDATE/DELETE statements run through the session bypass the flush (and the
    # change log), but caches must still see them.
    # Bulk inserts that record themselves (record_bulk_create) are flagged RECORDED.
    writes = state.is_insert or state.is_update or state.is_delete
    if (
        writes
        and getattr(state.statement, "table", None) not in _UNAUDITED_TABLES
        and not state.execution_options.get(RECORDED)
    ):
        _note_affected(state.session, {EVERYTHING})


@event.listens_for(Session, "before_commit")
def _raise_data_version(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: the outer transaction raises it once, when it commits
    # Flush now (commit would anyway, right after this hook) so its writes count too.
    session.flush()
    affected = session.info.pop(_WROTE, None)
    if affected is None:
        return
    conn = session.connection()
    # Taken last, so the row lock that orders the commits is held only briefly. The version
    # it returns is this transaction's place in commit order: feed cursors count in it.
    version = conn.execute(
        update(DataVersion)
        .where(DataVersion.id == 1)
        .values(version=DataVersion.version + 1)
        .returning(DataVersion.version)
    ).scalar()
    if version is None:
        return  # not migrated to 0003 yet
    if affected:
        now = utcnow()
        rows = [{"version": version, "certname": c, "at": now} for c in sorted(affected)]
        if len(rows) > BULK_AFFECTED_LIMIT:
            # An import names every certname it created: COPY, not an executemany of
            # hundreds of thousands of INSERTs (several seconds at 200,000 VMs).
            insert_rows(session, ChangeNode.__table__, rows, ids=False)
        else:
            conn.execute(insert(ChangeNode), rows)
    if version % _PRUNE_EVERY == 0 and version > FEED_RETENTION:
        floor = version - FEED_RETENTION
        conn.execute(delete(ChangeNode).where(ChangeNode.version <= floor))
        conn.execute(update(DataVersion).where(DataVersion.id == 1).values(retained_from=floor))


@event.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_WROTE, None)


_VERSION = select(DataVersion.version).where(DataVersion.id == 1)


def data_version(conn: Session | Connection) -> int | None:
    """The data version: equal values mean no committed change in between (None if the
    table holds no row, e.g. a database not migrated to 0003: then nothing is cacheable)."""
    return conn.execute(_VERSION).scalar()


# Most certnames one bulk-created change-log row names before it says "*" instead.
BULK_AFFECTED_LIMIT = 100


def record_bulk_create(
    session: Session,
    model: Any,
    rows: list[dict[str, Any]],
    customer_ids: list[int | None],
    extras: list[dict[str, Any]] | None = None,
    *,
    now: datetime | None = None,
) -> None:
    """One ``create`` change per row inserted with a Core multi-row INSERT.

    Bulk inserts bypass the unit of work, so the flush hook never sees them; the caller hands
    over the inserted rows (with their new keys) and the customer each belongs to. The entry
    has the same shape as the hook's: every column, plus many-to-many members in ``extras``.
    """
    if not rows:
        return
    if session.info.get("audit_disabled"):
        _note_affected(session, {EVERYTHING})
        return
    # One resolution for the whole batch (an import): every row carries the batch's set.
    batch = Touches()
    table = str(inspect(model).local_table.name)
    for i, row in enumerate(rows):
        after = dict(row)
        if extras is not None:
            after.update(extras[i])
        # The row's own id: a created VM or node names its own document too.
        batch.update(touches(table, str(row.get("id", 0)), None, after))
    resolved = Resolver(session.connection()).certnames(batch)
    _note_affected(session, resolved)
    # Each row carries the batch's set (a stated superset); past BULK_AFFECTED_LIMIT names
    # that is "*" so the change log grows with the rows, not rows × certnames (an import
    # of 200,000 VMs would otherwise store 200,000 names on each of its million rows).
    # The feed and the caches still get the exact set above.
    affected = sorted(resolved) if len(resolved) <= BULK_AFFECTED_LIMIT else [EVERYTHING]
    token_id, actor = session.info.get("actor", ANONYMOUS)
    now = now or utcnow()
    mapper = inspect(model)
    keys = [
        a.key
        for a in mapper.column_attrs
        if a.key not in SECRET_COLUMNS and not any(is_secret(c) for c in a.columns)
    ]
    pk = [c.key for c in mapper.primary_key]
    table = str(mapper.local_table.name)  # a plain str: quoted_name is slow to format
    changes = []
    for i, row in enumerate(rows):
        after = {k: jsonable(row.get(k)) for k in keys}
        if extras is not None:
            after.update(extras[i])
        changes.append(
            {
                "at": now,
                "actor_token_id": token_id,
                "actor": actor,
                "action": "create",
                "object_type": table,
                "object_id": ",".join(str(row[k]) for k in pk),
                "customer_id": customer_ids[i],
                "before": None,
                "after": after,
                "affected": affected,
            }
        )
    insert_rows(session, Change.__table__, changes, ids=False)
