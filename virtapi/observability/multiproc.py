"""gunicorn's side of multiprocess metrics: a directory the workers share, set up before they
fork, and each dead worker's live gauges dropped when it exits."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess

from ..config import Settings

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_dir() -> tuple[str, bool]:
    """The metrics directory, emptied; made (and later removed) by us when none is configured.

    Files of an earlier run would add its counts to ours, so they go.
    """
    configured = os.environ.get(ENV)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return str(path), False
    path_str = tempfile.mkdtemp(prefix="virtapi-metrics-")
    os.environ[ENV] = path_str
    return path_str, True


def gunicorn_hooks() -> dict[str, Any]:
    """Server hooks for run_gunicorn: call before gunicorn forks its workers."""
    path, owned = prepare_dir()

    def child_exit(_server: Any, worker: Any) -> None:
        multiprocess.mark_process_dead(worker.pid, path)

    def on_exit(_server: Any) -> None:
        if owned:
            shutil.rmtree(path, ignore_errors=True)

    return {"child_exit": child_exit, "on_exit": on_exit}


def server_options(bind: str, settings: Settings) -> dict[str, Any]:
    """What run_gunicorn adds for observability: the metrics listener, the multiprocess hooks,
    and the access log (the request id in text mode; in JSON mode the app's own request line
    replaces it, so each request is logged once, as JSON)."""
    options: dict[str, Any] = {
        "bind": [bind, settings.metrics_bind] if settings.metrics_bind else [bind],
        # Never log headers (Authorization); the request line is redacted by the logger.
        "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(L)ss %({x-request-id}o)s',
        **gunicorn_hooks(),
    }
    if settings.log_format == "json":
        options["accesslog"] = None
    return options
