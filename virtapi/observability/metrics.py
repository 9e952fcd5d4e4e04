"""The metrics virtapi exports, and the small functions code calls to move them.

Label values come only from closed sets (route templates, status codes, a few reasons, views,
engines): never a path, a hostname, a token or anything else a client chooses, so the number
of series stays bounded whatever the traffic.

Under gunicorn every worker writes its values to files in PROMETHEUS_MULTIPROC_DIR (see
multiproc.py) and a scrape merges them; without that variable (tests, `serve --dev`) values
live in this process. The metric objects are made per process on first use, after gunicorn's
fork, so that a master which imported this module early does not hand its in-memory values
down to the workers.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values

PREFIX = "virtapi"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "<unmatched>"
DOCUMENT_VIEWS = frozenset({"enc", "hiera", "pillar", "document"})
REFUSAL_REASONS = frozenset({"quota", "capacity"})
ENGINES = frozenset({"primary", "replica"})
FORMATS = frozenset({"yaml", "json"})
# Node documents are budgeted at 5 ms uncached: resolution around that.
_DOCUMENT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_LAG_BUCKETS = (0, 1, 5, 10, 50, 100, 500, 1000, 5000, 10000)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


@dataclass(frozen=True)
class Metrics:
    http_requests: Counter
    http_duration: Histogram
    auth_failures: Counter
    db_statements: Counter
    db_pool_checked_out: Gauge
    db_connections_opened: Counter
    document_build: Histogram
    document_cache: Counter
    document_renders: Counter
    allocations_refused: Counter
    feed_waiters: Gauge
    feed_cursor_lag: Histogram


def _build() -> Metrics:
    kw = {"namespace": PREFIX, "registry": None}
    return Metrics(
        http_requests=Counter(
            "http_requests", "HTTP requests by route template and status",
            ["method", "route", "status"], **kw,
        ),
        http_duration=Histogram(
            "http_request_duration_seconds", "HTTP request latency by route template and status",
            ["method", "route", "status"], **kw,
        ),
        auth_failures=Counter(
            "auth_failures", "Refused authentications and authorisations by reason",
            ["reason"], **kw,
        ),
        db_statements=Counter(
            "db_statements", "SQL statements sent, by engine", ["engine"], **kw
        ),
        db_pool_checked_out=Gauge(
            "db_pool_checked_out", "Database connections in use, by engine",
            ["engine"], multiprocess_mode="livesum", **kw,
        ),
        db_connections_opened=Counter(
            "db_connections_opened", "New database connections opened, by engine",
            ["engine"], **kw,
        ),
        document_build=Histogram(
            "document_build_seconds", "Time to build one node document (cache misses only)",
            buckets=_DOCUMENT_BUCKETS, **kw,
        ),
        document_cache=Counter(
            "document_cache", "Node document cache look-ups by view and result",
            ["view", "result"], **kw,
        ),
        document_renders=Counter(
            "document_renders", "Config-management answers serialised (not served from cache)",
            ["format"], **kw,
        ),
        allocations_refused=Counter(
            "allocations_refused", "VM creations or resizes refused, by reason",
            ["reason"], **kw,
        ),
        feed_waiters=Gauge(
            "feed_waiters", "Change-feed clients waiting in a long poll",
            multiprocess_mode="livesum", **kw,
        ),
        feed_cursor_lag=Histogram(
            "feed_cursor_lag_changes", "Changes a feed client's cursor was behind the head",
            buckets=_LAG_BUCKETS, **kw,
        ),
    )  # fmt: skip


_lock = threading.Lock()
_current: tuple[int, Metrics] | None = None


def get() -> Metrics:
    """This process's metrics, made on first use (after gunicorn's fork)."""
    global _current
    pid = os.getpid()
    if _current is None or _current[0] != pid:
        with _lock:
            if _current is None or _current[0] != pid:
                # prometheus_client picks its storage when first imported; the variable may have
                # been set later (by `virtapi serve`, before the fork), so pick again here.
                if multiprocess_dir() and values.ValueClass is values.MutexValue:
                    values.ValueClass = values.MultiProcessValue()
                _children.clear()
                _current = (pid, _build())
    return _current[1]


# Labelled children by metric and label values. prometheus_client's labels() validates and
# locks on every call; a request moves about six series, so look each one up once per process.
# Bounded like the series themselves: label values come from closed sets.
_children: dict[tuple[int, tuple[str, ...]], Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    key = (id(metric), labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def local_registry() -> CollectorRegistry:
    """A registry holding this process's metric objects (single-process mode)."""
    registry = CollectorRegistry(auto_describe=True)
    for metric in vars(get()).values():
        registry.register(metric)
    return registry


def _closed(value: str, allowed: frozenset[str]) -> str:
    return value if value in allowed else "other"


# --- what the rest of virtapi calls -----------------------------------------------------------


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    labels = (_closed(method, METHODS), route, str(status))
    m = get()
    _child(m.http_requests, *labels).inc()
    _child(m.http_duration, *labels).observe(seconds)


def count_auth_failure(reason: str) -> None:
    _child(get().auth_failures, reason).inc()


def count_statement(engine: str) -> None:
    _child(get().db_statements, _closed(engine, ENGINES)).inc()


def pool_checkout(engine: str, delta: int) -> None:
    _child(get().db_pool_checked_out, _closed(engine, ENGINES)).inc(delta)


def count_connection(engine: str) -> None:
    _child(get().db_connections_opened, _closed(engine, ENGINES)).inc()


def document_build_timer() -> AbstractContextManager[Any]:
    """``with document_build_timer(): build_node_document(...)`` observes the build time."""
    return get().document_build.time()


def observe_document_build(seconds: float) -> None:
    """Call with the wall time of one node-document build (not for cache hits)."""
    get().document_build.observe(seconds)


def count_cache(view: str, hit: bool) -> None:
    """Call once per document cache look-up; ``view`` is enc, hiera, pillar or document."""
    _child(get().document_cache, _closed(view, DOCUMENT_VIEWS), "hit" if hit else "miss").inc()


def count_render(fmt: str) -> None:
    """Call once per ENC/Hiera/pillar answer serialised; ``fmt`` is yaml or json."""
    _child(get().document_renders, _closed(fmt, FORMATS)).inc()


def count_refusal(reason: str) -> None:
    """Call when a VM creation or resize is refused; ``reason`` is quota or capacity."""
    _child(get().allocations_refused, _closed(reason, REFUSAL_REASONS)).inc()


@contextmanager
def feed_waiter() -> Iterator[None]:
    """Wrap a change-feed long poll: counts the clients waiting right now."""
    gauge = get().feed_waiters
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


def observe_feed_lag(changes: int) -> None:
    """Call when a feed client asks: how many changes its cursor is behind the head."""
    get().feed_cursor_lag.observe(max(changes, 0))
