"""Configuration-management endpoints: Puppet ENC, Hiera data and Salt pillar.

All four are thin: they build the node document (virtapi/services/node_document.py),
reshape it with a view (virtapi/enc, virtapi/pillar), serialise it deterministically and
send an ETag derived from the bytes, so a client revalidating with If-None-Match gets
304 as long as nothing that node needs has changed.

Documents and rendered answers are cached per process (virtapi/services/document_cache.py)
for as long as the data version is unchanged: a repeated request, a 304 included, costs
one ``SELECT`` of the version instead of a build.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request
from flask_smorest import Blueprint

from ..auth import READERS, require
from ..db import get_read_session
from ..enc import enc_view, hiera_view
from ..enc.emit import to_yaml
from ..pillar import pillar_view
from ..services.audit import data_version
from ..services.document_cache import CachedDocument, DocumentCache
from ..services.errors import NotFound
from ..services.node_document import build_node_document

blp = Blueprint(
    "config_management",
    __name__,
    description="Puppet ENC, Hiera 5 data and Salt pillar for a certname / minion id "
    "(reader role or above)",
)

_ETAG_RESPONSES = {
    "200": {"description": "the data; ETag header set"},
    "304": {"description": "unchanged since the ETag sent in If-None-Match"},
    "401": {"description": "no or invalid token"},
    "403": {"description": "the token's role may not read node data (customers)"},
    "404": {"description": "virtapi knows no node or VM by this name"},
}


def _cache() -> DocumentCache:
    cache = current_app.extensions.get("virtapi_document_cache")
    if cache is None:
        size = current_app.config.get("DOCUMENT_CACHE_SIZE", 2000)
        cache = current_app.extensions.setdefault("virtapi_document_cache", DocumentCache(size))
    return cache


def _document(certname: str) -> CachedDocument:
    session = get_read_session()
    # The version before the build: see document_cache for why the order matters.
    version = data_version(session)
    cache = _cache()
    entry = cache.get(certname, version)
    if entry is not None:
        return entry
    document = build_node_document(
        session,
        certname,
        default_environment=current_app.config.get("PUPPET_ENVIRONMENT", "production"),
    )
    if document is None:
        raise NotFound(
            f"no node or VM is called {certname!r}: register the node (fqdn) or use the "
            "VM's hostname or uuid",
            code="unknown_certname",
        )
    return cache.put(certname, version, document)


def _json(data: Any) -> str:
    # Canonical form: sorted keys and no whitespace, so equal data gives an equal ETag in
    # every worker process.
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _yaml(data: Any) -> str:
    # Block style and insertion order keep the ENC answer readable; the document builder
    # is deterministic, so the bytes (and the ETag) are too. Our emitter, not PyYAML's:
    # see virtapi/enc/emit.py for why.
    return to_yaml(data)


def _rendered(body: str) -> tuple[bytes, str]:
    raw = body.encode("utf-8")
    return raw, hashlib.sha256(raw).hexdigest()[:40]


def _respond(rendered: tuple[bytes, str], mimetype: str) -> Response:
    raw, etag = rendered
    if request.if_none_match.contains_weak(etag):
        response = Response(status=304)
    else:
        response = Response(raw, mimetype=mimetype)
    response.set_etag(etag)
    # Any cache in between must revalidate: the data changes whenever an operator acts.
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _serve(certname: str, view: Callable[[dict[str, Any]], Any], fmt: str) -> Response:
    entry = _document(certname)
    key = f"{view.__name__}.{fmt}"
    rendered = entry.renders.get(key)
    if rendered is None:
        data = view(entry.document)
        rendered = _rendered(_yaml(data) if fmt == "yaml" else _json(data))
        entry.renders[key] = rendered
    return _respond(rendered, "application/yaml" if fmt == "yaml" else "application/json")


@blp.route("/enc/<string:certname>", methods=["GET"])
@blp.doc(responses=_ETAG_RESPONSES)
@require(READERS)
def enc(certname: str) -> Response:
    """Puppet ENC answer (YAML): classes with parameters, top-scope parameters, environment.

    Use with node_terminus = exec and puppet/virtapi-enc.
    """
    return _serve(certname, enc_view, "yaml")


@blp.route("/hiera/<string:certname>", methods=["GET"])
@blp.doc(responses=_ETAG_RESPONSES)
@require(READERS)
def hiera(certname: str) -> Response:
    """Hiera data for the node (JSON object): `<class>::<parameter>` keys for automatic
    parameter lookup plus virtapi::roles, virtapi::node; `%{` escaped in all values."""
    return _serve(certname, hiera_view, "json")


@blp.route("/hiera/<string:certname>/<path:key>", methods=["GET"])
@blp.doc(responses=_ETAG_RESPONSES)
@require(READERS)
def hiera_key(certname: str, key: str) -> Response:
    """One Hiera key as `{"<key>": value}` (the shape hiera-http's default dig expects);
    404 if the node has no such key."""
    data = hiera_view(_document(certname).document)
    if key not in data:
        raise NotFound(f"node {certname!r} has no Hiera key {key!r}", code="unknown_key")
    return _respond(_rendered(_json({key: data[key]})), "application/json")


@blp.route("/pillar/<string:minion_id>", methods=["GET"])
@blp.doc(responses=_ETAG_RESPONSES)
@require(READERS)
def pillar(minion_id: str) -> Response:
    """Salt pillar (JSON): `{"virtapi": <node document>}`."""
    return _serve(minion_id, pillar_view, "json")
