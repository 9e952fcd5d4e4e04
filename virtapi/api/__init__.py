"""The REST API under /api/v1: flask-smorest blueprints, one per resource family."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from . import errors, guards


class VirtApi(Api):
    """flask-smorest's Api documenting our error shape instead of its own."""

    ERROR_SCHEMA = errors.ErrorSchema


def init_app(app: Flask) -> Api:
    app.config.setdefault("API_TITLE", "virtapi")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "https://cdn.jsdelivr.net/npm/swagger-ui-dist/")
    api = VirtApi(
        app,
        spec_kwargs={
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearerAuth": []}],
        },
    )
    errors.init_app(app)
    guards.init_app(app)
    for blueprint in blueprints():
        api.register_blueprint(blueprint)
    return api


def blueprints() -> list:
    """Every API blueprint; each resource module adds itself here."""
    from .changes import blp as changes
    from .compute import blp as compute
    from .config_management import blp as config_management
    from .installs import blp as installs
    from .meta import blp as meta
    from .network import blp as network
    from .nodes import blp as nodes
    from .operations import blp as operations
    from .storage import blp as storage
    from .tokens import blp as tokens
    from .transfer import blp as transfer
    from .vocabularies import blp as vocabularies

    return [
        meta,
        vocabularies,
        nodes,
        compute,
        network,
        storage,
        changes,
        installs,
        operations,
        tokens,
        transfer,
        config_management,
    ]
