"""Salt ext_pillar reading a minion's pillar from virtapi (GET /pillar/<minion_id>).

Install: copy this file to ``<extension_modules>/pillar/virtapi.py`` on the master (or
to ``_pillar/`` of a file root and run ``saltutil.sync_pillar``), then in the master
config::

    ext_pillar:
      - virtapi:
          url: https://virtapi.example.com      # base URL; /pillar/<minion_id> is appended
          token_file: /etc/salt/virtapi.token   # or token: "..."
          timeout: 10                           # seconds (default 10)
          # cache_dir: /var/cache/salt/master/virtapi   (default: <cachedir>/virtapi)
          # ca_file: /etc/salt/virtapi-ca.pem           (default: system CAs)

The pillar is ``{"virtapi": <node document>}``. Unknown minions get ``{}`` (and a log
line), never None. When virtapi is unreachable the last good pillar of that minion is
served from the cache, with a warning in the master log, so highstates keep converging
to the last known truth instead of to an empty pillar.

After a fresh answer (200 or 304) the module reports the ``X-Virtapi-Document`` hash it
handed to the master as ``applied_document``, to the path the answer names in
``X-Virtapi-Report`` (POST /api/v1/nodes/<minion_id>/report, or /api/v1/vms/<uuid>/report
for a VM's minion; ``report: false`` turns it off), so GET /api/v1/drift shows minions
whose pillar predates their current document. Each hash is reported once per cache (a
revalidated pillar whose hash was already reported costs one request, not two). Best
effort: a failed report is a log line, and retried on the next compile.

Only the standard library is used, so the module works with any Salt installation.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

log = logging.getLogger(__name__)

__virtualname__ = "virtapi"

# Salt injects __opts__ into loaded modules; defined here so the module also imports
# (and type-checks) outside the loader.
__opts__: dict[str, Any] = {}

# The minion id becomes a cache file name; refuse ids that could leave the cache dir.
_MINION_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def __virtual__() -> str:
    return __virtualname__


def _cache_file(cache_dir: str, minion_id: str) -> str:
    return os.path.join(cache_dir, f"{minion_id}.json")


def _read_cache(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            cached = json.load(fh)
    except (OSError, ValueError):
        return None
    return cached if isinstance(cached, dict) and isinstance(cached.get("pillar"), dict) else None


def _write_cache(path: str, pillar: dict, etag: str | None, reported: str | None) -> None:
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        # Write-then-rename: parallel pillar renders must never read a torn file.
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"etag": etag, "pillar": pillar, "reported": reported}, fh)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("virtapi ext_pillar: cannot write cache %s: %s", path, exc)


# Loading the CA bundle costs 30-400 ms (more than the whole pillar request), so each
# context is built once per master process, and only for https.
_SSL_CONTEXTS: dict[str | None, ssl.SSLContext] = {}


def _ssl_context(ca_file: str | None) -> ssl.SSLContext:
    key = ca_file or None
    if key not in _SSL_CONTEXTS:
        _SSL_CONTEXTS[key] = ssl.create_default_context(cafile=key)
    return _SSL_CONTEXTS[key]


def _token(token: str | None, token_file: str | None) -> str | None:
    if token:
        return str(token)
    if token_file:
        with open(token_file, encoding="utf-8") as fh:
            return fh.read().strip()
    return None


def ext_pillar(
    minion_id: str,
    pillar: dict,
    url: str | None = None,
    token: str | None = None,
    token_file: str | None = None,
    timeout: float = 10,
    cache_dir: str | None = None,
    ca_file: str | None = None,
    report: bool = True,
    **kwargs: Any,
) -> dict:
    """Return ``{"virtapi": document}`` for ``minion_id``, or ``{}`` if virtapi does not know it."""
    if not url or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        log.error("virtapi ext_pillar: 'url' must be an http(s) URL, got %r", url)
        return {}
    if not _MINION_ID_RE.match(minion_id or ""):
        log.error("virtapi ext_pillar: refusing suspicious minion id %r", minion_id)
        return {}
    cache_dir = cache_dir or os.path.join(
        __opts__.get("cachedir", "/var/cache/salt/master"), "virtapi"
    )
    cache_path = _cache_file(cache_dir, minion_id)
    cached = _read_cache(cache_path)

    try:
        secret = _token(token, token_file)
    except OSError as exc:
        log.error("virtapi ext_pillar: cannot read token_file %s: %s", token_file, exc)
        return {}
    headers = {"Accept": "application/json", "User-Agent": "virtapi-salt/1"}
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    if cached and cached.get("etag"):
        headers["If-None-Match"] = cached["etag"]
    # The scheme was checked above: only http(s), never file: or custom openers.
    request = urllib.request.Request(  # noqa: S310
        url.rstrip("/") + "/pillar/" + urllib.parse.quote(minion_id, safe=""), headers=headers
    )
    context = _ssl_context(ca_file) if request.type == "https" else None

    try:
        with urllib.request.urlopen(  # noqa: S310
            request, timeout=float(timeout), context=context
        ) as resp:
            body = json.loads(resp.read().decode("utf-8"))
            etag = resp.headers.get("ETag")
            answered = resp.headers
    except urllib.error.HTTPError as exc:
        if exc.code == 304 and cached:
            if report and exc.headers:
                reported = _report(url, minion_id, headers, exc.headers, timeout, context, cached)
                if reported != cached.get("reported"):
                    _write_cache(cache_path, cached["pillar"], cached.get("etag"), reported)
            return cached["pillar"]
        if exc.code == 404:
            log.info("virtapi ext_pillar: virtapi does not know minion %s", minion_id)
            # A removed node must not live on through its cached pillar.
            with contextlib.suppress(OSError):
                os.unlink(cache_path)
            return {}
        if exc.code in (401, 403):
            log.error("virtapi ext_pillar: token refused (HTTP %s) for %s", exc.code, minion_id)
            return {}
        return _fallback(cached, minion_id, f"HTTP {exc.code}")
    except (OSError, ValueError) as exc:
        # Connection refused, DNS, TLS, timeouts (all OSError) or a garbled body.
        return _fallback(cached, minion_id, str(exc))

    if not isinstance(body, dict):
        return _fallback(cached, minion_id, "response is not a JSON object")
    reported = (cached or {}).get("reported")
    if report:
        reported = _report(url, minion_id, headers, answered, timeout, context, cached)
    _write_cache(cache_path, body, etag, reported)
    return body


def _report(
    url: str,
    minion_id: str,
    headers: dict,
    answered: Any,
    timeout: float,
    context: Any,
    cached: dict | None,
) -> str | None:
    """Tell virtapi which document the minion's pillar was rendered from (drift), at the
    path the answer named (``X-Virtapi-Report``: the node's report, or a VM's). Returns the
    hash virtapi now holds as applied, as far as this cache knows.

    A hash this cache already reported is not sent again: the second request (a write on the
    server) would double every compile's cost for no news."""
    previous = (cached or {}).get("reported")
    document = answered.get("X-Virtapi-Document")
    if not document or document == previous:
        return previous
    path = answered.get("X-Virtapi-Report") or (
        "/api/v1/nodes/" + urllib.parse.quote(minion_id, safe="") + "/report"
    )
    if not path.startswith("/"):
        log.warning("virtapi ext_pillar: ignoring report path %r", path[:100])
        return previous
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
        url.rstrip("/") + path,
        data=json.dumps({"applied_document": document}).encode(),
        headers={
            "Authorization": headers.get("Authorization", ""),
            "Content-Type": "application/json",
            "User-Agent": "virtapi-salt/1",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=float(timeout), context=context) as resp:  # noqa: S310
            resp.read()
    except urllib.error.HTTPError as exc:
        log.warning("virtapi ext_pillar: could not report applied document (HTTP %s)", exc.code)
        return previous
    except (OSError, ValueError) as exc:
        log.warning("virtapi ext_pillar: could not report applied document: %s", exc)
        return previous
    return document


def _fallback(cached: dict | None, minion_id: str, reason: str) -> dict:
    if cached:
        log.warning(
            "virtapi ext_pillar: virtapi unreachable (%s); using last-good pillar for %s",
            reason,
            minion_id,
        )
        return cached["pillar"]
    log.error(
        "virtapi ext_pillar: virtapi unreachable (%s) and no cached pillar for %s",
        reason,
        minion_id,
    )
    return {}
