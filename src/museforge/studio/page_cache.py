"""Rendered pages kept while the store has not changed, so browsing stays fast.

The gallery and lineage pages depend only on artifacts, lineage, ratings and marks, all
tables that are only ever appended to. The highest row number of each is the store's
version: any write (by this studio or by a CLI on the same store) changes it and so
retires every page kept before. Reading it costs one ``PRAGMA data_version`` on a
connection of the cache's own (SQLite bumps that number whenever another connection
commits); only then are the four row numbers read again.

A page is kept as bytes with a slot where each request's CSRF token goes, and answered
with an ETag made of the page, the version and that token: a browser that asks again
with ``If-None-Match`` gets an empty 304 without anything being read or rendered.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Hashable

from sqlalchemy.engine import make_url

from museforge.core.store import Store
from museforge.studio.marks import _tables as mark_tables

CSRF_SLOT = "\x00csrf\x00"
BUDGET_BYTES = 64 << 20  # pages kept at most: every gallery and lineage page of a big store
_VERSION = (
    "SELECT (SELECT max(rowid) FROM artifact), (SELECT max(id) FROM lineage), "
    "(SELECT max(id) FROM rating), (SELECT max(id) FROM studio_mark)"
)


class PageCache:
    """Pages rendered at the store's current version, least recently used dropped first."""

    def __init__(self, store: Store, budget_bytes: int = BUDGET_BYTES) -> None:
        self.store = store
        self.budget_bytes = budget_bytes
        self._pages: OrderedDict[Hashable, tuple[tuple, list[bytes], int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._data_version: int | None = None
        self._version: tuple = ()
        url = make_url(store.url)
        # PostgreSQL has no rowid and no data_version: pages are rendered every time there
        self.path = url.database if url.get_backend_name() == "sqlite" else None
        self.enabled = bool(self.path) and self.path != ":memory:"

    def version(self) -> tuple:
        """The store's version now: a few microseconds while nothing was written."""
        if not self.enabled:
            return ()
        with self._lock:
            if self._db is None:
                mark_tables(self.store)
                self._db = sqlite3.connect(self.path, check_same_thread=False)
            changed = self._db.execute("PRAGMA data_version").fetchone()[0]
            if changed != self._data_version:
                self._version = tuple(self._db.execute(_VERSION).fetchone())
                self._data_version = changed
            return self._version

    def etag(self, key: Hashable, version: tuple, csrf: str) -> str:
        digest = hashlib.blake2b(repr((key, version, csrf)).encode(), digest_size=12)
        return f'"{digest.hexdigest()}"'

    def get(self, key: Hashable, version: tuple, csrf: str) -> bytes | None:
        """The page kept for ``key`` at ``version`` with ``csrf`` in its slot, if any."""
        if not self.enabled:
            return None
        with self._lock:
            kept = self._pages.get(key)
            if kept is None or kept[0] != version:
                return None
            self._pages.move_to_end(key)
        return csrf.encode().join(kept[1])

    def put(self, key: Hashable, version: tuple, html: str, csrf: str) -> bytes:
        """Keep a page rendered with ``CSRF_SLOT`` for its token; returns it for ``csrf``."""
        parts = html.encode().split(CSRF_SLOT.encode())
        if self.enabled:
            size = sum(map(len, parts))
            with self._lock:
                old = self._pages.pop(key, None)
                self._bytes += size - (old[2] if old else 0)
                self._pages[key] = (version, parts, size)
                while self._bytes > self.budget_bytes and self._pages:
                    self._bytes -= self._pages.popitem(last=False)[1][2]
        return csrf.encode().join(parts)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
