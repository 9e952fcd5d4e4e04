"""RFC 6902 JSON Patch between two JSON documents (dry runs, drift).

`diff(a, b)` gives operations that turn `a` into `b`: objects key by key, lists element by
element while their lengths agree (otherwise the whole list is replaced: correct, if not the
shortest patch). `apply` exists so tests can prove ``apply(a, diff(a, b)) == b``.
"""

from __future__ import annotations

import copy
from typing import Any


def _token(key: str | int) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def diff(a: Any, b: Any, path: str = "") -> list[dict[str, Any]]:
    if a == b and type(a) is type(b):
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        ops: list[dict[str, Any]] = []
        for key in sorted(a.keys() - b.keys()):
            ops.append({"op": "remove", "path": f"{path}/{_token(key)}"})
        for key in sorted(a.keys() & b.keys()):
            ops += diff(a[key], b[key], f"{path}/{_token(key)}")
        for key in sorted(b.keys() - a.keys()):
            ops.append({"op": "add", "path": f"{path}/{_token(key)}", "value": b[key]})
        return ops
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        ops = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            ops += diff(x, y, f"{path}/{i}")
        return ops
    return [{"op": "replace", "path": path, "value": b}]


def _parts(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def apply(document: Any, patch: list[dict[str, Any]]) -> Any:
    """Apply add/remove/replace operations (the ones `diff` emits) to a copy."""
    doc = copy.deepcopy(document)
    for op in patch:
        parts = _parts(op["path"])
        if not parts:
            doc = copy.deepcopy(op["value"])
            continue
        parent = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last: Any = int(parts[-1]) if isinstance(parent, list) else parts[-1]
        if op["op"] == "remove":
            del parent[last]
        elif op["op"] == "add" and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(op["value"]))
        else:
            parent[last] = copy.deepcopy(op["value"])
    return doc
