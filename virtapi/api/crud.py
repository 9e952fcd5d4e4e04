"""The CRUD framework: one ``Resource`` declaration gives list, get, create, PATCH and delete.

A resource names its model, schemas, filters, roles and, for customer-owned objects, the SQL
condition that limits a customer to its own rows. Everything beyond plain column mapping goes
into hooks (create/update/delete), which call functions in ``virtapi.services``.

Rules every resource gets for free:

* lists are ``{"count", "next", "previous", "results"}``, ordered by primary key, with
  ``limit``/``offset`` and the declared filters; unknown query parameters answer 422;
* an object a customer may not see does not exist for it: 404 on read *and* write, before any
  role check, so a customer cannot even learn that another customer's object exists;
* every object response carries an ETag of its representation; PATCH/DELETE honour If-Match
  (412 when stale) under a row lock taken before the check, GET honours If-None-Match (304);
* one transaction per request, committed only when the whole change succeeded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from flask import Response, current_app, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema
from sqlalchemy import ColumnElement, Select, bindparam, inspect, select
from sqlalchemy.orm import Session

from ..auth import OPERATORS, READERS, Principal, current_principal, require
from ..db import get_session
from ..services.errors import Forbidden, InvalidInput, NotFound
from ..services.references import ensure_deletable
from .etag import check_if_match, etag_of, not_modified
from .fields import INT64_MAX
from .filters import Filter, apply_filters, query_schema
from .pagination import page_schema, paginate
from .reads import Shape, read

CreateHook = Callable[[Session, Principal, dict[str, Any]], Any]
UpdateHook = Callable[[Session, Principal, Any, dict[str, Any]], None]
DeleteHook = Callable[[Session, Principal, Any], None]
# The condition restricting a customer's view to its own rows, given its customer id.
CustomerScope = Callable[[int], ColumnElement[bool]]

ETAG_HEADER = {
    "ETag": {"description": "version of this representation", "schema": {"type": "string"}}
}
LOCATION_HEADER = {
    "Location": {"description": "URL of the new object", "schema": {"type": "string"}}
}
IF_MATCH = {
    "in": "header",
    "name": "If-Match",
    "required": False,
    "schema": {"type": "string"},
    "description": "ETag from a previous GET; a stale one answers 412 and changes nothing",
}
IF_NONE_MATCH = {
    "in": "header",
    "name": "If-None-Match",
    "required": False,
    "schema": {"type": "string"},
    "description": "ETag from a previous GET; answers 304 while the object is unchanged",
}


@dataclass
class Resource:
    """One REST resource under /api/v1/<path>."""

    path: str  # URL segment, plural and hyphenated: "virt-nodes"
    model: type
    schema: type[Schema]  # the representation returned
    title: str  # singular, for messages: "virt node"
    create_schema: type[Schema] | None = None  # None: no POST
    update_schema: type[Schema] | None = None  # None: no PATCH
    deletable: bool = True
    filters: Mapping[str, Filter] = field(default_factory=dict)
    read_roles: frozenset[str] = READERS
    write_roles: frozenset[str] = OPERATORS
    # Customers in read_roles see only rows matching this; None = every row (vocabularies).
    customer_scope: CustomerScope | None = None
    options: Sequence[Any] = ()  # loader options (selectinload …) so nesting costs no N+1
    # GET reads straight from Core rows in the schema's shape (reads.py); writes keep the ORM.
    shape: Shape | None = None
    create: CreateHook | None = None
    update: UpdateHook | None = None
    delete: DeleteHook | None = None
    description: str = ""

    @property
    def pk(self) -> Any:
        return inspect(self.model).primary_key[0]

    @property
    def endpoint(self) -> str:
        return self.path.replace("-", "_")

    def label(self, obj: Any) -> str:
        return f"{self.title} {inspect(obj).identity[0] if inspect(obj).identity else ''}".strip()


_REGISTRY: dict[type, Resource] = {}


def resource_for(model: type) -> Resource:
    return _REGISTRY[model]


# --- queries every view and hook shares ---------------------------------------------------------


def visible(resource: Resource, principal: Principal) -> Select:
    """The rows of ``resource`` this principal may see."""
    return _visible(resource, _scope_of(resource, principal))


def _scope_of(resource: Resource, principal: Principal) -> int | None:
    """The customer id that limits ``principal``'s view of ``resource``; None: every row."""
    if principal.is_customer and resource.customer_scope is not None:
        return principal.customer_id or 0
    return None


def _visible(resource: Resource, customer_id: int | None) -> Select:
    stmt = select(resource.model)
    if customer_id is not None:
        assert resource.customer_scope is not None
        stmt = stmt.where(resource.customer_scope(customer_id))
    return stmt


@cache
def _item_statement(model: type) -> Select:
    """GET by id of ``model``'s resource, every row visible, the id bound as ``key``: built
    once, so reads.read builds and keys its statement once. (A customer's view is built per
    request: one statement object per customer would fill memory.)"""
    resource = resource_for(model)
    return _visible(resource, None).where(resource.pk == bindparam("key", type_=resource.pk.type))


