"""One JSON error shape for every failure: {"status", "code", "message", "errors"}."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Flask, Response, jsonify
from marshmallow import Schema, fields
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from ..db import get_session
from ..services.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Gone,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    QuotaExceeded,
)

log = logging.getLogger(__name__)

STATUS = {
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    Forbidden: 403,
    QuotaExceeded: 403,
    PreconditionFailed: 412,
    Gone: 410,
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    428: "precondition_required",
    429: "too_many_requests",
}


class ErrorSchema(Schema):
    """The body of every error response (documents the shape; error_response builds it)."""

    status = fields.Integer(required=True, metadata={"description": "HTTP status"})
    code = fields.String(required=True, metadata={"description": "short machine-readable code"})
    message = fields.String(required=True, metadata={"description": "what went wrong, for people"})
    errors = fields.Dict(
        required=True,
        metadata={"description": "per-field messages (field → list of messages), may be empty"},
    )


def error_response(
    status: int, code: str, message: str, errors: dict[str, Any] | None = None
) -> Response:
    resp = jsonify({"status": status, "code": code, "message": message, "errors": errors or {}})
    resp.status_code = status
    return resp


def _domain_error(exc: DomainError) -> Response:
    status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
    return error_response(status, exc.code, exc.message, exc.errors)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    errors = data.get("messages") or {}
    if status == 422 and errors:
        # webargs nests by location (json, query, …); a client wants field → messages.
        flat: dict[str, Any] = {}
        for location in errors.values():
            flat.update(location if isinstance(location, dict) else {"_schema": location})
        message = "the request has invalid fields: " + ", ".join(sorted(flat))
        return error_response(422, "invalid", message, flat)
    if status == 400 and errors:
        return error_response(400, "bad_request", "the request body could not be read", errors)
    message = exc.description or exc.name
    resp = error_response(status, _HTTP_CODES.get(status, "error"), message)
    for header in ("WWW-Authenticate", "Allow", "Retry-After"):
        value = exc.get_response().headers.get(header)
        if value:
            resp.headers[header] = value
    return resp


_PG_UNIQUE = re.compile(r"Key \((?P<cols>[^)]*)\)=\((?P<vals>.*)\) already exists")
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<cols>.*)")


def integrity_message(exc: IntegrityError) -> tuple[str, str, dict[str, Any]]:
    """(code, message, errors) for a constraint violation the database caught."""
    text = str(exc.orig)
    m = _PG_UNIQUE.search(text) or _SQLITE_UNIQUE.search(text)
    if m:
        cols = [c.strip().split(".")[-1] for c in m.group("cols").split(",")]
        return (
            "duplicate",
            f"an object with this {', '.join(cols)} already exists",
            {c: ["already in use"] for c in cols},
        )
    if "FOREIGN KEY" in text.upper() or "foreign key" in text:
        return (
            "reference",
            "the change refers to an object that does not exist, or removes one still in use",
            {},
        )
    if "CHECK" in text.upper():
        name = re.search(r"ck_\w+", text)
        return "constraint", f"a value is out of range ({name.group(0) if name else 'check'})", {}
    if "NOT NULL" in text.upper() or "null value" in text:
        return "constraint", "a required value is missing", {}
    return "constraint", "the change violates a database constraint", {}


def _integrity_error(exc: IntegrityError) -> Response:
    get_session().rollback()
    code, message, errors = integrity_message(exc)
    return error_response(409, code, message, errors)


# SQLSTATE class 40: serialization failure and deadlock. PostgreSQL rolled the transaction
# back; nothing was written, and the same request can simply be sent again.
_CONFLICT_STATES = frozenset({"40001", "40P01"})


def is_transaction_conflict(exc: DBAPIError) -> bool:
    """The database aborted the transaction for a concurrent one (not for being down)."""
    # psycopg2 names the SQLSTATE pgcode, psycopg 3 sqlstate.
    state = getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None)
    return isinstance(exc, OperationalError) and state in _CONFLICT_STATES


def _retry() -> Response:
    return error_response(409, "retry", "a concurrent change interfered; retry the request")


def _db_error(exc: DBAPIError) -> Response:
    get_session().rollback()
    if isinstance(exc, DataError):
        # The schemas range-check input; this is the safety net for a value they let through.
        log.warning("database refused a value: %s", exc.orig)
        return error_response(422, "invalid", "a value is out of range or malformed for its field")
    if is_transaction_conflict(exc):
        return _retry()
    log.exception("database error")
    resp = error_response(503, "database_unavailable", "the database did not answer; retry later")
    # Clients (virtapi-enc, the pillar module, curl --retry) wait this long and try again.
    resp.headers["Retry-After"] = "1"
    return resp


def _stale(exc: StaleDataError) -> Response:
    # Another request changed or removed the row between this one reading and writing it (two
    # cancels of one install at once): the same answer as a serialization failure.
    get_session().rollback()
    return _retry()


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error")
    return error_response(500, "internal_error", "internal error; it has been logged")


def init_app(app: Flask) -> None:
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(IntegrityError, _integrity_error)
    app.register_error_handler(DBAPIError, _db_error)
    app.register_error_handler(StaleDataError, _stale)
    app.register_error_handler(Exception, _unexpected)
