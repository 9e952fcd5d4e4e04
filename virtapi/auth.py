"""Who is asking: Bearer tokens for the API, a signed session cookie for the HTML pages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from flask import g, request, session
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import TooManyRequests, Unauthorized

from .config import current_settings
from .db import get_session
from .models import ApiToken
from .services import ratelimit, tokens
from .services.audit import set_actor
from .services.errors import Forbidden

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


def _policy() -> ratelimit.Policy:
    return ratelimit.Policy(
        max_failures=current_settings().auth_max_failures,
        window=timedelta(seconds=current_settings().auth_failure_window_seconds),
    )


def resolve_principal() -> Principal | None:
    """The authenticated caller of this request, looked up once.

    A source address with too many failed attempts gets 429 for the rest of the window, valid
    token or not, so guessing cannot go on behind one lucky success.
    """
    if "principal" in g:
        return g.principal
    plaintext = _bearer() or session.get("token")
    principal = None
    if plaintext:
        row = authenticate(plaintext)
        if row is not None:
            db = get_session()
            principal = Principal(row.id, row.name, row.role, row.customer_id)
            set_actor(db, row.id, principal.label)
            if tokens.touch(row):
                db.commit()
    g.principal = principal
    return principal


def authenticate(plaintext: str) -> ApiToken | None:
    """The live token for ``plaintext`` under the per-source failure limit (429 when exceeded).

    Shared by Bearer requests and the HTML login form, so both count against one limit.
    """
    db = get_session()
    source = request.remote_addr or "unknown"
    wait = ratelimit.blocked_for(db, source, _policy())
    if wait is not None:
        raise TooManyRequests(
            f"too many failed authentication attempts from {source}; retry in {wait} s",
            retry_after=wait,
        )
    row = tokens.authenticate(db, plaintext)
    if row is None:
        _count_failure(db, source)
    return row


def _count_failure(db: Session, source: str) -> None:
    try:
        ratelimit.record_failure(db, source, _policy())
        db.commit()
    except IntegrityError:
        # Two first failures from one source raced to insert its row; one goes uncounted.
        db.rollback()


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
    """Allow the view only to the given roles: 401 without a valid token, 403 with another role.

    The one role check of every API view. Put it outermost (above ``blp.arguments``) so that
    a stranger is refused before any argument parsing and learns nothing from a 422.
    """

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            if principal.role not in roles:
                raise Forbidden(f"the {principal.role} role may not do this")
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator
