"""The ``studio`` fixture: a real studio over a fresh store on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from studio_server import Studio, free_port, serve

from museforge.core.store import Store
from museforge.studio import StudioConfig


@pytest.fixture
def studio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Studio]:
    """A studio over a fresh store, with its job worker, on a free loopback port."""
    home = tmp_path / "home"
    monkeypatch.setenv("MUSEFORGE_HOME", str(home))
    monkeypatch.delenv("MUSEFORGE_DB_URL", raising=False)
    with Store() as store, serve(StudioConfig(port=free_port()), store) as url:
        yield Studio(url, store, home)
