"""Secrets in the node document: which it may carry, and the copy that carries them.

The node document itself (build_node_document, the per-certname cache, its hash
``X-Virtapi-Document``, dry-run patches) never holds a secret: a Ceph client shows
``key_secret_present`` only. For a token with the secrets scope, the views serve
`with_keys` of it: a copy with ``key`` filled in, built per request and never cached, so the
cache cannot hand a key to a token without the scope, and hosts with and without the scope
report the same document hash.
"""

from __future__ import annotations

from typing import Any

# (section, key) of every Ceph client hash in a node document.
CLIENT_PLACES = (("hypervisor", "ceph_client"), ("ceph", "client"))


def _clients(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for section, key in CLIENT_PLACES:
        client = (document.get(section) or {}).get(key)
        if client and client.get("key_secret_present"):
            found.append((section, key, client))
    return found


def secret_uuids(document: dict[str, Any]) -> set[str]:
    """The secret uuids of the clients whose keys a secrets-scoped document would carry."""
    return {client["secret_uuid"] for _, _, client in _clients(document)}


def with_keys(document: dict[str, Any], keys: dict[str, str]) -> dict[str, Any]:
    """A copy of ``document`` with ``key`` in each client whose secret uuid ``keys`` holds;
    the document itself (shared by the cache) is not changed."""
    out = dict(document)
    for section, key, client in _clients(document):
        secret = keys.get(client["secret_uuid"])
        if secret is None:
            continue
        if out[section] is document[section]:
            out[section] = dict(document[section])
        out[section][key] = {**client, "key": secret}
    return out
