"""GET /metrics (Prometheus text format) and GET /readyz.

/metrics needs a token of the reader role or above, except on the listener of its own that
VIRTAPI_METRICS_BIND adds (for a Prometheus that scrapes without credentials over a private
network); that listener serves nothing but /metrics, /healthz and /readyz.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from .. import auth
from ..config import current_settings, settings_of
from ..db import get_db, get_read_session, get_session
from . import metrics, readiness
from .inventory import InventoryCollector

bp = Blueprint("observability", __name__)
LISTENER_KEY = "virtapi.listener"
# The classic text format that every Prometheus 2.x parses; generate_latest writes it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_METRICS_LISTENER_ENDPOINTS = frozenset(
    {"observability.metrics_view", "observability.readyz", "healthz"}
)


class _StampListener:
    """Records which socket a request came in on before any proxy header can rewrite
    SERVER_NAME/SERVER_PORT (ProxyFix with x_host does)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ[LISTENER_KEY] = (environ.get("SERVER_NAME"), str(environ.get("SERVER_PORT")))
        return self.app(environ, start_response)


def parse_bind(bind: str) -> tuple[str, str]:
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"VIRTAPI_METRICS_BIND must be HOST:PORT, got {bind!r}")
    return host.strip("[]"), port


def on_metrics_listener() -> bool:
    bind = current_settings().metrics_bind
    return bool(bind) and request.environ.get(LISTENER_KEY) == parse_bind(bind)


def _only_observability_on_metrics_listener() -> None:
    if on_metrics_listener() and request.endpoint not in _METRICS_LISTENER_ENDPOINTS:
        abort(404)


def _max_lag() -> float:
    return current_settings().ready_max_replica_lag_seconds


def _exposition() -> Response:
    # Authentication has read (and committed what it writes); end its transaction, which on
    # SQLite holds the write lock (BEGIN IMMEDIATE) the readiness check's connection would wait on.
    get_session().rollback()
    registry = CollectorRegistry(auto_describe=True)
    if metrics.multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry = metrics.local_registry()
    registry.register(
        InventoryCollector(
            get_read_session(),
            int(current_app.config.get("NODE_STALE_SECONDS", 300)),
            readiness.check(get_db(), _max_lag()),
        )
    )
    return Response(generate_latest(registry), content_type=CONTENT_TYPE)


_guarded_exposition = auth.require(auth.READERS)(_exposition)


@bp.get("/metrics")
def metrics_view() -> Response:
    return _exposition() if on_metrics_listener() else _guarded_exposition()


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    result = readiness.check(get_db(), _max_lag())
    response = jsonify(result.as_json())
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if result.ready else 503


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    bind = settings_of(app).metrics_bind
    if bind:
        parse_bind(bind)  # a typo fails at start, not at the first scrape
        app.before_request(_only_observability_on_metrics_listener)
    app.wsgi_app = _StampListener(app.wsgi_app)  # type: ignore[method-assign]
