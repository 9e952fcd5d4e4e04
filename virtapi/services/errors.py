"""Errors the domain raises; the API maps each kind to one HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class. ``code`` is a short machine-readable word, ``message`` is for a person."""

    code = "error"

    def __init__(
        self, message: str, *, errors: dict[str, Any] | None = None, code: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        if code:
            self.code = code


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    """Well-formed, but clashes with the current data (duplicates, references, state)."""

    code = "conflict"


class InvalidInput(DomainError):
    code = "invalid"


class Forbidden(DomainError):
    code = "forbidden"


class QuotaExceeded(DomainError):
    code = "quota_exceeded"


class PreconditionFailed(DomainError):
    code = "precondition_failed"


class Gone(DomainError):
    """What was asked for is no longer kept (a change-feed cursor older than the retention)."""

    code = "resync"
