"""limit/offset pages: {"count", "next", "previous", "results"}, ordered by id."""

from __future__ import annotations

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


def _link(offset: int, limit: int) -> str:
    args = [(k, v) for k, v in request.args.items(multi=True) if k not in ("limit", "offset")]
    args += [("limit", str(limit)), ("offset", str(offset))]
    return f"{request.base_url}?{urlencode(args)}"


def paginate(session: Session, stmt: Select, limit: int, offset: int) -> dict[str, Any]:
    """Run ``stmt`` (already filtered and ordered) for one page, with the total count."""
    count = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    count = int(count or 0)
    rows = list(session.scalars(stmt.limit(limit).offset(offset)).unique())
    return {
        "count": count,
        "next": _link(offset + limit, limit) if offset + limit < count else None,
        "previous": _link(max(offset - limit, 0), limit) if offset > 0 else None,
        "results": rows,
    }
