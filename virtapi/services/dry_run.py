"""Documents before and after a write that will be rolled back: one JSON Patch each."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from . import json_patch
from .node_document import build_node_document

Documents = dict[str, dict[str, Any] | None]


def documents(session: Session, certnames: Iterable[str], default_environment: str) -> Documents:
    return {c: build_node_document(session, c, default_environment) for c in certnames}


def patches(
    before: Documents, after: Documents, customer_id: int | None = None
) -> dict[str, list[dict[str, Any]]]:
    """``certname → RFC 6902 patch`` from `before` to `after` (a created document is one
    ``add`` of the root, a deleted one a ``remove``). With `customer_id`, only that
    customer's VMs: other documents may list other customers' VMs."""
    out: dict[str, list[dict[str, Any]]] = {}
    for certname in sorted(before.keys() | after.keys()):
        old, new = before.get(certname), after.get(certname)
        if customer_id is not None and not any(
            d is not None and d.get("kind") == "vm" and d["vm"]["customer_id"] == customer_id
            for d in (old, new)
        ):
            continue
        if old is None and new is not None:
            out[certname] = [{"op": "add", "path": "", "value": new}]
        elif new is None:
            out[certname] = [{"op": "remove", "path": ""}]
        else:
            out[certname] = json_patch.diff(old, new)
    return out
