"""Salt's HTTP endpoint: the pillar of a minion."""

from __future__ import annotations

from flask import Response

from ..auth import READERS, require
from ..confmgmt import ETAG_RESPONSES, blp, serve
from .render import pillar_view


@blp.route("/pillar/<string:minion_id>", methods=["GET"])
@blp.doc(responses=ETAG_RESPONSES)
@require(READERS)
def pillar(minion_id: str) -> Response:
    """Salt pillar (JSON): `{"virtapi": <node document>}`."""
    return serve(minion_id, pillar_view, "json")
