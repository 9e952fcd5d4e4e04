"""gunicorn embedded, so `virtapi serve` needs no separate configuration file."""

from __future__ import annotations

import gc
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from .pxe.redact import redact


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger with secrets cut out of every line it writes.

    The access log gets the request line and path; at debug level the error log gets the path
    too, so both are redacted (install secrets live in paths, careless clients put tokens in
    query strings).
    """

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}

    def _redacted(self, level: str, msg: Any, *args: Any, **kwargs: Any) -> None:
        text = str(msg) % args if args else str(msg)
        getattr(super(), level)(redact(text), **kwargs)

    def critical(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._redacted("critical", msg, *args, **kwargs)

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._redacted("error", msg, *args, **kwargs)

    def warning(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._redacted("warning", msg, *args, **kwargs)

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._redacted("info", msg, *args, **kwargs)

    def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._redacted("debug", msg, *args, **kwargs)

    def exception(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._redacted("exception", msg, *args, **kwargs)


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from .app import create_app

        app = create_app()
        # Everything alive now (modules, SQLAlchemy's mappers and caches, the app) lives as
        # long as the worker: out of the collector's sight, full collections stop walking it,
        # and those walks were the node document's p99 (bench/node_document.py).
        gc.collect()
        gc.freeze()
        return app


def run_gunicorn(bind: str, workers: int, **options: Any) -> None:
    """Serve with stateless workers; each builds its own app and database pool after the fork."""
    from .config import load_settings
    from .observability.multiproc import server_options

    _Gunicorn(
        {
            "workers": workers,
            "worker_class": "gthread",
            "threads": 4,
            "accesslog": "-",
            "logger_class": RedactingLogger,
            # gunicorn's maximum; longer request lines get its (documented) 414.
            "limit_request_line": 8190,
            # Metrics listener, multiprocess metrics hooks, access log format (issue 19).
            **server_options(bind, load_settings()),
            **options,
        }
    ).run()
