"""``museforge story pull`` against a local HTTP server standing in for the Hugging Face hub
($HF_ENDPOINT): a file with the pinned sha256 lands in the models folder and --model finds
it; a wrong hash or size is refused with one line (exit 2) and nothing is left behind."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from museforge.cli import run
from museforge.story.llm import kept_model
from museforge.story.pull import CATALOGUE

REPO, REVISION, FILE = "someone/tiny-model", "0123456789abcdef0123456789abcdef01234567", "m.gguf"
DATA = b"GGUF" + bytes(range(256)) * 40


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A hub on 127.0.0.1 serving DATA at REPO's REVISION, as $HF_ENDPOINT."""
    root = tmp_path / "hub"
    served = root / REPO / "resolve" / REVISION / FILE
    served.parent.mkdir(parents=True)
    served.write_bytes(DATA)
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path / "home"))
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def _manifest(tmp_path: Path) -> Path:
    good = {"repo": REPO, "revision": REVISION, "file": FILE, "size": len(DATA)}
    sha = hashlib.sha256(DATA).hexdigest()
    entries = {
        "tiny": good | {"sha256": sha},
        "tampered": good | {"sha256": "0" * 64},
        "short": good | {"sha256": sha, "size": len(DATA) - 1},
        "gone": good | {"sha256": sha, "file": "missing.gguf"},
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(entries))
    return path


def _models(tmp_path: Path) -> list[str]:
    folder = tmp_path / "home" / "models"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_a_pinned_file_lands_and_a_bad_one_leaves_nothing(hub, tmp_path, capsys):
    manifest = str(_manifest(tmp_path))
    for name, why in (("tampered", "sha256"), ("short", "larger than"), ("gone", "HTTP 404")):
        assert run(["story", "pull", name, "--manifest", manifest]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and why in err and "\n" not in err, err
        assert _models(tmp_path) == []
    assert run(["story", "pull", "tiny", "--manifest", manifest]) == 0
    assert "--model tiny" in capsys.readouterr().out
    assert _models(tmp_path) == ["tiny.gguf"]
    assert kept_model("tiny").read_bytes() == DATA
    assert run(["story", "pull", "nope", "--manifest", manifest]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err


def test_the_curated_model_is_pinned_to_a_commit_and_a_hash():
    remote = CATALOGUE["qwen2.5-coder-1.5b"]
    assert len(remote.revision) == 40 and remote.size == 1_117_320_768
    assert remote.url("http://127.0.0.1:1/") == (
        f"http://127.0.0.1:1/{remote.repo}/resolve/{remote.revision}/{remote.file}"
    )
