"""Per-request bookkeeping: the request id, the request metrics, the JSON request log line."""

from __future__ import annotations

import os
import re
import time
from typing import Any

from flask import Flask, Response, g, request

from ..config import current_settings
from ..pxe.redact import redact
from . import logs, metrics

REQUEST_ID_HEADER = "X-Request-Id"
# What a proxy or client may hand us as its own id: short, and nothing a log parser could trip on.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_from(header: str | None) -> str:
    """The caller's id when it is safe to log and echo, else a new one."""
    if header and _VALID_REQUEST_ID.fullmatch(header):
        return header
    # 32 random hex digits like uuid4().hex, without building a UUID (8× cheaper, every request).
    return os.urandom(16).hex()


def route_label() -> str:
    """The matched route's template (``/api/v1/vms/<int:vm_id>``), never the path itself."""
    rule = request.url_rule
    return rule.rule if rule is not None else metrics.UNMATCHED_ROUTE


def auth_failure_reason(status: int) -> str | None:
    """Why authentication or authorisation refused this request, read from its outcome (so the
    auth code itself needs no metrics)."""
    if status == 401:
        return "invalid_token" if request.headers.get("Authorization") else "missing_token"
    if status == 403:
        return "forbidden"
    if status == 429:
        return "rate_limited"
    return None


def _begin() -> None:
    g.request_started = time.perf_counter()
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))


def _finish(response: Response) -> Response:
    if "request_id" not in g:  # a hook before ours refused the request
        _begin()
    response.headers[REQUEST_ID_HEADER] = g.request_id
    elapsed = time.perf_counter() - g.request_started
    route, status = route_label(), response.status_code
    metrics.observe_request(request.method, route, status, elapsed)
    reason = auth_failure_reason(status)
    if reason:
        metrics.count_auth_failure(reason)
    if current_settings().log_format == "json":
        principal: Any = g.get("principal")
        logs.log_request(
            {
                "method": request.method,
                "route": route,
                "path": redact(request.path),
                "status": status,
                "duration_ms": round(elapsed * 1000, 3),
                "remote_addr": request.remote_addr,
                "token_id": getattr(principal, "token_id", None),
                "customer_id": getattr(principal, "customer_id", None),
            }
        )
    return response


def init_app(app: Flask) -> None:
    app.before_request(_begin)
    app.after_request(_finish)
