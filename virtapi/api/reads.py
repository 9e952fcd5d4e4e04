"""Fast reads: a resource's JSON straight from Core rows, without ORM entities or marshmallow.

The profile of a page of 100 VMs (bench/rest.py --profile) spent 0.52 s of 0.9 s building ORM
objects through selectinload and 0.36 s in ``Schema.dump``. A ``Shape`` says, for every field of
the resource's schema, where its value comes from:

* an SQL expression selected in the object's own statement (a plain field named like a column
  of the model reads that column without being listed);
* ``One``: a nested object whose fields are selected in that same statement;
* ``Many``: a list read by one more statement for the whole page (``WHERE parent IN (…)``);
* ``Derived``: a Python function of the row, for rules the models and services already state
  (an interface's name, a node's roles, an install's summary): they are called, not rewritten.

A shape must name every field of its schema and nothing else (checked when it is declared, so a
field added to a schema without a source stops the app at import), and each value goes through
the schema field's own serializer. tests/api/test_reads.py asserts the result equals the schema's
dump of the ORM object, on both databases.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache, cached_property, lru_cache
from typing import Any

from marshmallow import Schema, fields
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Date,
    DateTime,
    Float,
    FromClause,
    Interval,
    LargeBinary,
    Numeric,
    Select,
    Time,
    TypeDecorator,
    Uuid,
    any_,
    bindparam,
    func,
    inspect,
    literal,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import InstrumentedAttribute, Session


class Attrs(dict):  # type: ignore[type-arg]
    """A row that reads like the ORM object (``row.vm_id``), for the models' own rules."""

    __getattr__ = dict.__getitem__


@dataclass(frozen=True)
class Derived:
    """A field computed in Python from the row's values (fields and ``hidden`` columns)."""

    function: Callable[[Attrs], Any]


@dataclass(frozen=True)
class One:
    """A nested object selected in the parent's statement; null when ``present`` is NULL."""

    shape: Shape
    present: ColumnElement[Any]


@dataclass(frozen=True, eq=False)  # hashed by identity: its statement is built once
class Many:
    """A list of children, read for the whole page by one statement on ``parent IN (keys)``.

    ``key`` is the parent's field (or hidden column) the children's ``parent`` column holds;
    ``pluck`` lists one field's values instead of objects (marshmallow's Pluck); ``first``
    gives the first child or None, through ``build`` when the field is a function of it."""

    shape: Shape
    parent: ColumnElement[Any]
    order_by: Sequence[Any] = ()
    key: str = "id"
    pluck: str | None = None
    first: bool = False
    build: Callable[[Attrs], Any] | None = None
    # Lists of one parent with the same ``together`` name come in one UNION ALL statement
    # (IPv4 and IPv6 addresses): their shapes have as many columns, each order_by one column.
    together: str | None = None


Source = ColumnElement[Any] | One | Many | Derived


