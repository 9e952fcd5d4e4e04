"""A per-process cache of built node documents and their rendered answers.

Entries stay valid until a committed transaction affects their certname. Before each use
the process asks, in one statement (``change_feed.changes_since``), which certnames changed
since the version it last saw, and drops exactly those (`sync`); a write that changes no
document (a heartbeat, token bookkeeping) drops nothing. A write of unknown consequence
(``*``), or a gap longer than the change feed keeps, drops everything.

An entry is stored only if no newer version was synced while it was being built: a document
built from data older than an invalidation the cache has already applied would otherwise
outlive it.

Memory only and per process: another worker or API host builds its own, so the API stays
stateless. Bounded (least recently used out first).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from .affected import EVERYTHING
from .change_feed import Changes
from .node_document import document_hash

DEFAULT_SIZE = 2000


@dataclass
class CachedDocument:
    version: int | None  # the version synced before the build; None: never stored
    document: dict[str, Any]
    hash: str = ""
    # Rendered answers by view and format: (body, etag). Filled on first use.
    renders: dict[str, tuple[bytes, str]] = field(default_factory=dict)


def canonical_name(certname: str, document: dict[str, Any]) -> str:
    """The name invalidations use: a VM asked for by uuid is invalidated by hostname."""
    vm = document.get("vm")
    return vm["hostname"] if vm is not None else certname


class DocumentCache:
    """``certname → CachedDocument``, LRU-bounded, safe to share between threads."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self.seen: int | None = None  # the newest version whose changes were applied
        self._entries: OrderedDict[str, CachedDocument] = OrderedDict()
        self._canonical: dict[str, str] = {}  # key → canonical name
        self._lock = threading.Lock()

    def sync(self, changes: Changes) -> None:
        """Apply `changes` (read with ``since=self.seen``): drop what they name."""
        with self._lock:
            if changes.version is None:
                self._clear()
                self.seen = None
                return
            if self.seen is not None and changes.version <= self.seen:
                return  # another thread already applied as much
            if (
                self.seen is None
                or self.seen < changes.retained_from
                or EVERYTHING in changes.certnames
            ):
                self._clear()
            else:
                for key in [k for k, c in self._canonical.items() if c in changes.certnames]:
                    self._entries.pop(key, None)
                    self._canonical.pop(key, None)
            self.seen = changes.version

    def _clear(self) -> None:
        self._entries.clear()
        self._canonical.clear()

    def get(self, certname: str) -> CachedDocument | None:
        with self._lock:
            entry = self._entries.get(certname)
            if entry is not None:
                self._entries.move_to_end(certname)
            return entry

    def put(self, certname: str, version: int | None, document: dict[str, Any]) -> CachedDocument:
        entry = CachedDocument(version, document, document_hash(document))
        if version is None or self.size <= 0:
            return entry
        with self._lock:
            if self.seen is None or version < self.seen:
                return entry  # built before an invalidation this cache already applied
            self._entries[certname] = entry
            self._canonical[certname] = canonical_name(certname, document)
            self._entries.move_to_end(certname)
            while len(self._entries) > self.size:
                key, _ = self._entries.popitem(last=False)
                self._canonical.pop(key, None)
        return entry

    def __len__(self) -> int:
        return len(self._entries)
