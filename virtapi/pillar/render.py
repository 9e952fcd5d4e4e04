"""Reshape the node document for Salt: the ext_pillar answer."""

from __future__ import annotations

from typing import Any


def pillar_view(document: dict[str, Any]) -> dict[str, Any]:
    """The pillar is the whole document under one top-level key, so it merges into a
    minion's pillar without clashing with other sources. Salt does not interpolate
    pillar values, so unlike Hiera no escaping is needed."""
    return {"virtapi": document}
