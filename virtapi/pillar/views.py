"""Salt's HTTP endpoint: the pillar of a minion."""

from __future__ import annotations

from flask import Response

from ..auth import READERS, require
from ..confmgmt import PILLAR_SCHEMA, blp, etag_responses, serve
from .render import pillar_view


@blp.route("/pillar/<string:minion_id>", methods=["GET"])
@blp.doc(responses=etag_responses("application/json", PILLAR_SCHEMA))
@require(READERS)
def pillar(minion_id: str) -> Response:
    """Salt pillar (JSON): `{"virtapi": <node document>}`."""
    return serve(minion_id, pillar_view, "json")
