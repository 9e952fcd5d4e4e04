"""The REST API under /api/v1: flask-smorest blueprints, one per resource family."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask_smorest import Api

from . import errors, guards
from .fields import RULE, IdConverter


class VirtApi(Api):
    """flask-smorest's Api documenting our error shape instead of its own."""

    ERROR_SCHEMA = errors.ErrorSchema


def init_app(app: Flask) -> Api:
    app.url_map.converters["int"] = IdConverter  # before any route is added
    app.config.setdefault("API_TITLE", "virtapi")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    # /api/v1/docs is virtapi.web.apidocs: Swagger UI from the package, no CDN, no inline script.
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
    _document_server_limits(api)
    _document_refusals(api)
    _link_created_to_item_operations(api)
    return api


# Path parameters that name the created object, and where its 201 body holds the value.
_LINK_PARAMETERS = {"id": "$response.body#/id", "vm": "$response.body#/id",
                    "vm_uuid": "$response.body#/uuid", "ref": "$response.body#/id"}  # fmt: skip


def _link_created_to_item_operations(api: Api) -> None:
    """OpenAPI links from each POST that creates an object to the operations on that object,
    so clients (and schemathesis's stateful phase) can follow create → get/patch/delete."""
    paths = api.spec._paths
    for collection, operations in paths.items():
        created = operations.get("post", {}).get("responses", {}).get("201")
        if created is None:
            continue
        for path, item_operations in paths.items():
            rest = path[len(collection) :]
            if not path.startswith(collection + "/{") or rest.count("{") != 1:
                continue
            parameter = rest[2 : rest.index("}")]
            if parameter not in _LINK_PARAMETERS:
                continue
            pointer = path.replace("~", "~0").replace("/", "~1")
            for method in item_operations:
                if method not in ("get", "post", "put", "patch", "delete"):
                    continue
                label = method.capitalize() + "".join(
                    part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", rest) if part
                )
                created.setdefault("links", {})[label] = {
                    "operationRef": f"#/paths/{pointer}/{method}",
                    "parameters": {parameter: _LINK_PARAMETERS[parameter]},
                }


# gunicorn refuses request lines longer than this before the application sees them.
MAX_REQUEST_LINE = 8190


def _document_server_limits(api: Api) -> None:
    """Every operation can meet the HTTP server's own 414, which is not JSON: say so."""
    too_long = {
        "description": f"Request line (URL with query string) over {MAX_REQUEST_LINE} bytes; "
        "answered by the HTTP server itself, as text/html.",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }
    for operations in api.spec._paths.values():
        for method, operation in operations.items():
            if method in ("get", "post", "put", "patch", "delete", "head", "options"):
                operation.setdefault("responses", {}).setdefault("414", too_long)


REFUSALS = "x-virtapi-refusals"
_METHODS = ("get", "post", "put", "patch", "delete")


def _rules(spec: dict, schema: Any, seen: set[str]) -> list[str]:
    """The ``x-virtapi-rule`` texts anywhere in ``schema``, following $refs once each."""
    if isinstance(schema, list):
        return [rule for item in schema for rule in _rules(spec, item, seen)]
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return []
        seen.add(name)
        return _rules(spec, spec["components"]["schemas"].get(name, {}), seen)
    found = [schema[RULE]] if RULE in schema else []
    for key, value in schema.items():
        if key in ("properties", "items", "allOf", "oneOf", "anyOf", "schema", "content"):
            values = value.values() if key in ("properties", "content") else [value]
            for item in values:
                found += _rules(spec, item, seen)
    return found


def _document_refusals(api: Api) -> None:
    """Each operation lists the refusals of well-formed requests its schemas cannot express.

    A field states such a rule with ``fields.with_rule`` (NameOrId and ref_id do it
    themselves); here they are gathered into ``x-virtapi-refusals`` (status and rule) and the
    422 description, and an If-Match parameter adds its 412. New endpoints get this for free.
    """
    spec = api.spec.to_dict()
    for operations in api.spec._paths.values():
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            rules = _rules(spec, operation.get("parameters", []), set())
            rules += _rules(spec, operation.get("requestBody", {}), set())
            refusals = [{"status": 422, "rule": rule} for rule in dict.fromkeys(rules)]
            if any(p.get("name") == "If-Match" for p in operation.get("parameters", [])):
                refusals.append({"status": 412, "rule": "If-Match must hold the current ETag"})
            if not refusals:
                continue
            operation[REFUSALS] = refusals
            invalid = operation.get("responses", {}).get("422")
            if isinstance(invalid, dict) and rules:
                if "$ref" in invalid:
                    invalid = spec["components"]["responses"][invalid["$ref"].rsplit("/", 1)[1]]
                invalid = operation["responses"]["422"] = dict(invalid)
                stated = "; ".join(dict.fromkeys(rules))
                invalid["description"] = (
                    f"{invalid.get('description', 'Unprocessable Entity')}. Also refused: {stated}"
                )


def blueprints() -> list:
    """Every API blueprint; each resource module adds itself here."""
    # ENC/Hiera (virtapi/enc) and pillar (virtapi/pillar) add their routes to one shared
    # blueprint: one OpenAPI tag, as before they lived with their renderers.
    from ..enc.views import blp as config_management
    from ..pillar import views as _pillar_routes  # noqa: F401
    from .backups import blp as backups  # issue 17
    from .base_images import blp as base_images  # issue 17
    from .ceph import blp as ceph  # issue 16
    from .changes import blp as changes
    from .compute import blp as compute
    from .drift import blp as drift
    from .feed import blp as feed
    from .host_groups import blp as host_groups  # issue 18
    from .installs import blp as installs
    from .meta import blp as meta
    from .network import blp as network
    from .nodes import blp as nodes
    from .operations import blp as operations
    from .prefixes import blp as prefixes  # issue 17
    from .snapshots import blp as snapshots  # issue 17
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
        ceph,  # issue 16
        snapshots,  # issue 17
        prefixes,  # issue 17
        base_images,  # issue 17
        backups,  # issue 17
        changes,
        installs,
        operations,
        tokens,
        transfer,
        config_management,
        feed,
        drift,
        host_groups,  # issue 18
    ]
