"""Checks every request body passes before any view or parser sees it.

webargs parses JSON itself and lets a RecursionError (``[[[[…`` a hundred thousand deep) or a
body that is not UTF-8 escape as a 500; these answer 400 here instead.
"""

from __future__ import annotations

import json

from flask import Flask, Response, request

from .errors import error_response

MAX_JSON_DEPTH = 64


def _depth_exceeds(value: object, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def check_json_body() -> Response | None:
    if request.method in ("GET", "HEAD", "OPTIONS", "DELETE") or not request.is_json:
        return None
    raw = request.get_data(cache=True)
    if not raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return error_response(400, "bad_encoding", "the request body must be UTF-8 encoded JSON")
    try:
        parsed = json.loads(text)
    except RecursionError:
        return error_response(400, "too_deep", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    except ValueError as exc:
        return error_response(400, "bad_json", f"the request body is not valid JSON: {exc}")
    if _depth_exceeds(parsed, MAX_JSON_DEPTH):
        return error_response(400, "too_deep", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return None


def init_app(app: Flask) -> None:
    app.before_request(check_json_body)
