"""Pages of a list: {"count", "next", "previous", "results"}, ordered by id.

Two ways to walk a list: ``limit``/``offset``, and keyset ``after=<id>`` (the rows with a
larger id). An offset makes the database read and drop every row before the page, so the
last page of 200,000 VMs costs as much as reading them all; ``after`` starts at the index
entry, so every page costs the same. ``next`` links keep the mode the client chose.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any
from urllib.parse import urlencode

from flask import request
from marshmallow import Schema, fields
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from .fields import query_int

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


class PageArgs(Schema):
    limit = query_int(
        1, MAX_LIMIT, load_default=DEFAULT_LIMIT, metadata={"description": "page size"}
    )
    offset = query_int(0, load_default=0, metadata={"description": "rows to skip"})
    after = query_int(
        0,
        load_default=None,
        metadata={
            "description": "keyset pagination: only objects with an id greater than this; "
            "pass the last id of the previous page (the `next` link does). Costs the same "
            "on every page, unlike offset; with offset too, that many rows past it are skipped"
        },
    )


@cache
def page_schema(item: type[Schema]) -> type[Schema]:
    """The schema of one page of ``item`` objects (one class per item schema, for the spec)."""
    name = item.__name__.removesuffix("Schema") + "PageSchema"
    return Schema.from_dict(
        {
            "count": fields.Integer(required=True, metadata={"description": "matching objects"}),
            "next": fields.String(required=True, allow_none=True),
            "previous": fields.String(required=True, allow_none=True),
            "results": fields.List(fields.Nested(item), required=True),
        },
        name=name,
    )


def _link(limit: int, **position: int) -> str:
    skip = ("limit", "offset", "after")
    args = [(k, v) for k, v in request.args.items(multi=True) if k not in skip]
    args += [("limit", str(limit)), *((k, str(v)) for k, v in position.items())]
    return f"{request.base_url}?{urlencode(args)}"


def paginate(
    session: Session,
    stmt: Select,
    limit: int,
    offset: int,
    after: int | None = None,
    key: Any = None,
    rows: Callable[[Select], list[Any]] | None = None,
) -> dict[str, Any]:
    """Run ``stmt`` (already filtered, ordered by ``key``) for one page, with the total count.
    With ``after``, the page is the ``limit`` rows whose ``key`` is greater (keyset).
    ``rows`` runs the page's statement (default: ORM objects; reads.read gives JSON dicts)."""
    fetch = rows or (lambda page: list(session.scalars(page).unique()))
    count = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    count = int(count or 0)
    if after is not None:
        # Both given: skip ``offset`` rows past the key (a client jumping ahead within its
        # walk); the next link continues by key alone.
        # One row more than the page tells whether a next page exists, without a count.
        page = stmt.where(key > after).limit(limit + 1).offset(offset)
        found = fetch(page)
        more = len(found) > limit
        found = found[:limit]
        last = _key_of(found[-1], key.key) if found else None
        return {
            "count": count,
            "next": _link(limit, after=last) if more and last is not None else None,
            "previous": None,  # keyset pages walk forward; restart with after=0
            "results": found,
        }
    found = fetch(stmt.limit(limit).offset(offset))
    return {
        "count": count,
        "next": _link(limit, offset=offset + limit) if offset + limit < count else None,
        "previous": _link(limit, offset=max(offset - limit, 0)) if offset > 0 else None,
        "results": found,
    }


def _key_of(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, dict) else getattr(row, name)
