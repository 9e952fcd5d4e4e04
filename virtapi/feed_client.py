"""Following GET /api/v1/feed from outside: the cursor kept in a file, resync on 410.

Standard library only. ``virtapi feed --follow`` uses it; the Salt engine
(salt/_engines/virtapi.py) carries its own copy of the same loop, because a salt-master
loads that file without virtapi installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass


class Resync(Exception):
    """The saved cursor is older than the feed keeps: every host may have changed."""


@dataclass
class FeedFollower:
    url: str
    token: str
    cursor_file: str | None = None
    wait: float = 30
    ca_file: str | None = None

    def __post_init__(self) -> None:
        self.cursor: str | None = None
        if self.cursor_file:
            with contextlib.suppress(OSError), open(self.cursor_file, encoding="utf-8") as fh:
                self.cursor = fh.read().strip() or None

    def _get(self, since: str | None, wait: float) -> dict:
        query = {"wait": str(wait)} if since is not None else {}
        if since is not None:
            query["since"] = since
        url = self.url.rstrip("/") + "/api/v1/feed?" + urllib.parse.urlencode(query)
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked by the caller
            url, headers={"Authorization": f"Bearer {self.token}", "User-Agent": "virtapi-feed/1"}
        )
        context = ssl.create_default_context(cafile=self.ca_file or None)
        try:
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=wait + 30, context=context
            ) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            if exc.code == 410:
                raise Resync(exc.read().decode("utf-8", "replace")) from exc
            raise

    def _save(self, cursor: str) -> None:
        self.cursor = cursor
        if not self.cursor_file:
            return
        directory = os.path.dirname(os.path.abspath(self.cursor_file))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".cursor-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(cursor + "\n")
        os.replace(tmp, self.cursor_file)

    def poll(self) -> list[str]:
        """One long poll: the certnames changed since the saved cursor (none the very first
        time: the cursor starts at now). Raises Resync after saving a fresh cursor."""
        if self.cursor is None:
            self._save(self._get(None, 0)["cursor"])
            return []
        try:
            answer = self._get(self.cursor, self.wait)
        except Resync:
            self._save(self._get(None, 0)["cursor"])
            raise
        # Saved only after the caller has the names: a crash in between repeats, never skips.
        nodes = list(answer["nodes"])
        self._save(answer["cursor"])
        return nodes
