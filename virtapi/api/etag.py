"""ETags derived from an object's JSON representation, for caching and optimistic locking."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import request

from ..services.errors import PreconditionFailed


def etag_of(data: Any) -> str:
    """A strong ETag: the same representation always gives the same tag, on any process."""
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return '"' + hashlib.sha256(raw.encode()).hexdigest()[:32] + '"'


def _tags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]


def check_if_match(current: str, what: str) -> None:
    """412 when the client's If-Match names another version than the one we hold (locked)."""
    header = request.headers.get("If-Match")
    if header is None:
        return
    tags = _tags(header)
    if "*" in tags or current in tags:
        return
    raise PreconditionFailed(
        f"{what} has changed since you read it (ETag is now {current}); "
        "GET it again and retry with the new ETag",
        errors={"If-Match": [f"stale; current ETag is {current}"]},
    )


def not_modified(current: str) -> bool:
    """True when the client's If-None-Match already names this version (answer 304)."""
    header = request.headers.get("If-None-Match")
    if header is None:
        return False
    tags = _tags(header)
    return "*" in tags or current in tags
