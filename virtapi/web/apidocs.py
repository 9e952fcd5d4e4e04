"""Interactive API docs at /api/v1/docs, with Swagger UI from the swagger-ui-bundle package.

flask-smorest's own page loads Swagger UI from a CDN and starts it with an inline script: blank on
an offline datacenter network, and at odds with a strict CSP. This page serves the files the
package ships and starts Swagger UI from our own static script.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, render_template, send_from_directory
from swagger_ui_bundle import swagger_ui_path

bp = Blueprint("apidocs", __name__, template_folder="templates", url_prefix="/api/v1/docs")

# Only what the page loads: the package also ships source maps and ES bundles nobody asks for.
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"})

# Swagger UI sets style attributes and draws its icons from data: URLs; scripts stay our own.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


@bp.get("")
def page() -> Response:
    resp = Response(render_template("apidocs.html"))
    resp.headers["Content-Security-Policy"] = CSP
    return resp


@bp.get("/assets/<name>")
def asset(name: str) -> Response:
    if name not in ASSETS:
        return Response("not found", status=404, mimetype="text/plain")
    resp = send_from_directory(swagger_ui_path, name, max_age=86400)
    resp.headers["Content-Security-Policy"] = CSP
    return resp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
