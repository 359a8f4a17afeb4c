"""``make test`` fails, not skips, when a part README promises is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import pytest

def test_story_runtime():
    pytest.importorskip("llama_cpp_absent", reason="llama.cpp (llama-cpp-python) is missing")
"""


def _pytest(folder: Path, require_all: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MUSEFORGE_REQUIRE_ALL"}
    if require_all:
        env["MUSEFORGE_REQUIRE_ALL"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "require_all", "-p", "no:cacheprovider"]
        + ["--rootdir", str(folder), str(folder / "test_probe.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
    )


def test_a_missing_part_fails_under_make_test_and_skips_otherwise(tmp_path):
    (tmp_path / "test_probe.py").write_text(PROBE)
    strict = _pytest(tmp_path, require_all=True)
    assert strict.returncode == 1, strict.stdout
    assert "1 failed" in strict.stdout
    assert "missing a part that make test requires" in strict.stdout
    assert "llama.cpp (llama-cpp-python) is missing" in strict.stdout
    relaxed = _pytest(tmp_path, require_all=False)
    assert relaxed.returncode == 0 and "1 skipped" in relaxed.stdout, relaxed.stdout
