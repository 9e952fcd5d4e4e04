"""Keep install secrets out of access logs: they travel in URL paths, which servers log."""

from __future__ import annotations

import re

_SECRET_IN_PATH = re.compile(r"(/installimage/[^/\s?]+/)[0-9A-Fa-f]{64}")


def redact(text: str) -> str:
    """``text`` with every installimage URL secret replaced by ``[secret]``."""
    return _SECRET_IN_PATH.sub(r"\1[secret]", text)
