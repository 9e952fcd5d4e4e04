"""Server-rendered HTML pages for people: fleet, nodes, VMs, networks, change log.

Same tokens and roles as the API; customers see only their own VMs and changes.
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",
)


def init_app(app: Flask) -> None:
    from . import apidocs, drift, restores, storage_forms, views  # noqa: F401 - register the routes on bp

    app.register_blueprint(bp)
    apidocs.init_app(app)
