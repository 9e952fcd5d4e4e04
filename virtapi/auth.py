"""Who is asking: Bearer tokens for the API, a server-side session for the HTML pages."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from flask import Flask, current_app, g, request, session
from sqlalchemy.exc import DBAPIError
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import TooManyRequests, Unauthorized

from .config import current_settings
from .db import ACTOR, close_quietly, get_db, get_session
from .services import ratelimit, tokens
from .services.audit import set_actor
from .services.errors import Forbidden

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)
USAGE = "virtapi.token_usage"

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
    # The secrets scope (ApiToken.secrets): Ceph keys in node documents, storing them.
    secrets: bool = False

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


def resolve_principal(lookup: tokens.TokenLookup | None = None) -> Principal | None:
    """The authenticated caller of this request, looked up once.

    One SELECT for a valid token: failures are throttled, valid tokens never are, and the
    token's last use is written later in a batch (``UsageLog``), outside this transaction.
    ``lookup`` reads the token row instead of the plain SELECT (config management folds it
    into the statement it needs anyway); every check after it is the same.
    """
    if "principal" in g:
        return g.principal
    # Settled before looking: an error page rendered for a refusal below must not authenticate
    # (and count a failure, and be refused) a second time.
    g.principal = None
    plaintext = _bearer()
    if plaintext:
        row = authenticate(plaintext, lookup)
    elif session.get("sid"):
        # A stale browser session is not a guess: no failure is counted, the page asks to sign in.
        row = tokens.session_token(get_session(), session["sid"])
        if row is not None:
            current_app.extensions[USAGE].note(row)
    else:
        row = None
    if row is not None:
        principal = Principal(row.id, row.name, row.role, row.customer_id, bool(row.secrets))
        actor = (row.id, principal.label)
        setattr(g, ACTOR, actor)
        if "db_session" in g:  # else get_session labels the session when one is needed
            set_actor(g.db_session, *actor)
        g.principal = principal
    return g.principal


def authenticate(plaintext: str, lookup: tokens.TokenLookup | None = None) -> Any:
    """The live token for ``plaintext`` (an ApiToken, or the row ``lookup`` read); a failure
    is counted per source address, and past the limit answered 429 instead of 401.

    Shared by Bearer requests and the HTML login form, so both count against one limit.
    """
    # With a lookup (config management) a valid token needs no ORM Session at all.
    row = tokens.authenticate(None if lookup else get_session(), plaintext, lookup=lookup)
    if row is not None:
        current_app.extensions[USAGE].note(row)
        return row
    if not tokens.could_be_token(plaintext):
        # Not a guess at a token (no prefix, or too long): it can match nothing, so counting it
        # defends nothing; a scanner's probes (schemathesis sends one per operation) stay 401.
        return None
    source = request.remote_addr or "unknown"
    db = get_session()
    wait = ratelimit.record_failure(db, source, _policy())
    db.commit()
    if wait is not None:
        raise TooManyRequests(
            f"too many failed authentication attempts from {source}; retry in {wait} s "
            "(a valid token is still accepted)",
            retry_after=wait,
        )
    return None


def _write_usage(_exc: BaseException | None) -> None:
    usage: tokens.UsageLog = current_app.extensions[USAGE]
    if not usage:
        return
    if "db_session" in g:
        # The request's transaction ends first: on SQLite every transaction holds the write lock.
        close_quietly(g.db_session)
    try:
        with get_db().session() as db:
            usage.flush(db)
    except DBAPIError:
        # Bookkeeping only: a database hiccup here must not turn a served request into an error.
        log.warning("could not record token use", exc_info=True)


def init_app(app: Flask) -> None:
    app.extensions[USAGE] = tokens.UsageLog()
    app.teardown_request(_write_usage)


def current_principal() -> Principal:
    principal = resolve_principal()
    if principal is None:
        raise Unauthorized(
            "authentication required: send 'Authorization: Bearer <token>' "
            "(create one with 'virtapi token create')",
            www_authenticate=WWWAuthenticate("bearer"),
        )
    return principal


def require_secrets(principal: Principal, what: str) -> None:
    """Refuse (403) a principal without the secrets scope."""
    if not principal.secrets:
        raise Forbidden(
            f"{what} needs a token with the secrets scope "
            "(`virtapi token create --secrets`, or POST /api/v1/tokens with secrets: true)"
        )


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
