"""Declared list filters: a query-string field plus the SQL condition it stands for."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, fields
from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import InstrumentedAttribute

from .fields import EXISTS, RULE
from .pagination import PageArgs

Condition = Callable[[Any], ColumnElement[bool]]


@dataclass(frozen=True)
class Filter:
    """``?name=value`` means ``condition(value)``; a bare column means equality on it."""

    field: fields.Field
    condition: Condition | InstrumentedAttribute[Any]

    def __post_init__(self) -> None:
        # A filter naming a missing object matches nothing: existence is no refusal here.
        if self.field.metadata.get(RULE) == EXISTS:
            del self.field.metadata[RULE]

    def clause(self, value: Any) -> ColumnElement[bool]:
        if isinstance(self.condition, InstrumentedAttribute):
            return self.condition == value
        return self.condition(value)


def query_schema(name: str, filters: Mapping[str, Filter]) -> type[Schema]:
    """limit/offset plus the filters, as one schema (unknown parameters are refused by the view)."""
    declared: dict[str, fields.Field] = {k: v for k, v in PageArgs._declared_fields.items()}
    for key, f in filters.items():
        field = copy.copy(f.field)
        if isinstance(field, fields.Integer):
            field.strict = False  # a query string has no JSON types: "7" is 7 here
        declared[key] = field
    return Schema.from_dict(declared, name=f"{name}QuerySchema")


def apply_filters(stmt: Select, filters: Mapping[str, Filter], args: Mapping[str, Any]) -> Select:
    for key, value in args.items():
        if key in filters:
            stmt = stmt.where(filters[key].clause(value))
    return stmt
