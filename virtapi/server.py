"""gunicorn embedded, so `virtapi serve` needs no separate configuration file."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from .pxe.redact import redact


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, with install secrets cut out of the logged request line and path."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from .app import create_app

        return create_app()


def run_gunicorn(bind: str, workers: int, **options: Any) -> None:
    """Serve with stateless workers; each builds its own app and database pool after the fork."""
    _Gunicorn(
        {
            "bind": bind,
            "workers": workers,
            "worker_class": "gthread",
            "threads": 4,
            "accesslog": "-",
            # The query string can hold nothing secret, but never log Authorization headers.
            "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(L)ss',
            "logger_class": RedactingLogger,
            **options,
        }
    ).run()
