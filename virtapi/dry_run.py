"""``?dry_run=true`` on every writing request under /api/v1: the same view, rolled back.

Before the view runs, the request authenticates on an ordinary session (so failed attempts
still count against the limit), then its session is swapped for one bound to a connection
whose outer transaction is never committed: the view's ``session.commit()`` only releases a
savepoint (``join_transaction_mode="create_savepoint"``). A savepoint taken before the view
is rolled back afterwards to read the documents as they were, on the same connection
(SQLite has one writer: a second connection would wait on this one). Everything the commit hooks do
(change log, affected certnames, version step) happens inside that transaction, and is
rolled back with it: no change-log row, no version step, no feed entry, no cache change.

The answer is ``200 {"dry_run": true, "status", "result", "affected", "documents"}``, with a
JSON Patch per affected certname from the committed document to the one the write would
give. Errors answer exactly as the real call would. Customers get the patches of their own
VMs only: a hypervisor's document lists other customers' VMs.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from .auth import resolve_principal
from .config import current_settings
from .db import ACTOR, get_db
from .models import ChangeNode
from .services.affected import EVERYTHING
from .services.audit import pending_affected
from .services.change_feed import changes_since
from .services.dry_run import documents, patches
from .services.errors import InvalidInput

WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no", ""})


def _wanted() -> bool:
    if request.method not in WRITES or not request.path.startswith("/api/v1/"):
        return False
    raw = request.args.get("dry_run")
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidInput("dry_run must be true or false", errors={"dry_run": ["not a boolean"]})


def _begin() -> None:
    if not _wanted():
        return
    principal = resolve_principal()  # on the ordinary session: failures are counted
    ordinary: Session | None = g.pop("db_session", None)
    actor = g.get(ACTOR)
    if ordinary is not None:
        ordinary.close()
    conn = get_db().engine.connect()
    outer = conn.begin()
    version = changes_since(conn, None).version or 0
    g.dry_run = (conn, outer, conn.begin_nested(), version, principal)
    session = _session(conn)
    if actor is not None:
        session.info["actor"] = actor
    g.db_session = session


def _session(conn: Any) -> Session:
    return Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)


def _answer(response: Response) -> Response:
    state = g.get("dry_run")
    if state is None:
        return response
    conn, _, before_view, version, principal = state
    if response.status_code >= 400 or response.status_code < 200:
        return response
    session: Session = g.db_session
    affected = set(
        session.execute(select(ChangeNode.certname).where(ChangeNode.version > version)).scalars()
    )
    affected |= pending_affected(session) or set()
    affected.discard(EVERYTHING)
    environment = current_settings().puppet_environment
    after = documents(session, sorted(affected), environment)
    session.close()
    before_view.rollback()  # back to the data as committed
    with _session(conn) as reader:
        before = documents(reader, sorted(affected), environment)
    customer = principal.customer_id if principal is not None and principal.is_customer else None
    body = {
        "dry_run": True,
        "status": response.status_code,
        "result": response.get_json(silent=True),
        "affected": sorted(affected),
        "documents": patches(before, after, customer),
    }
    return jsonify(body)


def _end(_exc: BaseException | None) -> None:
    state = g.pop("dry_run", None)
    if state is None:
        return
    conn, outer, _, _, _ = state
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
    outer.rollback()
    conn.close()


def init_app(app: Flask) -> None:
    # After the API's body checks (registered earlier), before any view.
    app.before_request(_begin)
    app.after_request(_answer)
    app.teardown_request(_end)
