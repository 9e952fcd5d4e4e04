"""A per-process cache of built node documents and their rendered answers.

Entries are tagged with the data version (``audit.data_version``) read *before* the document
was built, and used only while the version is unchanged: any committed write anywhere
invalidates every entry at once. Coarse, but always right, and one ``SELECT`` decides.
Reading the version first matters: a write committed during the build gives an entry with
the older version, which the next request simply rebuilds; never a stale entry with the
newer one.

Memory only and per process: another worker or API host builds its own, so the API stays
stateless. Bounded (least recently used out first).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SIZE = 2000


@dataclass
class CachedDocument:
    version: int | None  # None: built without a version, never stored
    document: dict[str, Any]
    # Rendered answers by view and format: (body, etag). Filled on first use.
    renders: dict[str, tuple[bytes, str]] = field(default_factory=dict)


class DocumentCache:
    """``certname → CachedDocument``, LRU-bounded, safe to share between threads."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[str, CachedDocument] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, certname: str, version: int | None) -> CachedDocument | None:
        """The entry for certname if it was built at `version`."""
        if version is None:
            return None
        with self._lock:
            entry = self._entries.get(certname)
            if entry is None or entry.version != version:
                return None
            self._entries.move_to_end(certname)
            return entry

    def put(self, certname: str, version: int | None, document: dict[str, Any]) -> CachedDocument:
        entry = CachedDocument(version, document)
        if version is None or self.size <= 0:
            return entry
        with self._lock:
            self._entries[certname] = entry
            self._entries.move_to_end(certname)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return entry

    def __len__(self) -> int:
        return len(self._entries)
