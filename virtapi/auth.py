"""Who is asking: Bearer tokens for the API, a signed session cookie for the HTML pages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import g, request, session
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized

from .db import get_session
from .services import tokens
from .services.audit import set_actor

F = TypeVar("F", bound=Callable[..., Any])

ADMIN = frozenset({"admin"})
OPERATORS = frozenset({"admin", "operator"})
READERS = frozenset({"admin", "operator", "reader"})
EVERYONE = frozenset({"admin", "operator", "reader", "customer"})
CUSTOMERS_AND_OPERATORS = frozenset({"admin", "operator", "customer"})


@dataclass(frozen=True)
class Principal:
    token_id: int
    name: str
    role: str
    customer_id: int | None

    @property
    def is_customer(self) -> bool:
        return self.role == "customer"

    @property
    def label(self) -> str:
        return f"token:{self.token_id}:{self.name}" if self.name else f"token:{self.token_id}"


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def resolve_principal() -> Principal | None:
    """The authenticated caller of this request, looked up once."""
    if "principal" in g:
        return g.principal
    plaintext = _bearer() or session.get("token")
    principal = None
    if plaintext:
        db = get_session()
        row = tokens.authenticate(db, plaintext)
        if row is not None:
            principal = Principal(row.id, row.name, row.role, row.customer_id)
            set_actor(db, row.id, principal.label)
            if tokens.touch(row):
                db.commit()
    g.principal = principal
    return principal


def current_principal() -> Principal:
    principal = resolve_principal()
    if principal is None:
        raise Unauthorized(
            "authentication required: send 'Authorization: Bearer <token>' "
            "(create one with 'virtapi token create')",
            www_authenticate=WWWAuthenticate("bearer"),
        )
    return principal


def require(roles: frozenset[str]) -> Callable[[F], F]:
    """Allow the view only to the given roles: 401 without a valid token, 403 with another role."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            if principal.role not in roles:
                raise Forbidden(f"the {principal.role} role may not do this")
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator
