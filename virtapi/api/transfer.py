"""Bulk import and export of the whole inventory (the document of services/transfer.py)."""

from __future__ import annotations

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.exceptions import UnsupportedMediaType

from ..auth import OPERATORS, READERS, require
from ..db import get_read_session, get_session
from ..services import transfer
from ..services.errors import InvalidInput
from .fields import RULE

blp = Blueprint("transfer", __name__, url_prefix="/api/v1", description="Bulk import and export")

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


def _body_format() -> str:
    mimetype = request.mimetype
    if mimetype == "application/json":
        return "json"
    if mimetype in YAML_TYPES:
        return "yaml"
    raise UnsupportedMediaType(
        "send the document as application/json or application/yaml "
        f"(got {mimetype or 'no Content-Type'})"
    )


_DOCUMENT = {
    "type": "object",
    "description": "an inventory document, version 1 (docs/scale.md)",
    "required": ["version"],
    "properties": {"version": {"type": "integer", "enum": [transfer.FORMAT_VERSION]}},
    RULE: "the document's objects must be valid and their references resolve (docs/scale.md)",
}

_IMPORT_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _DOCUMENT},
            "application/yaml": {"schema": _DOCUMENT},
        },
    },
    "responses": {
        "201": {
            "description": "imported; counts per kind of object",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["message", "imported"],
                        "properties": {
                            "message": {"type": "string"},
                            "imported": {
                                "type": "object",
                                "additionalProperties": {"type": "integer"},
                            },
                        },
                    }
                }
            },
        },
        "415": {"description": "not application/json or application/yaml"},
    },
}

_EXPORT_DOC = {
    "parameters": [
        {
            "name": "format",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": list(transfer.FORMATS)},
        }
    ],
    "responses": {
        "200": {
            "description": "the whole inventory as an import document",
            "content": {
                "application/json": {"schema": _DOCUMENT},
                "application/yaml": {"schema": _DOCUMENT},
            },
        }
    },
}


@blp.route("/import")
class Import(MethodView):
    @blp.doc(**_IMPORT_DOC)
    @require(OPERATORS)
    def post(self) -> tuple[dict, int]:
        """Import a whole inventory document in one transaction.

        Everything is checked before anything is written; a 422 names the offending entry
        (``vms[12].interfaces[0].mac: duplicate …``) and the database stays unchanged.
        """
        doc = transfer.parse_document(request.get_data(), _body_format())
        session = get_session()
        summary = transfer.import_inventory(session, doc)
        session.commit()
        return {"message": str(summary), "imported": summary.counts}, 201


@blp.route("/export")
class Export(MethodView):
    @blp.doc(**_EXPORT_DOC)
    @require(READERS)
    def get(self) -> Response:
        """The whole inventory as an import document: JSON, or YAML with ``?format=yaml``
        or ``Accept: application/yaml``."""
        fmt = request.args.get("format")
        if fmt is None:
            best = request.accept_mimetypes.best_match(["application/json", *YAML_TYPES])
            fmt = "yaml" if best in YAML_TYPES else "json"
        if fmt not in transfer.FORMATS:
            raise InvalidInput(
                f"format must be yaml or json, not {fmt!r}", errors={"format": ["unknown format"]}
            )
        doc = transfer.export_inventory(get_read_session())
        return Response(
            transfer.dump_document(doc, fmt),
            mimetype="application/yaml" if fmt == "yaml" else "application/json",
        )
