"""Keep secrets out of logs: install secrets travel in URL paths and a careless client may put a
token in a query string, and servers log both."""

from __future__ import annotations

import re

_SECRET_IN_PATH = re.compile(r"(/installimage/[^/\s?]+/)[0-9A-Fa-f]{64}")
# Our own token format anywhere (a header pasted into a URL, a token in a query string).
_TOKEN = re.compile(r"va_[A-Za-z0-9_-]{6,}")
# Values of query parameters whose names say they are secret, whatever they hold.
_SECRET_PARAM = re.compile(
    r"((?:^|[?&;\s])(?:[\w.-]*[_.-])?(?:token|secret|password|passwd|api_?key|auth)=)[^&;\s\"]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with install secrets, tokens and secret-named query values replaced."""
    text = _SECRET_IN_PATH.sub(r"\1[secret]", text)
    text = _TOKEN.sub("va_[redacted]", text)
    return _SECRET_PARAM.sub(r"\1[redacted]", text)
