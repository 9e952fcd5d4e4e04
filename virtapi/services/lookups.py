"""Look up rows of the small vocabulary tables by name."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import InvalidInput

T = TypeVar("T")


def by_name(session: Session, model: type[T], name: str) -> T:
    """The row of ``model`` called ``name``; a clear 422 listing the valid names otherwise."""
    row = session.scalar(select(model).where(model.name == name))  # type: ignore[attr-defined]
    if row is None:
        names = session.scalars(select(model.name).order_by(model.name))  # type: ignore[attr-defined]
        raise InvalidInput(
            f"unknown {model.__tablename__} {name!r}; known: {', '.join(names)}",  # type: ignore[attr-defined]
            errors={model.__tablename__: [f"unknown value {name!r}"]},  # type: ignore[attr-defined]
        )
    return row
