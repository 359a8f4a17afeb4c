"""A pytest plugin: under ``MUSEFORGE_REQUIRE_ALL=1`` a skipped test fails, naming what is
missing. ``make test`` sets it, so a machine without a part README promises (PostgreSQL,
llama.cpp, FluidSynth, a model wheel) fails loudly instead of passing with gaps."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

REQUIRE_ALL = "MUSEFORGE_REQUIRE_ALL"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get(REQUIRE_ALL) == "1" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"missing a part that make test requires: {reason}"