@dataclass(eq=False)
class Shape:
    """Where each field of ``schema`` comes from; ``schema`` None: raw rows for a ``build``."""

    schema: type[Schema] | None
    table: FromClause | type
    fields: Mapping[str, Source]
    joins: Sequence[tuple[Any, Any]] = ()  # (target, onclause) outer joins, aliased
    hidden: Mapping[str, ColumnElement[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.schema is not None:
            self.fields = {**_same_name_columns(self.schema, self.table), **self.fields}
            self._check(self.schema)
        self._plan = _plan(self)

    def _check(self, schema: type[Schema]) -> None:
        declared = self.schema._declared_fields
        missing = sorted(set(declared) - set(self.fields))
        extra = sorted(set(self.fields) - set(declared))
        if missing or extra:
            raise TypeError(
                f"read shape of {schema.__name__}: no source for {missing}, "
                f"not in the schema: {extra}"
            )
        for name, source in self.fields.items():
            _check_nesting(schema.__name__, name, declared[name], source)

    @cached_property
    def from_clause(self) -> Any:
        clause = _table(self.table)
        for target, onclause in self.joins:
            clause = clause.outerjoin(target, onclause)
        return clause


def stored(column: Any) -> Any:
    """``column`` as stored, without its type's conversion to a Python object: for fields whose
    serializer takes the stored text as well (a MAC: values.mac_text), where building a
    netaddr.EUI per row topped the profile of a page of VMs."""
    return type_coerce(column, column.type.impl)


def _same_name_columns(schema: type[Schema], table: Any) -> dict[str, Any]:
    """The plain fields of ``schema`` (no attribute path, no function, no nesting) named like a
    column of the model: they read that column without being listed, so a new plain field is
    read at once and only the others need a source."""
    if not hasattr(table, "__mapper__"):
        return {}
    columns = set(inspect(table).mapper.column_attrs.keys())  # a model or an alias of one
    derived = (fields.Nested, fields.List, fields.Function, fields.Method, fields.Pluck)
    return {
        name: getattr(table, name)
        for name, declared in schema._declared_fields.items()
        if name in columns and declared.attribute is None and not isinstance(declared, derived)
    }


def _table(table: Any) -> Any:
    return table.__table__ if hasattr(table, "__table__") else table


def _check_nesting(schema: str, name: str, declared: fields.Field, source: Source) -> None:
    """A nested field's shape reads the very schema the field nests (or plucks)."""
    if isinstance(source, One):
        nested = declared.nested if isinstance(declared, fields.Nested) else None
    elif isinstance(source, Many) and source.build is None:
        inner = declared.inner if isinstance(declared, fields.List) else declared
        nested = inner.nested if isinstance(inner, fields.Nested) else None
        if isinstance(declared, fields.Pluck) and declared.field_name != source.pluck:
            nested = None
    else:
        return
    if nested is not source.shape.schema:
        raise TypeError(f"read shape of {schema}.{name} reads another schema than it nests")


def _converter(field: fields.Field) -> Callable[[Any], Any] | None:
    """The schema field's own serializer for a raw value (None: the value is already JSON)."""
    if isinstance(field, (fields.Function, fields.Method)):
        return None  # the function's result is the value
    if type(field) is fields.Integer and not field.as_string:
        return None  # integer columns give int or None
    serialize = field._serialize
    if isinstance(field, fields.String):
        # Most string fields read a text column: skip the call when there is nothing to do.
        return lambda value: value if type(value) is str else serialize(value, None, None)
    return lambda value: serialize(value, None, None)


@dataclass
class _Plan:
    columns: list[Any]  # labelled, in select order
    build: Callable[[Sequence[Any]], tuple[dict[str, Any], Attrs]]
    many: list[tuple[str, Many]]


def _plan(shape: Shape) -> _Plan:
    """The labelled columns of one statement and a function from its row to (JSON, context)."""
    columns: list[Any] = []
    # (output key, field name, index, converter) for plain columns
    steps: list[tuple[str, str, int, Callable[[Any], Any] | None]] = []
    nested: list[tuple[str, int, _Plan]] = []  # (output key, index of present, plan)
    derived: list[tuple[str, str, Callable[[Attrs], Any], Callable[[Any], Any] | None]] = []
    many: list[tuple[str, Many]] = []
    declared = shape.schema._declared_fields if shape.schema is not None else {}

    def out_key(name: str) -> str:
        f = declared.get(name)
        return (f.data_key or name) if f is not None else name

    for name, source in shape.fields.items():
        f = declared.get(name)
        if isinstance(source, One):
            sub = source.shape._plan
            nested.append((out_key(name), len(columns), sub))
            columns.append(source.present)
            columns.extend(sub.columns)
        elif isinstance(source, Many):
            many.append((name, source))
        elif isinstance(source, Derived):
            derived.append((out_key(name), name, source.function, f and _converter(f)))
        else:
            steps.append((out_key(name), name, len(columns), f and _converter(f)))
            columns.append(source)
    hidden = []
    for name, column in shape.hidden.items():
        hidden.append((name, len(columns)))
        columns.append(column)

    # The keys in the schema's order, as Schema.dump writes them (POST and PATCH answer with
    # the dump): a GET gives the same bytes, not only the same JSON.
    sources = shape.fields
    order = [name if isinstance(sources[name], Many) else out_key(name)
             for name in declared if name in sources]  # fmt: skip

    def build(row: Sequence[Any]) -> tuple[dict[str, Any], Attrs]:
        out: dict[str, Any] = dict.fromkeys(order)
        ctx = Attrs()
        for key, name, index, convert in steps:
            value = row[index]
            ctx[name] = value
            out[key] = value if convert is None or value is None else convert(value)
        for key, index, sub in nested:
            if row[index] is None:
                out[key] = None
            else:
                width = len(sub.columns)
                out[key] = sub.build(row[index + 1 : index + 1 + width])[0]
        for name, index in hidden:
            ctx[name] = row[index]
        for key, name, function, convert in derived:
            value = function(ctx)
            ctx[name] = value
            out[key] = value if convert is None or value is None else convert(value)
        return out, ctx

    labelled = [c.label(f"c{i}") for i, c in enumerate(columns)]
    return _Plan(labelled, build, many)


def _fill(
    session: Session, shape: Shape, stmt: Select, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Run ``stmt`` (already narrowed to the wanted rows of ``shape``) and its lists' statements."""
    objects = [shape._plan.build(row) for row in session.execute(stmt, params)]
    _children(session, shape._plan, objects)
    return [out for out, _ in objects]


def _children(session: Session, plan: _Plan, objects: list[tuple[dict[str, Any], Attrs]]) -> None:
    postgresql = session.get_bind().dialect.name == "postgresql"
    for manys in _reads(tuple(many for _, many in plan.many)):
        groups: list[dict[Any, list[tuple[dict[str, Any], Attrs]]]] = [{} for _ in manys]
        keys = {ctx[manys[0].key] for _, ctx in objects} - {None}
        if keys:
            stmt, convert = _statement(manys, postgresql)
            children: list[list[tuple[dict[str, Any], Attrs]]] = [[] for _ in manys]
            for row in session.execute(stmt, {"keys": sorted(keys)}):
                branch = row[-1]
                values = convert[branch](row)
                child = manys[branch].shape._plan.build(values)
                children[branch].append(child)
                groups[branch].setdefault(row[-2], []).append(child)
            for many, found in zip(manys, children, strict=True):
                _children(session, many.shape._plan, found)
        for many, grouped in zip(manys, groups, strict=True):
            _assign(plan, many, grouped, objects)


def _assign(
    plan: _Plan,
    many: Many,
    groups: dict[Any, list[tuple[dict[str, Any], Attrs]]],
    objects: list[tuple[dict[str, Any], Attrs]],
) -> None:
    name = next(n for n, m in plan.many if m is many)
    for out, ctx in objects:
        _put(out, name, many, groups.get(ctx[many.key], []))


def _put(
    out: dict[str, Any], name: str, many: Many, rows: list[tuple[dict[str, Any], Attrs]]
) -> None:
    """One object's list ``name`` from its children (JSON, context), in their order."""
    if many.first:
        first = rows[0] if rows else None
        if many.build is not None:
            out[name] = many.build(first[1]) if first else None
        else:
            out[name] = first[0] if first else None
    elif many.pluck is not None:
        out[name] = [child[0][many.pluck] for child in rows]
    else:
        out[name] = [child[0] for child in rows]


@cache
def _reads(manys: tuple[Many, ...]) -> list[tuple[Many, ...]]:
    """The statements of a plan's lists: one per list, or one per ``together`` group."""
    out: list[tuple[Many, ...]] = []
    together: dict[str, list[Many]] = {}
    for many in manys:
        if many.together is None:
            out.append((many,))
        elif many.together not in together:
            together[many.together] = [many]
            out.append(())  # placeholder, filled below in declaration order
        else:
            together[many.together].append(many)
    groups = iter(tuple(g) for g in together.values())
    return [read if read else next(groups) for read in out]


@cache
def _statement(
    manys: tuple[Many, ...], postgresql: bool
) -> tuple[Any, list[Callable[[Sequence[Any]], Sequence[Any]]]]:
    """The children of the parents whose keys are bound as ``keys``, built once, and per branch
    the conversion of its rows. On PostgreSQL ``= ANY(array)``: one parameter, so the text is
    the same whatever the number of keys and psycopg prepares it once (an IN list is a new
    statement per page size). Each row ends with the parent's key and the branch number."""
    selects, converts = [], []
    for branch, many in enumerate(manys):
        if postgresql:
            among = many.parent == any_(bindparam("keys", type_=ARRAY(many.parent.type)))
        else:
            among = many.parent.in_(bindparam("keys", expanding=True))
        columns = list(many.shape._plan.columns)
        convert: Callable[[Sequence[Any]], Sequence[Any]] = _identity
        order: list[Any] = []
        if len(manys) > 1:
            # One result type per union column: read each branch's values as stored and
            # convert them with the branch's own column types afterwards.
            columns, convert = _as_stored(columns)
            (first,) = many.order_by
            order = [type_coerce(first, _stored_type(first)).label("sort")]
        selects.append(
            select(*columns, *order, many.parent.label("parent"), literal(branch).label("branch"))
            .select_from(many.shape.from_clause)
            .where(among)
        )
        converts.append(convert)
    if len(selects) == 1:
        stmt: Any = selects[0].order_by(*manys[0].order_by)
    else:
        stmt = union_all(*selects).order_by("parent", "branch", "sort")
    return stmt, converts


def _identity(row: Sequence[Any]) -> Sequence[Any]:
    return row


def _stored_type(column: Any) -> Any:
    kind = column.type
    return kind.impl if isinstance(kind, TypeDecorator) else kind


def _as_stored(columns: list[Any]) -> tuple[list[Any], Callable[[Sequence[Any]], Sequence[Any]]]:
    """``columns`` as stored, and the conversion their TypeDecorators would have made. The
    decorators of virtapi.models.types convert without looking at the dialect (None here)."""
    stored_columns, steps = [], []
    for index, labelled in enumerate(columns):
        element, kind = labelled.element, labelled.element.type
        if isinstance(kind, TypeDecorator):
            stored_columns.append(type_coerce(element, kind.impl).label(labelled.name))
            steps.append((index, kind.process_result_value))
        else:
            stored_columns.append(labelled)

    def convert(row: Sequence[Any]) -> Sequence[Any]:
        values = list(row)
        for index, process in steps:
            if values[index] is not None:
                values[index] = process(values[index], None)
        return values

    return stored_columns, convert


def read(
    session: Session,
    shape: Shape,
    stmt: Select,
    *,
    inline_lists: bool = False,
    params: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The representations of the rows ``stmt`` selects (a ``select(Model)`` with its filters,
    order, limit and offset), in its order. Joined tables of the shape are aliases, so the
    filters' subqueries keep correlating to the model's own table only.

    ``inline_lists``: on PostgreSQL the lists come inside the objects' statement
    (``_nested``), one round trip in all. For one object (GET by id) that is the cheaper
    way; for a page of 100 VMs the correlated aggregates, run per row, cost PostgreSQL more
    than the round trips they save (bench/rest.py, docs/scale.md), so lists keep one
    statement per list for the whole page.

    ``params``: ``stmt`` is a statement built once with bound parameters (GET by id): the
    full statement is then built once too, and SQLAlchemy computes its cache key once
    (memoised on the object) instead of walking the whole tree on every request."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    inline = inline_lists and postgresql and _nested(shape) is not None
    full = _composed(shape, stmt, inline) if params is not None else _compose(shape, stmt, inline)
    if inline:
        return _read_nested(session, shape, full, params)
    return _fill(session, shape, full, params)


def _compose(shape: Shape, stmt: Select, inline: bool) -> Select:
    full = statement(shape, stmt)
    if inline:
        nested = _nested(shape)
        assert nested is not None
        full = full.add_columns(*nested.columns)
    return full


# Statements hash by identity: the callers' statements built once (crud's GET by id, one
# per resource), so the bound keeps a caller that builds them per request from growing it.
_composed = lru_cache(maxsize=256)(_compose)


def statement(shape: Shape, stmt: Select) -> Select:
    """The first statement of ``read``: the shape's columns over its joins, for the rows whose
    key ``stmt`` (a ``select(Model)`` with its filters, order by key, limit, offset) selects.

    The rows are narrowed in a subquery first: with the filters in the same statement as
    the joins, PostgreSQL joined every VM to its host and states before filtering (a
    sequential scan of ``vm`` for ?hypervisor=, tests/models/test_list_indexes.py)."""
    key = inspect(shape.table).mapper.primary_key[0]
    page = stmt.with_only_columns(key.label("key"), maintain_column_froms=False).subquery("page")
    return (
        select(*shape._plan.columns)
        .select_from(page)
        .join(shape.from_clause, key == page.c.key)
        .order_by(key)
    )


# --- PostgreSQL: an object and all its lists in one statement -----------------------------------
#
# The profile of GET one VM (bench/rest.py --profile) was mostly waiting on the database: seven
# statements (token, VM, interfaces, VLANs, addresses, disks, installs), each a round trip,
# for a 662-byte answer. Here each list is a column of its parent's row: a correlated
# ``json_agg`` of its children's rows as arrays (their own lists nested the same way). The
# values come back as JSON and are turned into what the driver gives for each column type
# (``_decoder``), then built by the very plans the portable path uses.


def _json_value(kind: Any) -> Callable[[Any], Any] | None | bool:
    """JSON value of a column of type ``kind`` → the driver's value: a function, None (the
    same value), or False (a type this module does not read from JSON)."""
    if isinstance(kind, TypeDecorator):
        inner = _json_value(kind.impl_instance)
        if inner is False:
            return False
        process = kind.process_result_value
        if inner is None:
            return lambda value: process(value, None)  # type: ignore[arg-type]
        return lambda value: process(inner(value), None)  # type: ignore[arg-type, misc]
    if isinstance(kind, LargeBinary):
        return lambda value: bytes.fromhex(value[2:])  # bytea as text: \\x0a000001
    if isinstance(kind, DateTime):
        return datetime.fromisoformat
    if isinstance(kind, Date):
        return date.fromisoformat
    if isinstance(kind, Uuid):
        return uuid.UUID if kind.as_uuid else None
    if isinstance(kind, Float) or not isinstance(kind, Numeric | Interval | Time):
        return None  # integer, text, boolean, enum, JSON, array, float: JSON says it as is
    return False


def _decoder(plan: _Plan) -> Callable[[Sequence[Any]], Sequence[Any]] | None:
    """From a child row as JSON to the values ``plan.build`` reads; None if a column's type
    has no JSON reading here (that shape keeps the portable path)."""
    steps = []
    for index, column in enumerate(plan.columns):
        convert = _json_value(column.type)
        if convert is False:
            return None
        if convert is not None:
            steps.append((index, convert))

    def decode(row: Sequence[Any]) -> Sequence[Any]:
        values = list(row)
        for index, convert in steps:
            if values[index] is not None:
                values[index] = convert(values[index])
        return values

    return decode


@dataclass
class _Nested:
    columns: list[Any]  # one JSON column per list of the plan, in plan.many order
    lists: list[tuple[str, Many, _Plan, Callable[[Sequence[Any]], Sequence[Any]], _Nested]]


def _key_column(shape: Shape, key: str) -> Any:
    column = shape.hidden.get(key, shape.fields.get(key))
    if not isinstance(column, ColumnElement | InstrumentedAttribute):
        raise TypeError(f"read shape: a list's key {key} must be a selected column")
    return column


@cache
def _nested(shape: Shape) -> _Nested | None:
    """The list columns of ``shape``'s statement (None: a list cannot be read as JSON)."""
    columns, lists = [], []
    for name, many in shape._plan.many:
        child = many.shape
        decode = _decoder(child._plan)
        inner = _nested(child)
        if decode is None or inner is None:
            return None
        parent = _key_column(shape, many.key)
        row = func.json_build_array(*(c.element for c in child._plan.columns), *inner.columns)
        ordered = aggregate_order_by(row, *many.order_by) if many.order_by else row
        aggregated = (
            select(func.json_agg(ordered))
            .select_from(child.from_clause)
            .where(many.parent == parent)
            .scalar_subquery()
        )
        columns.append(aggregated)
        lists.append((name, many, child._plan, decode, inner))
    return _Nested(columns, lists)


def _read_nested(
    session: Session, shape: Shape, stmt: Select, params: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Run ``stmt`` (``_composed``: the objects with their lists as JSON columns)."""
    nested = _nested(shape)
    assert nested is not None
    width = len(shape._plan.columns)
    out = []
    for row in session.execute(stmt, params):
        obj = shape._plan.build(row)
        _put_lists(nested, obj[0], row[width:])
        out.append(obj[0])
    return out


def _put_lists(nested: _Nested, out: dict[str, Any], values: Sequence[Any]) -> None:
    for (name, many, plan, decode, inner), rows in zip(nested.lists, values, strict=True):
        width = len(plan.columns)
        children = []
        for raw in rows or ():
            child = plan.build(decode(raw[:width]))
            _put_lists(inner, child[0], raw[width:])
            children.append(child)
        _put(out, name, many, children)
