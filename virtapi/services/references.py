"""What still points at a row, so a refused delete can say why instead of 'constraint failed'."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from ..models import Base
from .errors import Conflict


def blocking_references(session: Session, obj: Any) -> dict[str, int]:
    """Rows in other tables whose foreign keys block deleting ``obj`` (RESTRICT / NO ACTION)."""
    table = inspect(obj).mapper.local_table
    found: dict[str, int] = {}
    for other in Base.metadata.sorted_tables:
        for fk in other.foreign_keys:
            if fk.column.table is not table or (fk.ondelete or "").upper() in (
                "CASCADE",
                "SET NULL",
            ):
                continue
            value = getattr(obj, fk.column.key)
            count = session.scalar(
                select(func.count()).select_from(other).where(fk.parent == value)
            )
            if count:
                label = f"{other.name}.{fk.parent.name}"
                found[label] = found.get(label, 0) + int(count or 0)
    return found


def ensure_deletable(session: Session, obj: Any, what: str) -> None:
    """Raise Conflict naming the referencing rows, as the database would refuse the delete."""
    refs = blocking_references(session, obj)
    if refs:
        detail = ", ".join(f"{count} row(s) of {label}" for label, count in sorted(refs.items()))
        raise Conflict(f"{what} is still referenced by {detail}; remove those first", errors=refs)
