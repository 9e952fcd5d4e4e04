"""Network installs: iPXE scripts and installimage configs (render), machine endpoints (views)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from .views import bp

    app.register_blueprint(bp)
