"""Form posts run through the same resource hooks as the REST API, with errors kept per field.

A view turns the form into the JSON body the API would get, then calls ``create``, ``update``
or ``delete`` here: the resource's own marshmallow schema validates it and the resource's own
hook (a function in ``virtapi.services``) applies it, so no rule lives twice. Failures come back
as an ``Outcome`` with a message and messages per form field, and the transaction rolled back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import values
from ..api import crud
from ..api.etag import etag_of
from ..db import get_session
from ..services.errors import DomainError, Forbidden, InvalidInput
from . import login

GIB = 1024**3
FORM_ERROR_STATUS = 422  # the form comes back with the messages next to its fields


@dataclass
class Outcome:
    obj: Any = None
    message: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)
    stale: bool = False

    @property
    def ok(self) -> bool:
        return not self.message and not self.errors and not self.stale


def flatten(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """Nested marshmallow/service errors as ``{"disks.0.size": [...]}`` (``disks[0]`` too)."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = re.sub(r"\[(\d+)\]", r".\1", str(key))
            flat.update(flatten(value, f"{prefix}{name}" if not prefix else f"{prefix}.{name}"))
    elif isinstance(errors, list | tuple) and all(isinstance(e, str) for e in errors):
        flat.setdefault(prefix or "_", []).extend(errors)
    elif isinstance(errors, list | tuple):
        for item in errors:
            for key, value in flatten(item, prefix).items():
                flat.setdefault(key, []).extend(value)
    else:
        flat.setdefault(prefix or "_", []).append(str(errors))
    return flat


def run(work: Callable[[Session], Any]) -> Outcome:
    """``work`` in this request's transaction: committed on success, rolled back on any error."""
    session = get_session()
    try:
        obj = work(session)
        session.flush()
        session.commit()
        return Outcome(obj=obj)
    except ValidationError as exc:
        session.rollback()
        errors = flatten(exc.messages)
        for key, value in _inputs(exc.data).items():
            if isinstance(value, Unparsed) and key in errors:
                errors[key] = [value.problem]  # "no size: …" says more than "not an integer"
        return Outcome(message="Please correct the marked fields.", errors=errors)
    except DomainError as exc:
        session.rollback()
        return Outcome(message=exc.message, errors=flatten(exc.errors))
    except IntegrityError:
        session.rollback()
        return Outcome(message="This conflicts with an existing object (a name or address in use).")


def _caller() -> Any:
    return login.principal()


def field_error(name: str, message: str) -> InvalidInput:
    return InvalidInput(message, errors={name: [message]})


def writable(resource: crud.Resource) -> None:
    """The API's role check for writing ``resource`` (readers see the pages, never change)."""
    if _caller().role not in resource.write_roles:
        raise Forbidden(f"the {_caller().role} role may not change {resource.path}")


def etag(resource: crud.Resource, obj: Any) -> str:
    """The ETag the API sends for ``obj``: forms carry it back so stale edits are caught."""
    return etag_of(resource.schema().dump(obj))


def create(resource: crud.Resource, body: dict[str, Any]) -> Outcome:
    def work(session: Session) -> Any:
        assert resource.create_schema is not None
        writable(resource)
        data = resource.create_schema().load(body)
        hook = resource.create or crud.default_create(resource)
        return hook(session, _caller(), data)

    return run(work)


Version = Callable[[Any], str]


def update(
    resource: crud.Resource,
    key: Any,
    body: dict[str, Any],
    sent_etag: str | None,
    version: Version | None = None,
) -> Outcome:
    """PATCH semantics; a stale ``sent_etag`` changes nothing and says so (the form re-shows).

    ``version`` is what the form's ETag was made of: the API representation unless a page
    states a cheaper one that still changes with every edit of the object.
    """
    version_of = version or (lambda obj: etag(resource, obj))

    def work(session: Session) -> Any:
        assert resource.update_schema is not None
        obj = crud.load(session, resource, _caller(), key, lock=True)
        writable(resource)
        if sent_etag is not None and sent_etag != version_of(obj):
            raise _Stale  # None: a one-click action on current values, as PATCH without If-Match
        data = resource.update_schema().load(body)
        (resource.update or crud.default_update)(session, _caller(), obj, data)
        return obj

    return _stale_aware(work)


def delete(
    resource: crud.Resource, key: Any, sent_etag: str | None = None, version: Version | None = None
) -> Outcome:
    version_of = version or (lambda obj: etag(resource, obj))

    def work(session: Session) -> Any:
        obj = crud.load(session, resource, _caller(), key, lock=True)
        writable(resource)
        if sent_etag is not None and sent_etag != version_of(obj):
            raise _Stale
        (resource.delete or crud.default_delete(resource))(session, _caller(), obj)
        return None

    return _stale_aware(work)


class _Stale(Exception):
    pass


STALE_MESSAGE = (
    "Someone changed this since you opened the form; nothing was saved. "
    "The current values are shown below: check them and submit again."
)


def _stale_aware(work: Callable[[Session], Any]) -> Outcome:
    try:
        return run(work)
    except _Stale:
        get_session().rollback()
        return Outcome(message=STALE_MESSAGE, stale=True)


# --- form values into API values ----------------------------------------------------------------


def text(form: Any, name: str) -> str | None:
    value = (form.get(name) or "").strip()
    return value or None


def integer(form: Any, name: str) -> Any:
    """An int when it is one; else the raw text, for the schema to reject next to the field."""
    value = text(form, name)
    if value is None:
        return None
    return int(value) if value.isdigit() and len(value) < 20 else value


def integers(form: Any, name: str) -> list[Any]:
    """Every value of a multi-select (VLAN ids), each as ``integer`` reads it."""
    return [integer({"v": v}, "v") for v in form.getlist(name) if v]


class Unparsed(str):
    """Form text a form-side parser refused: passed on as typed, so the API's schema rejects
    it next to the field, where ``run`` shows the parser's message instead of the schema's."""

    problem: str

    def __new__(cls, value: str, problem: str) -> Unparsed:
        obj = super().__new__(cls, value)
        obj.problem = problem
        return obj


def _inputs(data: Any, prefix: str = "") -> dict[str, Any]:
    """A body as ``{"disks.0.size": value}``, the keys ``flatten`` gives its errors."""
    if isinstance(data, dict):
        items: Any = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in items:
        out.update(_inputs(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def size(form: Any, name: str, unit: int = GIB, minimum: int = 0) -> Any:
    """A size as typed ("20G", "512M", "1.5"; a bare number in ``unit``) in bytes; the text
    as ``Unparsed`` when it is none."""
    value = text(form, name)
    return None if value is None else parsed_size(value, unit, minimum)


def parsed_size(value: str, unit: int = 1, minimum: int = 0) -> Any:
    try:
        return values.parse_size_text(value, unit, minimum)
    except values.InvalidValue as exc:
        return Unparsed(value, str(exc))


def present(**values: Any) -> dict[str, Any]:
    """Only the fields the form filled in (an empty field means "not given", as in PATCH)."""
    return {k: v for k, v in values.items() if v is not None}
