"""Rendered pages kept while the store has not changed, so browsing stays fast.

The gallery and lineage pages depend only on artifacts, lineage, ratings and marks, all
tables that are only ever appended to. The highest row number of each, read in one small
query, is the store's version: any write (by this studio or by a CLI on the same store)
changes it and so retires every page kept before. A page is kept with a slot where each
request's CSRF token goes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from sqlalchemy import text

from museforge.core.store import Store
from museforge.studio.marks import _tables as mark_tables

CSRF_SLOT = "\x00csrf\x00"
PAGES = 512  # a few MB of HTML at most
_VERSION = text(
    "SELECT (SELECT max(rowid) FROM artifact), (SELECT max(id) FROM lineage), "
    "(SELECT max(id) FROM rating), (SELECT max(id) FROM studio_mark)"
)


class PageCache:
    """The last ``PAGES`` pages rendered at the store's current version."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pages: OrderedDict[Hashable, tuple[tuple, str]] = OrderedDict()
        self._lock = threading.Lock()
        self.rowid = store.url.startswith("sqlite")  # PostgreSQL has no rowid: no caching

    def version(self) -> tuple:
        mark_tables(self.store)
        with self.store._read() as session:
            return tuple(session.execute(_VERSION).one())

    def page(self, key: Hashable, render: Callable[[], str], csrf: str) -> str:
        """The page for ``key``, rendered again only when the store has changed."""
        if not self.rowid:
            return render().replace(CSRF_SLOT, csrf)
        version = self.version()
        with self._lock:
            kept = self._pages.get(key)
            if kept is not None and kept[0] == version:
                self._pages.move_to_end(key)
                return kept[1].replace(CSRF_SLOT, csrf)
        html = render()
        with self._lock:
            self._pages[key] = (version, html)
            while len(self._pages) > PAGES:
                self._pages.popitem(last=False)
        return html.replace(CSRF_SLOT, csrf)
