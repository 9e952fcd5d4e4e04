"""Log lines as one JSON object each (VIRTAPI_LOG_FORMAT=json), or plain text (the default).

Every line written inside a request carries its request id; every message goes through the same
redaction as gunicorn's logs (install secrets, tokens, secret-named query values).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

from flask import g, has_request_context

from ..pxe.redact import redact

REQUEST_LOGGER = "virtapi.request"
FIELDS = "virtapi_fields"  # the `extra` key holding a line's structured fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
            "pid": os.getpid(),
        }
        if has_request_context() and "request_id" in g:
            line["request_id"] = g.request_id
        line.update(getattr(record, FIELDS, {}))
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


def configure(log_format: str) -> None:
    """Put the chosen formatter on the root logger's handlers (made by logging.basicConfig)."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO)
    for handler in root.handlers:
        if log_format == "json":
            handler.setFormatter(JsonFormatter())
        elif isinstance(handler.formatter, JsonFormatter):
            handler.setFormatter(logging.Formatter(logging.BASIC_FORMAT))


def log_request(fields: dict[str, Any]) -> None:
    """One line per request (JSON mode; in text mode gunicorn's access log is that line)."""
    logging.getLogger(REQUEST_LOGGER).info(
        "%s %s %s", fields["method"], fields["route"], fields["status"], extra={FIELDS: fields}
    )
