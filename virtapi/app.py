"""The application factory."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import api, auth, db, dry_run, observability, pxe, web
from .config import install, load_settings, split_overrides
from .web import login as web_login


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=False)
    settings, flask_config = split_overrides(load_settings(), overrides or {})
    install(app, settings)
    app.config.update(flask_config)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    logging.basicConfig(level=logging.INFO)
    db.init_app(app)
    auth.init_app(app)
    observability.init_app(app)  # before the blueprints: request id and timer first
    api.init_app(app)
    dry_run.init_app(app)  # after the API's body checks
    web.init_app(app)
    web_login.init_app(app)  # server-side sessions
    pxe.init_app(app)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
