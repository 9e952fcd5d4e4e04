"""The change feed: which hosts must converge, for Salt engines and Puppet orchestration.

``GET /api/v1/feed?since=<cursor>&wait=<0-60>`` answers the certnames affected by
transactions committed after the cursor (services/change_feed.py). With ``wait`` it
long-polls: it re-reads every ``POLL_SECONDS`` with a short-lived session, so a waiting
client holds a worker thread but no database connection. At most
``Settings.feed_max_waiters`` requests per process wait at once; the rest answer at once as
with ``wait=0`` (the client simply asks again), so long-polls never take every thread of a
gthread worker from ENC, Hiera and API requests.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from ..auth import READERS, require
from ..config import current_settings
from ..db import close_quietly, get_db, get_session
from ..observability import metrics
from ..services.change_feed import FeedPage, parse_cursor, read_feed

blp = Blueprint(
    "feed",
    __name__,
    url_prefix="/api/v1",
    description="Change feed: the certnames each committed change affects (reader and up)",
)

POLL_SECONDS = 0.5


class FeedQuerySchema(Schema):
    since = fields.String(
        load_default=None,
        metadata={"description": "a cursor from an earlier answer; omit for the current one"},
    )
    wait = fields.Float(
        load_default=0,
        validate=validate.Range(0, 60),
        metadata={"description": "seconds to wait for a change when there is none (0-60)"},
    )


class FeedSchema(Schema):
    cursor = fields.String(required=True, metadata={"description": "opaque; pass as since"})
    nodes = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "certnames (node fqdns, VM hostnames) to converge, sorted"},
    )


def _waiters() -> threading.BoundedSemaphore:
    semaphore = current_app.extensions.get("virtapi_feed_waiters")
    if semaphore is None:
        limit = max(0, current_settings().feed_max_waiters)
        semaphore = current_app.extensions.setdefault(
            "virtapi_feed_waiters", threading.BoundedSemaphore(limit) if limit else None
        )
    return semaphore


def _read(since: int | None) -> FeedPage:
    # A session of its own per poll: the connection goes back to the pool in between.
    with get_db().sessionmaker() as session:
        return read_feed(session, since)


@blp.route("/feed")
class Feed(MethodView):
    @require(READERS)
    @blp.arguments(FeedQuerySchema, location="query")
    @blp.response(200, FeedSchema)
    @blp.alt_response(410, response="GONE")
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Certnames affected since a cursor (reader role and up; customers 403)

        Without ``since``: the current cursor and no nodes. With ``since``: every certname
        affected by a transaction committed after it, deduplicated and sorted, and the new
        cursor. Cursors follow commit order, so a transaction committing later is never
        skipped. ``410`` with code ``resync``: the cursor is older than the feed keeps;
        converge everything, then start again without ``since``.
        """
        since = parse_cursor(args["since"])
        # Authentication is done: give its connection back before any waiting.
        close_quietly(get_session())
        page = _read(since)
        deadline = time.monotonic() + args["wait"]
        if since is not None and not page.nodes and time.monotonic() < deadline:
            semaphore = _waiters()
            if semaphore is not None and semaphore.acquire(blocking=False):
                try:
                    with metrics.feed_waiter():
                        while not page.nodes and (left := deadline - time.monotonic()) > 0:
                            time.sleep(min(POLL_SECONDS, left))
                            page = _read(since)
                finally:
                    semaphore.release()
        metrics.observe_feed_lag(page.behind)
        return {"cursor": page.cursor, "nodes": page.nodes}
