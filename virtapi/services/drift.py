"""Drift: hosts whose applied node document is not the current one, VMs whose actual state
is not the requested one.

Hosts report the ``X-Virtapi-Document`` hash they applied (``applied_document`` in the node
or VM report); `record_applied` keeps the latest per certname (table ``applied_document``,
one row per certname, so bounded by the fleet), with the document itself when it is the
one virtapi serves right then, so that drift can show the patch from applied to current.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from ..models import AppliedDocument, ChangeNode, DataVersion, Node, Vm, VmState
from ..models.base import utcnow
from . import json_patch
from .affected import EVERYTHING
from .errors import InvalidInput

HASH_LENGTH = 64
# The same rule as a pattern, which the REST schema publishes.
HASH_PATTERN = f"^[0-9a-f]{{{HASH_LENGTH}}}$"
_HASH_RE = re.compile(HASH_PATTERN)


def check_hash(value: str) -> str:
    if not _HASH_RE.fullmatch(value):
        raise InvalidInput(
            "applied_document must be the X-Virtapi-Document header of the ENC, Hiera or "
            "pillar answer the host applied (64 lowercase hex digits)",
            errors={"applied_document": ["not a document hash"]},
        )
    return value


class Current(NamedTuple):
    """A certname's document now: its hash, the document, and the data version it is at
    least as new as (None when that is not known)."""

    hash: str
    document: dict[str, Any]
    version: int | None


def record_applied(session: Session, certname: str, applied: str, current: Current | None) -> None:
    """Remember that `certname` applied the document hashed `applied`; `current` is its
    document now (kept when it is the one applied, and its data version remembered: a later
    change is drift)."""
    check_hash(applied)
    row = session.get(AppliedDocument, certname)
    if row is None:
        row = AppliedDocument(certname=certname, hash=applied)
        session.add(row)
    elif row.hash != applied:
        row.hash, row.document = applied, None
    in_sync = current if current is not None and current.hash == applied else None
    if in_sync is not None and row.document is None:
        row.document = in_sync.document
    row.synced_version = in_sync.version if in_sync is not None else None
    row.reported_at = utcnow()
    session.flush()


def _drift_since(session: Session, certname: str, reported_at: datetime) -> datetime:
    """When the document first changed after the host applied it (as far as the feed keeps)."""
    first = session.execute(
        select(func.min(ChangeNode.at)).where(
            ChangeNode.certname == certname, ChangeNode.at >= reported_at
        )
    ).scalar()
    return first or reported_at


def document_drift(
    session: Session, current_of: Callable[[str], Current | None]
) -> list[dict[str, Any]]:
    """Every host whose reported hash is not its current one, newest drift first.
    `current_of(certname)` gives (hash, document) now, or None if the certname is gone.

    Only the hosts SQL finds drifted (`host_drift_select`), and reports of certnames gone
    from the fleet, are looked at: a document is built per drifted host, not per host."""
    stmt, _ = host_drift_select()
    hosts = stmt.subquery("drift")
    drifted = select(hosts.c.certname).where(hosts.c.state == DRIFTED)
    known = select(hosts.c.certname)
    rows = session.execute(
        select(AppliedDocument).where(
            or_(AppliedDocument.certname.in_(drifted), AppliedDocument.certname.not_in(known))
        )
    ).scalars()
    out = []
    for row in rows:
        current = current_of(row.certname)
        current_hash = current.hash if current else None
        if current_hash == row.hash:
            continue  # a write named it but left its document as it was
        patch = None
        if row.document is not None and current is not None:
            patch = json_patch.diff(row.document, current.document)
        out.append(
            {
                "certname": row.certname,
                "applied": row.hash,
                "current": current_hash,
                "applied_at": row.reported_at,
                "since": _drift_since(session, row.certname, row.reported_at),
                "patch": patch,
            }
        )
    out.sort(key=lambda d: d["since"], reverse=True)
    return out


def state_drift(session: Session, limit: int | None = None) -> list[dict[str, Any]]:
    """VMs whose actual state is not the requested one, newest first (the ``limit`` newest)."""
    requested, actual = aliased(VmState), aliased(VmState)
    since = func.coalesce(Vm.reported_at, Vm.updated_at)
    rows = session.execute(
        select(Vm.hostname, requested.name, actual.name, since)
        .join(requested, requested.id == Vm.requested_state_id)
        .join(actual, actual.id == Vm.actual_state_id)
        .where(Vm.requested_state_id != Vm.actual_state_id)
        .order_by(since.desc(), Vm.id)
        .limit(limit)
    ).all()
    return [
        {"hostname": hostname, "requested_state": want, "actual_state": have, "since": at}
        for hostname, want, have, at in rows
    ]


# The states a host can be in, as the drift list and its ?state= filter name them.
IN_SYNC, DRIFTED, NEVER, STALE = "in sync", "drifted", "never reported", "stale"
STATES = (IN_SYNC, DRIFTED, STALE, NEVER)
KINDS = ("node", "vm")
SORTS = ("certname", "kind", "state", "since", "applied", "reported_at")
# A host in sync whose last report is older than this is "stale": its agent may have stopped
# (Puppet and Salt run every 30 minutes by default; four missed runs).
STALE_AFTER = timedelta(hours=2)


@dataclass(frozen=True)
class HostDrift:
    """One host (node or VM) of the drift list; ``applied`` and ``reported_at`` are None
    until it reports."""

    certname: str
    kind: str
    state: str
    since: datetime | None
    applied: str | None
    reported_at: datetime | None


def host_drift_select(now: datetime | None = None) -> tuple[Select, dict[str, Any]]:
    """Every node and VM with its drift state, as one SELECT (no document is built).

    A host is in sync when, at its last report, the hash it applied was the document virtapi
    served at data version ``synced_version``, and no committed write named its certname (or
    ``*``) since (``change_node``). Pruned feed history counts as drift: it cannot be known.
    Returns the statement and its columns by name (to sort and filter on)."""
    now = now or utcnow()
    hosts = union_all(
        select(Node.fqdn.label("certname"), literal("node").label("kind")),
        select(Vm.hostname.label("certname"), literal("vm").label("kind")),
    ).subquery("hosts")
    applied = AppliedDocument
    after_sync = and_(
        ChangeNode.certname.in_([hosts.c.certname, literal(EVERYTHING)]),
        ChangeNode.version > applied.synced_version,
    )
    retained = select(DataVersion.retained_from).where(DataVersion.id == 1).scalar_subquery()
    drifted = or_(
        applied.synced_version.is_(None),
        applied.synced_version < retained,
        exists().where(after_sync),
    )
    state = case(
        (applied.certname.is_(None), literal(NEVER)),
        (drifted, literal(DRIFTED)),
        (applied.reported_at < now - STALE_AFTER, literal(STALE)),
        else_=literal(IN_SYNC),
    ).label("state")
    first_change = select(func.min(ChangeNode.at)).where(after_sync).scalar_subquery()
    since = case(
        (applied.certname.is_(None), None),
        (applied.synced_version.is_(None), applied.reported_at),
        else_=func.coalesce(first_change, applied.reported_at),
    ).label("since")
    columns = {
        "certname": hosts.c.certname,
        "kind": hosts.c.kind,
        "state": state,
        "since": since,
        "applied": applied.hash,
        "reported_at": applied.reported_at,
    }
    stmt = (
        select(*(c.label(k) for k, c in columns.items()))
        .select_from(hosts)
        .outerjoin(applied, applied.certname == hosts.c.certname)
    )
    return stmt, columns


def drifted_count(session: Session, now: datetime | None = None) -> tuple[int, datetime | None]:
    """(how many hosts are drifted, since when the longest-drifted one is): the metrics'
    view of `host_drift`, in one statement."""
    stmt, _ = host_drift_select(now)
    rows = stmt.subquery("drift")
    count, since = session.execute(
        select(func.count(), func.min(rows.c.since)).where(rows.c.state == DRIFTED)
    ).one()
    return count, since


def host_drift(
    session: Session,
    *,
    state: str | None = None,
    kind: str | None = None,
    order: Sequence[tuple[str, bool]] = (("since", True),),
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> tuple[int, list[HostDrift]]:
    """(total, one page) of the fleet's drift list: filtered by ``state`` (one of STATES)
    and ``kind`` (node, vm), ordered by ``order`` ((column, descending) pairs, columns of
    HostDrift), certname last. Two statements whatever the fleet size; the /drift page and
    GET /api/v1/drift both call it."""
    if state is not None and state not in STATES:
        raise InvalidInput(
            f"state must be one of {', '.join(STATES)}", errors={"state": ["unknown state"]}
        )
    if kind is not None and kind not in KINDS:
        raise InvalidInput("kind must be node or vm", errors={"kind": ["unknown kind"]})
    stmt, columns = host_drift_select(now)
    rows = stmt.subquery("drift")
    where: list[ColumnElement[bool]] = []
    if state is not None:
        where.append(rows.c.state == state)
    if kind is not None:
        where.append(rows.c.kind == kind)
    filtered = select(rows).where(*where)
    total = session.scalar(select(func.count()).select_from(filtered.subquery())) or 0
    keys = []
    for name, descending in order:
        if name not in columns:
            raise InvalidInput(
                f"sort by one of {', '.join(columns)}", errors={"sort": ["unknown column"]}
            )
        column = rows.c[name]
        # NULLs (never reported) last either way, on both databases.
        keys += [column.is_(None), column.desc() if descending else column.asc()]
    page = filtered.order_by(*keys, rows.c.certname, rows.c.kind).limit(limit).offset(offset)
    return total, [HostDrift(**row._mapping) for row in session.execute(page)]