def load(
    session: Session,
    resource: Resource,
    principal: Principal,
    key: Any,
    *,
    lock: bool = False,
    field_name: str | None = None,
) -> Any:
    """One visible object by primary key, else NotFound (for customers: also others' objects)."""
    stmt = _by_key(resource, principal, key)
    obj = None
    if stmt is not None:
        stmt = stmt.options(*resource.options).execution_options(populate_existing=True)
        if lock:
            # Row lock from the ETag check to the commit (PostgreSQL; SQLite's BEGIN IMMEDIATE
            # already serialises writers). OF: eager outer joins must not be locked.
            stmt = stmt.with_for_update(of=resource.model)
        obj = session.scalars(stmt).unique().one_or_none()
    if obj is None:
        _not_found(resource, key, field_name)
    return obj


def represent(session: Session, resource: Resource, principal: Principal, key: Any) -> Any:
    """The JSON of one visible object, read by its shape (no ORM object), else NotFound."""
    assert resource.shape is not None
    rows = []
    if not isinstance(key, int) or 0 < key <= INT64_MAX:
        # One statement for the object and its lists (PostgreSQL), a round trip each otherwise.
        scope = _scope_of(resource, principal)
        if scope is None:
            stmt, params = _item_statement(resource.model), {"key": key}
            rows = read(session, resource.shape, stmt, inline_lists=True, params=params)
        else:
            stmt = _visible(resource, scope).where(resource.pk == key)
            rows = read(session, resource.shape, stmt, inline_lists=True)
    if not rows:
        _not_found(resource, key, None)
    return rows[0]


def _by_key(resource: Resource, principal: Principal, key: Any) -> Select | None:
    if isinstance(key, int) and not 0 < key <= INT64_MAX:
        return None
    return visible(resource, principal).where(resource.pk == key)


def _not_found(resource: Resource, key: Any, field_name: str | None) -> None:
    message = f"no {resource.title} with id {key}"
    errors = {field_name: [message]} if field_name else {}
    raise NotFound(message, errors=errors)


def load_ref(session: Session, principal: Principal, model: type, key: Any, field_name: str) -> Any:
    """A related object named by id in a request body, as visible to the caller (404 otherwise)."""
    return load(session, resource_for(model), principal, key, field_name=field_name)


def default_create(resource: Resource) -> CreateHook:
    def create(session: Session, principal: Principal, data: dict[str, Any]) -> Any:
        obj = resource.model(**data)
        session.add(obj)
        return obj

    return create


def default_update(session: Session, principal: Principal, obj: Any, data: dict[str, Any]) -> None:
    for key, value in data.items():
        setattr(obj, key, value)


def default_delete(resource: Resource) -> DeleteHook:
    def delete(session: Session, principal: Principal, obj: Any) -> None:
        ensure_deletable(session, obj, resource.label(obj))
        session.delete(obj)

    return delete


# --- responses ----------------------------------------------------------------------------------


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    resp = current_app.json.response(data)
    resp.status_code = status
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def _represent(resource: Resource, obj: Any) -> tuple[dict[str, Any], str]:
    data = resource.schema().dump(obj)
    return data, etag_of(data)


# --- registration -------------------------------------------------------------------------------


