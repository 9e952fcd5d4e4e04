"""Look up rows by what people call them: vocabulary rows by name, VMs by UUID, nodes by
id or fqdn. Each lookup is written once here; services, API and pages all use it."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from ..models import Node, Vm
from .errors import InvalidInput, NotFound

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


# Ids beyond 64 bits exist nowhere, and the drivers refuse to even bind them.
_MAX_ID = 2**63 - 1


def vm_by_uuid(
    session: Session,
    ref: str | uuidlib.UUID,
    customer_id: int | None = None,
    query: Select[Any] | None = None,
) -> Vm:
    """The VM with UUID ``ref`` (a UUID or its text).

    With ``customer_id`` another customer's VM is reported exactly like a missing one.
    ``query`` (a ``select(Vm)`` with loader options) says what to load along with it.
    """
    try:
        key = ref if isinstance(ref, uuidlib.UUID) else uuidlib.UUID(str(ref))
    except ValueError:
        raise NotFound(f"no VM with uuid {ref!r}") from None
    query = (select(Vm) if query is None else query).where(Vm.uuid == key)
    if customer_id is not None:
        query = query.where(Vm.customer_id == customer_id)
    vm = session.scalars(query).first()
    if vm is None:
        raise NotFound(f"no VM with uuid {key}")
    return vm


def node_by_ref(
    session: Session,
    ref: str | int,
    query: Select[Any] | None = None,
    *,
    short_name: bool = False,
    what: str = "node",
) -> Any:
    """The node with id ``ref`` (all digits) or fqdn ``ref``; with ``short_name`` also the
    only one whose fqdn starts with ``ref.``.

    ``query`` selects what to return for it (default ``select(Node)``; e.g. its VirtNode
    joined to Node, or Node with loader options). ``what`` names it in the 404.
    """
    text = str(ref).strip()
    query = select(Node) if query is None else query
    criterion = node_ref_criterion(ref)
    row = None if criterion is None else session.scalars(query.where(criterion)).first()
    if row is None and short_name and not text.isdigit():
        fqdn = text.lower()
        matches = session.scalars(
            query.where(Node.fqdn.startswith(fqdn + ".", autoescape=True)).limit(2)
        ).all()
        row = matches[0] if len(matches) == 1 else None
    if row is None:
        raise node_not_found(ref, what)
    return row


def node_ref_criterion(ref: str | int) -> ColumnElement[bool] | None:
    """The WHERE clause for node ``ref``: its id (all digits) or its fqdn (any case, spaces
    trimmed); None for an id no row can have (beyond 64 bits: the drivers refuse to bind it)."""
    text = str(ref).strip()
    if text.isdigit():
        node_id = int(text)
        return Node.id == node_id if node_id <= _MAX_ID else None
    return Node.fqdn == text.lower()


def node_not_found(ref: str | int, what: str = "node") -> NotFound:
    text = str(ref).strip()
    if text.isdigit():
        return NotFound(f"no {what} with id {text}", errors=_field(what))
    return NotFound(f"no {what} {text!r}", errors=_field(what))


def _field(what: str) -> dict[str, list[str]] | None:
    # A node asked for in some role is a field of the request (e.g. "hypervisor").
    return None if what == "node" else {what: [f"not a {what}"]}
