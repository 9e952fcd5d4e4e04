"""Metrics, structured logs and readiness: how operators see virtapi from outside.

`init_app` wires it into the application; code elsewhere moves metrics through the small
functions in `metrics` (observe_document_build, count_cache, count_refusal, feed_waiter, …).
"""

from __future__ import annotations

from flask import Flask

from ..config import settings_of
from . import dbevents, logs, requests, views


def init_app(app: Flask) -> None:
    """Call after db.init_app (the engines must exist) and before the blueprints, so that the
    request id and timer start before any other hook can refuse a request."""
    logs.configure(settings_of(app).log_format)
    requests.init_app(app)
    views.init_app(app)
    dbevents.instrument(app.extensions["virtapi.db"])
