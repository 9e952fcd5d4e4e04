"""Drift: hosts whose applied node document is not the current one, VMs whose actual state
is not the requested one.

Hosts report the ``X-Virtapi-Document`` hash they applied (``applied_document`` in the node
or VM report); `record_applied` keeps the latest per certname (table ``applied_document``,
one row per certname, so bounded by the fleet), with the document itself when it is the
one virtapi serves right then, so that drift can show the patch from applied to current.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from ..models import AppliedDocument, ChangeNode, Vm, VmState
from ..models.base import utcnow
from . import json_patch
from .errors import InvalidInput
from .node_document import document_hash

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


def record_applied(
    session: Session, certname: str, applied: str, current: dict[str, Any] | None
) -> None:
    """Remember that `certname` applied the document hashed `applied`; `current` is its
    document now (kept when it is the one applied)."""
    check_hash(applied)
    row = session.get(AppliedDocument, certname)
    if row is None:
        row = AppliedDocument(certname=certname, hash=applied)
        session.add(row)
    elif row.hash != applied:
        row.hash, row.document = applied, None
    if current is not None and row.document is None and document_hash(current) == applied:
        row.document = current
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
    session: Session, current_of: Callable[[str], tuple[str, dict[str, Any]] | None]
) -> list[dict[str, Any]]:
    """Every host whose reported hash is not its current one, newest drift first.
    `current_of(certname)` gives (hash, document) now, or None if the certname is gone."""
    out = []
    for row in session.execute(select(AppliedDocument)).scalars():
        current = current_of(row.certname)
        current_hash = current[0] if current else None
        if current_hash == row.hash:
            continue
        patch = None
        if row.document is not None and current is not None:
            patch = json_patch.diff(row.document, current[1])
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


def state_drift(session: Session) -> list[dict[str, Any]]:
    """VMs whose actual state is not the requested one, newest first."""
    requested, actual = aliased(VmState), aliased(VmState)
    rows = session.execute(
        select(Vm.hostname, requested.name, actual.name, Vm.reported_at, Vm.updated_at)
        .join(requested, requested.id == Vm.requested_state_id)
        .join(actual, actual.id == Vm.actual_state_id)
        .where(Vm.requested_state_id != Vm.actual_state_id)
    ).all()
    out = [
        {
            "hostname": hostname,
            "requested_state": want,
            "actual_state": have,
            "since": reported or updated,
        }
        for hostname, want, have, reported, updated in rows
    ]
    out.sort(key=lambda d: d["since"], reverse=True)
    return out
