"""Salt engine: follow virtapi's change feed and fire ``virtapi/node/changed`` per host.

Install on the master: copy to ``<extension_modules>/engines/virtapi.py`` (or ``_engines/``
of a file root and ``saltutil.sync_engines``), then in the master config::

    engines:
      - virtapi:
          url: https://virtapi.example.com
          token_file: /etc/salt/virtapi.token      # a reader token (or token: "...")
          cursor_file: /var/cache/salt/master/virtapi.cursor   # kept across restarts
          wait: 30                                  # long-poll seconds (0-60)

For every certname a committed change affects (GET /api/v1/feed), the engine fires the
event ``virtapi/node/changed`` with ``{"id": "<minion id>"}``; a reactor
(salt/reactor/virtapi-converge.sls) applies the state to just that minion. When the
cursor is older than the feed keeps (410), it fires ``virtapi/resync`` once and carries
on from a fresh cursor: converge everything then.

Standard library only (plus Salt's own event API), like the ext_pillar module; the feed
loop mirrors virtapi/feed_client.py, which a master without virtapi cannot import.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

log = logging.getLogger(__name__)

__virtualname__ = "virtapi"
__opts__: dict[str, Any] = {}
CHANGED = "virtapi/node/changed"
RESYNC = "virtapi/resync"


def __virtual__() -> str:
    return __virtualname__


def _read(path: str) -> str | None:
    with contextlib.suppress(OSError), open(path, encoding="utf-8") as fh:
        return fh.read().strip() or None
    return None


def _save(path: str, cursor: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".cursor-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(cursor + "\n")
    os.replace(tmp, path)


def _feed(url: str, token: str, since: str | None, wait: float) -> dict:
    query = {"since": since, "wait": str(wait)} if since is not None else {}
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked in start()
        url.rstrip("/") + "/api/v1/feed?" + urllib.parse.urlencode(query),
        headers={"Authorization": f"Bearer {token}", "User-Agent": "virtapi-salt-engine/1"},
    )
    with urllib.request.urlopen(request, timeout=wait + 30) as resp:  # noqa: S310
        return json.loads(resp.read().decode("utf-8"))


def follow_once(url: str, token: str, cursor_file: str, wait: float, fire: Any) -> None:
    """One long poll; `fire(data, tag)` for each changed certname (or one resync)."""
    cursor = _read(cursor_file)
    if cursor is None:
        _save(cursor_file, _feed(url, token, None, 0)["cursor"])
        return
    try:
        answer = _feed(url, token, cursor, wait)
    except urllib.error.HTTPError as exc:
        if exc.code != 410:
            raise
        log.warning("virtapi engine: cursor %s expired; firing %s", cursor, RESYNC)
        fire({}, RESYNC)
        _save(cursor_file, _feed(url, token, None, 0)["cursor"])
        return
    for certname in answer["nodes"]:
        fire({"id": certname}, CHANGED)
    # Saved after firing: a crash in between repeats events, never loses them.
    _save(cursor_file, answer["cursor"])


def start(
    url: str,
    token: str | None = None,
    token_file: str | None = None,
    cursor_file: str | None = None,
    wait: float = 30,
    retry: float = 5,
) -> None:
    """The engine's main loop (Salt calls it in its own process)."""
    import salt.utils.event  # noqa: PLC0415 - only inside Salt

    if urllib.parse.urlsplit(url or "").scheme not in ("http", "https"):
        log.error("virtapi engine: 'url' must be an http(s) URL, got %r", url)
        return
    if not token and token_file:
        token = _read(token_file)
    cursor_file = cursor_file or os.path.join(
        __opts__.get("cachedir", "/var/cache/salt/master"), "virtapi.cursor"
    )
    with salt.utils.event.get_master_event(__opts__, __opts__["sock_dir"], listen=False) as bus:
        while True:
            try:
                follow_once(url, token or "", cursor_file, float(wait), bus.fire_event)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("virtapi engine: feed unavailable (%s); retrying in %ss", exc, retry)
                time.sleep(retry)
