"""Marshmallow fields that refuse what the database would choke on.

Every integer is range-checked for its column width and every string for its length and NUL
characters, so out-of-range input answers 422 naming the field instead of a database error.
Addresses, MACs, prefixes, hostnames, names, VNIs and sizes are parsed by ``virtapi.values``
(through ``services/value_fields``), the same parsers the import uses.
"""

from __future__ import annotations

import copy
from typing import Any

from marshmallow import Schema, ValidationError, fields, missing, validate
from werkzeug.routing import IntegerConverter

from .. import values
from ..services import value_fields
from ..values import INT32_MAX, INT64_MAX


def _no_nul(value: str) -> None:
    if "\x00" in value:
        raise ValidationError("must not contain NUL characters")


def _printable(value: str) -> None:
    problem = values.problem(values.check_text, value, multiline=True)
    if problem:
        raise ValidationError(problem)


def _one_line(value: str) -> None:
    problem = values.problem(values.check_text, value)
    if problem:
        raise ValidationError(problem)


def string(max_length: int | None = None, **kwargs: Any) -> fields.String:
    """A string of at most ``max_length`` characters (None: unbounded text).

    Bounded strings are single lines unless ``multiline=True``; no string may hold control
    characters other than tab and line breaks.
    """
    checks: list[Any] = [_no_nul, _printable]
    one_line = not kwargs.pop("multiline", max_length is None)
    if one_line:
        checks.append(_one_line)
    metadata = kwargs.setdefault("metadata", {})
    metadata.setdefault("pattern", values.LINE_PATTERN if one_line else values.TEXT_PATTERN)
    if max_length is not None:
        checks.append(validate.Length(max=max_length))
    if kwargs.pop("non_empty", False):
        checks.append(validate.Length(min=1))
    return fields.String(validate=checks, **kwargs)


def hostname_field(**kwargs: Any) -> fields.Field:
    """A lower-case RFC 1123 hostname or FQDN: it becomes a certname, a minion id, a file name."""
    return value_fields.hostname(**kwargs)


def name_field(max_length: int = values.NAME_MAX, **kwargs: Any) -> fields.Field:
    """A short name (pool, VLAN, state, area): letters, digits, '.', '_', '-', at most 64."""
    field = value_fields.name(**kwargs)
    if max_length < values.NAME_MAX:
        field.validators.append(validate.Length(max=max_length))
        field.metadata["maxLength"] = max_length
    return field


class _JsonBoolean(fields.Boolean):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        # A type test, not membership: 0 == False and 1 == True in Python.
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def boolean(**kwargs: Any) -> fields.Boolean:
    """A JSON true or false in a body: marshmallow alone also takes 1, "yes" or "on", which the
    document (type boolean) does not allow. Query strings keep fields.Boolean (text)."""
    return _JsonBoolean(**kwargs)


def int32(minimum: int = -(2**31), maximum: int = INT32_MAX, **kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(minimum, maximum), **kwargs)


def int64(minimum: int = -(2**63), maximum: int = INT64_MAX, **kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(minimum, maximum), **kwargs)


class IdConverter(IntegerConverter):
    """``<int:…>`` in URLs: 1 to 2**63-1, like every id column. Anything larger matches no
    route (404) instead of reaching a driver that cannot bind it (an OverflowError, a 500)."""

    def __init__(self, map: Any, fixed_digits: int = 0, min: int = 1, max: int = INT64_MAX) -> None:  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max)


RULE = value_fields.RULE


def with_rule(field: fields.Field, rule: str) -> fields.Field:
    """``field``, documenting a rule the server enforces beyond its JSON Schema."""
    field.metadata[RULE] = rule
    return field


# The rule of a field that names another object; a list filter drops it (api/filters.py).
EXISTS = "the id must be that of an existing object"


def ref_id(**kwargs: Any) -> fields.Integer:
    """The id of a related object (which must exist)."""
    return with_rule(int64(1, **kwargs), EXISTS)  # type: ignore[return-value]


def query_int(minimum: int = 1, maximum: int = INT64_MAX, **kwargs: Any) -> fields.Integer:
    """An integer in a query string (which has no JSON types, hence not strict)."""
    return fields.Integer(validate=validate.Range(minimum, maximum), **kwargs)


def IPAddress(version: int | None, **kwargs: Any) -> fields.Field:  # noqa: N802 - used like a class
    """An IPv4 or IPv6 address (either: None) as text in standard notation, returned compressed."""
    return value_fields.ip(version, **kwargs)


def MACAddress(**kwargs: Any) -> fields.Field:  # noqa: N802 - used like a class
    """An interface MAC in any usual spelling (colons, dashes, dots, bare), returned as aa:bb:…"""
    return value_fields.mac(**kwargs)


def Network(version: int, **kwargs: Any) -> fields.Field:  # noqa: N802 - used like a class
    """A network prefix as CIDR text (192.0.2.0/24); host bits must be zero."""
    return value_fields.cidr(version, **kwargs)


def vni_field(**kwargs: Any) -> fields.Integer:
    """A VXLAN network identifier, 1 to 2**24-1."""
    return value_fields.vni(**kwargs)


def size_field(**kwargs: Any) -> fields.Integer:
    """A size in bytes: positive, 64-bit."""
    return value_fields.size(**kwargs)


class NameOrId(fields.Field):
    """A vocabulary entry (state, method, storage type …) by name or by id.

    Names are spelled as ``parser`` (default: values.parse_name) accepts, and the document
    says so with the parser's pattern; that the entry exists is a stated rule.
    """

    def __init__(self, parser: Any = values.parse_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.parser = parser
        name = {"type": "string", "pattern": values.PATTERNS[parser]}
        number = {"type": "integer", "minimum": 1, "maximum": INT64_MAX}
        self.metadata.setdefault("oneOf", [name, number])
        self.metadata.setdefault(RULE, "a name or id must be that of an existing entry")

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValidationError("give a name or an id")
        if isinstance(value, int) and not 0 < value <= INT64_MAX:
            raise ValidationError("not a valid id")
        if isinstance(value, str) and (problem := values.problem(self.parser, value)):
            raise ValidationError(problem)
        return value


def updating(create: type[Schema]) -> type[Schema]:
    """The PATCH schema of a create schema: the same fields, none required, no defaults."""
    copies: dict[str, fields.Field] = {}
    for key, original in create._declared_fields.items():
        if original.dump_only:
            continue
        f = copy.copy(original)
        f.required = False
        f.load_default = missing
        copies[key] = f
    name = create.__name__.replace("Create", "").removesuffix("Schema") + "UpdateSchema"
    return Schema.from_dict(copies, name=name)
