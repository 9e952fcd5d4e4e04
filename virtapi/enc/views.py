"""Puppet's HTTP endpoints: the ENC answer and Hiera data (whole hash or one key)."""

from __future__ import annotations

from flask import Response

from ..auth import READERS, require
from ..confmgmt import (
    ENC_SCHEMA,
    OBJECT_SCHEMA,
    blp,
    etag_responses,
    node_document,
    render,
    respond,
    secret_document,
    serve,
)
from ..services.errors import NotFound
from .render import SECRET_KEYS as _SECRET_KEYS
from .render import enc_view, hiera_view


@blp.route("/enc/<string:certname>", methods=["GET"])
@blp.doc(responses=etag_responses("application/yaml", ENC_SCHEMA))
@require(READERS)
def enc(certname: str) -> Response:
    """Puppet ENC answer (YAML): classes with parameters, top-scope parameters, environment.

    Use with node_terminus = exec and puppet/virtapi-enc.
    """
    return serve(certname, enc_view, "yaml")


@blp.route("/hiera/<string:certname>", methods=["GET"])
@blp.doc(responses=etag_responses("application/json", OBJECT_SCHEMA))
@require(READERS)
def hiera(certname: str) -> Response:
    """Hiera data for the node (JSON object): `<class>::<parameter>` keys for automatic
    parameter lookup plus virtapi::roles, virtapi::node; `%{` escaped in all values."""
    return serve(certname, hiera_view, "json")


@blp.route("/hiera/<string:certname>/<path:key>", methods=["GET"])
@blp.doc(responses=etag_responses("application/json", OBJECT_SCHEMA))
@require(READERS)
def hiera_key(certname: str, key: str) -> Response:
    """One Hiera key as `{"<key>": value}` (the shape hiera-http's default dig expects);
    404 if the node has no such key."""
    entry = node_document(certname, "hiera")
    secret = secret_document(entry) if key in _SECRET_KEYS else None
    if secret is not None:
        data = hiera_view(secret)
        if key not in data:
            raise NotFound(f"node {certname!r} has no Hiera key {key!r}", code="unknown_key")
        return respond(render({key: data[key]}, "json"), "application/json", entry)
    # Rendered once per document version like the whole views; only keys that exist are
    # kept, so what the cache holds stays bounded by the document.
    answer = entry.renders.get(f"hiera_key.{key}")
    if answer is None:
        data = hiera_view(entry.document)
        if key not in data:
            raise NotFound(f"node {certname!r} has no Hiera key {key!r}", code="unknown_key")
        answer = entry.renders[f"hiera_key.{key}"] = render({key: data[key]}, "json")
    return respond(answer, "application/json", entry)
