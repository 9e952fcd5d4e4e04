"""What the config-management views (virtapi/enc, virtapi/pillar) share: their blueprint,
the cached node document, and answers with an ETag that revalidate to 304.

Each view builds nothing itself: it reshapes the node document
(virtapi/services/node_document.py), serialises it deterministically and sends an ETag
derived from the bytes, so a client revalidating with If-None-Match gets 304 as long as
nothing that node needs has changed.

Documents and rendered answers are cached per process (virtapi/services/document_cache.py)
until a committed change affects their certname: a repeated request, a 304 included, costs
one ``SELECT`` instead of a build. That one statement reads the Bearer token and what changed
since this process last looked (change_feed.changes_with), outside any transaction (no
BEGIN/ROLLBACK round trips); a cache miss builds in the request's ordinary session. With a
read replica the two stay apart: tokens are read on the primary, changes on the replica the
document is built from.

Every answer carries ``X-Virtapi-Document``: the hash of the node document itself, the same
for ENC, Hiera and pillar; hosts report it back as ``applied_document`` (drift) to the path
in ``X-Virtapi-Report`` (the node's or, for a VM, the VM's report).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, g, request
from flask_smorest import Blueprint
from sqlalchemy import select

from .auth import current_principal, resolve_principal
from .config import current_secret_box, current_settings
from .db import get_db, get_read_session, get_session
from .enc.emit import to_yaml
from .models import ApiToken
from .observability import metrics
from .services.ceph import client_keys
from .services.change_feed import Changes, changes_since, changes_with
from .services.document_cache import CachedDocument, DocumentCache
from .services.document_secrets import secret_uuids, with_keys
from .services.errors import NotFound
from .services.node_document import build_node_document, canonical_json

# One blueprint (one OpenAPI tag) for ENC, Hiera and pillar alike.
blp = Blueprint(
    "config_management",
    __name__,
    description="Puppet ENC, Hiera 5 data and Salt pillar for a certname / minion id "
    "(reader role or above)",
)

ETAG_RESPONSES = {
    "200": {"description": "the data; ETag header set"},
    "304": {"description": "unchanged since the ETag sent in If-None-Match"},
    "401": {"description": "no or invalid token"},
    "403": {"description": "the token's role may not read node data (customers)"},
    "404": {"description": "virtapi knows no node or VM by this name"},
}

_ETAG = {"ETag": {"description": "derived from the bytes; send back in If-None-Match",
                  "schema": {"type": "string"}}}  # fmt: skip


def etag_responses(media_type: str, schema: dict[str, Any]) -> dict[str, Any]:
    """ETAG_RESPONSES with the 200 body stated, so generated clients parse it."""
    ok = {**ETAG_RESPONSES["200"], "headers": _ETAG, "content": {media_type: {"schema": schema}}}
    return {**ETAG_RESPONSES, "200": ok}


ENC_SCHEMA = {
    "type": "object",
    "required": ["classes", "parameters", "environment"],
    "properties": {
        "classes": {"type": "object", "additionalProperties": {"type": "object"}},
        "parameters": {"type": "object"},
        "environment": {"type": "string"},
    },
}
OBJECT_SCHEMA: dict[str, Any] = {"type": "object"}
PILLAR_SCHEMA = {"type": "object", "required": ["virtapi"],
                 "properties": {"virtapi": {"type": "object"}}}  # fmt: skip

View = Callable[[dict[str, Any]], Any]
Rendered = tuple[bytes, str]


def _cache() -> DocumentCache:
    cache = current_app.extensions.get("virtapi_document_cache")
    if cache is None:
        size = current_settings().document_cache_size
        cache = current_app.extensions.setdefault("virtapi_document_cache", DocumentCache(size))
    return cache


_CHANGES = "virtapi_changes"  # g: what the authentication statement read of the change feed


@blp.before_request
def _authenticate_and_look() -> None:
    """Read the Bearer token and the changes since the cache last looked in one statement.

    Runs before ``auth.require`` (which then finds the principal resolved); every check after
    the read (liveness, failure counting and 429s, last use) is the one of auth.py.
    """
    db = get_db()
    # Only what the views answer: an OPTIONS request is not authenticated (nor counted) here.
    if request.method not in ("GET", "HEAD") or "principal" in g or db.read_sessionmaker:
        return
    cache = _cache()

    def lookup(digest: str) -> Any:
        changes, row = changes_with(db.engine, cache.seen, ApiToken.__table__.c.token_hash, digest)
        if changes.version is None:  # not migrated: nothing to fold into
            return get_session().scalar(select(ApiToken).where(ApiToken.token_hash == digest))
        g.setdefault(_CHANGES, changes)
        return row

    resolve_principal(lookup)


def node_document(certname: str, view: str = "document") -> CachedDocument:
    """The (cached) node document of certname; 404 if virtapi knows no such node or VM.

    ``view`` (enc, hiera, pillar) only labels the cache metrics."""
    cache = _cache()
    # Synced before the build: see document_cache for why the order matters.
    changes: Changes | None = g.pop(_CHANGES, None)
    if changes is None:
        changes = changes_since(get_read_session(), cache.seen)
    cache.sync(changes)
    entry = cache.get(certname)
    metrics.count_cache(view, entry is not None)
    if entry is not None:
        return entry
    with metrics.document_build_timer():
        document = build_node_document(
            get_read_session(), certname, default_environment=current_settings().puppet_environment
        )
    if document is None:
        raise NotFound(
            f"no node or VM is called {certname!r}: register the node (fqdn) or use the "
            "VM's hostname or uuid",
            code="unknown_certname",
        )
    return cache.put(certname, changes.version, document)


# Canonical form, so equal data gives an equal ETag in every worker process.
to_json = canonical_json


def render(data: Any, fmt: str) -> Rendered:
    """``data`` as YAML (``fmt="yaml"``) or JSON bytes, and the ETag derived from them.

    Block-style YAML in insertion order keeps the ENC answer readable; the builder is
    deterministic, so the bytes (and the ETag) are too. See enc/emit.py for why our own
    emitter. Counted (virtapi_document_renders_total): a cached answer renders nothing.
    """
    raw = (to_yaml(data) if fmt == "yaml" else to_json(data)).encode("utf-8")
    metrics.count_render(fmt)
    return raw, hashlib.sha256(raw).hexdigest()[:40]


MIMETYPES = {"yaml": "application/yaml", "json": "application/json"}


DOCUMENT_HEADER = "X-Virtapi-Document"
# Where a host reports the hash it applied: a node's own report, or for a VM (whose clients
# know its certname, not its uuid) the VM report.
REPORT_HEADER = "X-Virtapi-Report"


def report_path(document: dict[str, Any]) -> str:
    """The API path a client POSTs ``{"applied_document": …}`` to for this document."""
    vm = document.get("vm")
    if vm is not None:
        return f"/api/v1/vms/{vm['uuid']}/report"
    return f"/api/v1/nodes/{document['certname']}/report"


def respond(answer: Rendered, mimetype: str, entry: CachedDocument) -> Response:
    """200 with the body, or 304 if the client's If-None-Match already names this ETag;
    either way with the hash of the node document it came from."""
    raw, etag = answer
    quoted = f'"{etag}"'
    headers = {
        "ETag": quoted,
        # Any cache in between must revalidate: the data changes whenever an operator acts.
        "Cache-Control": "private, no-cache",
        DOCUMENT_HEADER: entry.hash,
        REPORT_HEADER: report_path(entry.document),
    }
    # A client sends back the one ETag it was given: compare that string before parsing
    # the header in full (lists, W/ prefixes, *).
    sent = request.environ.get("HTTP_IF_NONE_MATCH")
    if sent == quoted or (sent and request.if_none_match.contains_weak(etag)):
        return Response(status=304, headers=headers)
    return Response(raw, mimetype=mimetype, headers=headers)


def secret_document(entry: CachedDocument) -> dict[str, Any] | None:
    """For a token with the secrets scope, the document with its Ceph keys (built now, never
    cached: see services/document_secrets); None when the document is served as cached."""
    if not current_principal().secrets:
        return None
    uuids = secret_uuids(entry.document)
    if not uuids:
        return None
    keys = client_keys(get_read_session(), uuids, current_secret_box())
    return with_keys(entry.document, keys)


def serve(certname: str, view: View, fmt: str) -> Response:
    """The view of certname's document as YAML (``fmt="yaml"``) or JSON, rendered once per
    document version (a secrets-scoped one each time)."""
    entry = node_document(certname, view.__name__.removesuffix("_view"))
    secret = secret_document(entry)
    if secret is not None:
        return respond(render(view(secret), fmt), MIMETYPES[fmt], entry)
    key = f"{view.__name__}.{fmt}"
    answer = entry.renders.get(key)
    if answer is None:
        answer = entry.renders[key] = render(view(entry.document), fmt)
    return respond(answer, MIMETYPES[fmt], entry)