def document_errors(
    blp: Blueprint, *codes: int
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    names = {
        304: "NOT_MODIFIED",
        400: "BAD_REQUEST",
        401: "UNAUTHORIZED",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        409: "CONFLICT",
        412: "PRECONDITION_FAILED",
        422: "UNPROCESSABLE_ENTITY",
        429: "TOO_MANY_REQUESTS",
    }

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        # Every route authenticates, and a source with too many failed attempts gets 429.
        for code in (*codes, 429):
            view = blp.alt_response(code, response=names[code])(view)
        return view

    return decorator


def register(blp: Blueprint, resource: Resource) -> Resource:
    """Add the resource's routes to ``blp`` (whose url_prefix is /api/v1)."""
    _REGISTRY[resource.model] = resource
    r = resource
    tags = [r.path]
    name = "".join(part.title() for part in r.path.split("-"))
    any_roles = r.read_roles | r.write_roles
    page = page_schema(r.schema)
    query = query_schema(name, r.filters)
    create_hook = r.create or default_create(r)
    update_hook = r.update or default_update
    delete_hook = r.delete or default_delete(r)

    def list_(self: Any, args: dict[str, Any]) -> Response:
        principal = current_principal()
        session = get_session()
        stmt = apply_filters(visible(r, principal), r.filters, args).order_by(r.pk)
        page = (args["limit"], args["offset"], args.get("after"))
        if r.shape is not None:
            shape = r.shape
            result = paginate(
                session, stmt, *page, key=r.pk, rows=lambda s: read(session, shape, s)
            )
        else:
            result = paginate(session, stmt.options(*r.options), *page, key=r.pk)
            result["results"] = r.schema(many=True).dump(result["results"])
        return json_response(result)

    list_.__doc__ = (
        f"List {r.path}\n\nOrdered by id; paginated with limit/offset or keyset "
        f"`after=<last id>` (same cost on every page). {r.description}"
    )
    list_ = blp.arguments(query, location="query", unknown=RAISE, as_kwargs=False)(list_)
    list_ = blp.alt_response(200, schema=page, success=True, description="one page")(list_)
    list_ = document_errors(blp, 401, 403)(list_)
    methods: dict[str, Any] = {"get": require(r.read_roles)(list_)}

    if r.create_schema is not None:

        def create(self: Any, data: dict[str, Any]) -> Response:
            principal = current_principal()
            session = get_session()
            obj = create_hook(session, principal, data)
            session.flush()
            key = getattr(obj, r.pk.key)
            # The answer is read inside the transaction, then committed: a connection lost
            # after COMMIT can no longer turn a committed write into a 503 "retry".
            obj = load(session, r, principal, key)
            body, tag = _represent(r, obj)
            session.commit()
            location = url_for(f"{blp.name}.{r.endpoint}_item", id=key, _external=False)
            return json_response(body, 201, {"ETag": tag, "Location": location})

        create.__doc__ = f"Create a {r.title}"
        create = blp.arguments(r.create_schema)(create)
        create = blp.alt_response(
            201, schema=r.schema, success=True, headers={**ETAG_HEADER, **LOCATION_HEADER}
        )(create)
        create = document_errors(blp, 400, 401, 403, 404, 409)(create)
        methods["post"] = require(r.write_roles)(create)

    collection = type(f"{name}Collection", (MethodView,), methods)
    blp.route(f"/{r.path}", endpoint=f"{r.endpoint}_collection", tags=tags)(collection)

    def get(self: Any, id: int) -> Response:
        session, principal = get_session(), current_principal()
        if r.shape is not None:
            body = represent(session, r, principal, id)
            tag = etag_of(body)
        else:
            body, tag = _represent(r, load(session, r, principal, id))
        if not_modified(tag):
            return Response(status=304, headers={"ETag": tag})
        return json_response(body, 200, {"ETag": tag})

    get.__doc__ = f"Get one {r.title}"
    get = blp.alt_response(200, schema=r.schema, success=True, headers=ETAG_HEADER)(get)
    get = document_errors(blp, 304, 401, 403, 404)(get)
    get = blp.doc(parameters=[IF_NONE_MATCH])(get)
    item: dict[str, Any] = {"get": require(r.read_roles)(get)}

    def _locked(key: int) -> tuple[Session, Principal, Any]:
        """Look up first (404 for what the caller cannot see), then check the write role."""
        session, principal = get_session(), current_principal()
        obj = load(session, r, principal, key, lock=True)
        if principal.role not in r.write_roles:
            raise Forbidden(f"the {principal.role} role may not change {r.path}")
        if request.headers.get("If-Match"):
            check_if_match(_represent(r, obj)[1], r.label(obj))
        return session, principal, obj

    if r.update_schema is not None:

        def patch(self: Any, data: dict[str, Any], id: int) -> Response:
            if not request.get_data(cache=True).strip():
                # The document says the body is required; `{}` is the way to change nothing.
                raise InvalidInput(
                    "a JSON object body is required: the fields to change ({} changes nothing)",
                    errors={"json": ["missing body"]},
                )
            session, principal, obj = _locked(id)
            update_hook(session, principal, obj, data)
            session.flush()
            # Read inside the transaction, then commit (see create).
            obj = load(session, r, principal, id)
            body, tag = _represent(r, obj)
            session.commit()
            return json_response(body, 200, {"ETag": tag})

        patch.__doc__ = f"Change a {r.title}\n\nOnly the fields given change."
        patch = blp.arguments(r.update_schema)(patch)
        patch = blp.alt_response(200, schema=r.schema, success=True, headers=ETAG_HEADER)(patch)
        patch = document_errors(blp, 400, 401, 403, 404, 409, 412)(patch)
        patch = blp.doc(parameters=[IF_MATCH])(patch)
        item["patch"] = require(any_roles)(patch)

    if r.deletable:

        def delete(self: Any, id: int) -> Response:
            session, principal, obj = _locked(id)
            delete_hook(session, principal, obj)
            session.flush()
            session.commit()
            return Response(status=204)

        delete.__doc__ = f"Delete a {r.title}"
        delete = blp.alt_response(204, success=True, description="deleted")(delete)
        delete = document_errors(blp, 401, 403, 404, 409, 412)(delete)
        delete = blp.doc(parameters=[IF_MATCH])(delete)
        item["delete"] = require(any_roles)(delete)

    item_view = type(f"{name}Item", (MethodView,), item)
    blp.route(f"/{r.path}/<int:id>", endpoint=f"{r.endpoint}_item", tags=tags)(item_view)
    return resource
