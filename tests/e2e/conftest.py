"""Browser tests: Debian's chromium driven by Playwright against a real studio on loopback.

The browser is the system's (``/usr/bin/chromium``, installed by scripts/system-deps.sh);
Playwright never downloads one. Screenshots go to a folder the test prints.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "studio"))  # the shared studio helpers

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402
from studio_server import Studio, free_port, serve  # noqa: E402

from museforge.core.store import Store  # noqa: E402
from museforge.studio import StudioConfig  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 120_000  # a job on a busy two-core machine; a pass takes far less
expect.set_options(timeout=WAIT_MS)
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: scripts/system-deps.sh installs Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def studio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Studio]:
    home = tmp_path / "home"
    monkeypatch.setenv("MUSEFORGE_HOME", str(home))
    monkeypatch.delenv("MUSEFORGE_DB_URL", raising=False)
    with Store() as store, serve(StudioConfig(port=free_port()), store) as url:
        yield Studio(url, store, home)


@pytest.fixture
def page(browser: Browser, studio: Studio) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=studio.url)
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def shot(page: Page, tmp_path: Path) -> Callable[[str], Path]:
    """Save a full-page screenshot named ``name`` into a folder the test prints."""
    folder = tmp_path / "screenshots"
    folder.mkdir()
    print(f"screenshots: {folder}")

    def take(name: str) -> Path:
        page.evaluate("window.scrollTo(0, 0)")  # the sticky header stays on top
        path = folder / f"{name}.png"
        page.screenshot(path=path, full_page=True)
        return path

    return take
