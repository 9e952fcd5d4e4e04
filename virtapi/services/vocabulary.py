"""Vocabulary rows (states, methods, storage types …) named by a client by name or by id."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.orm import Session

from .errors import InvalidInput
from .lookups import by_name

T = TypeVar("T")


def resolve(session: Session, model: type[T], value: str | int, field: str) -> T:
    """The row named or numbered ``value``; a 422 on ``field`` listing valid names otherwise."""
    if isinstance(value, int):
        row = session.get(model, value)
        if row is None:
            raise InvalidInput(
                f"no {model.__tablename__} with id {value}",  # type: ignore[attr-defined]
                errors={field: [f"unknown id {value}"]},
            )
        return row
    try:
        return by_name(session, model, value)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, errors={field: [f"unknown value {value!r}"]}) from None
