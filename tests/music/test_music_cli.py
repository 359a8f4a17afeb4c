"""``museforge music`` end to end: real files in, real MIDI/MusicXML/WAV/PNG out, the store
records every result with its seed, model and parents."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from museforge.cli import run
from museforge.core.checkpoints import load_state
from museforge.core.store import Store
from museforge.music.melody import events_to_notes, notes_to_events
from museforge.music.midi_file import read_midi
from museforge.music.model import MelodyVAE, MelodyVAEConfig
from museforge.music.render import write_midi

TINY = MelodyVAEConfig(embed_dim=16, enc_hidden=32, z_dim=16, dec_hidden=48, dec_layers=1)


def _tune(rng: np.random.Generator, bars: int = 4) -> np.ndarray:
    """A random walk in C major, eighth notes: a plausible little folk tune."""
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    degree, notes = 3, []
    for step in range(0, bars * 16, 2):
        degree = int(np.clip(degree + rng.integers(-2, 3), 0, len(scale) - 1))
        notes.append((scale[degree], step, step + 2))
    return notes_to_events(notes).astype(np.int64)


@pytest.fixture(scope="module")
def tunes(tmp_path_factory) -> list:
    folder = tmp_path_factory.mktemp("tunes")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(80):  # enough that the 5% hold-out has some tunes
        path = folder / f"tune{i:02d}.mid"
        write_midi(_tune(rng), path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny"
    MelodyVAE(TINY).save_pretrained(path)
    return path


def music(*args: object) -> int:
    """Run ``museforge music ARGS`` in this process; returns the exit code."""
    return run(["music", *map(str, args)])


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MUSEFORGE_DB_URL", raising=False)
    monkeypatch.setenv("MUSEFORGE_DEVICE", "cpu")


def test_sample_writes_every_format_and_records_seed_and_model(model_dir, tmp_path):
    out = tmp_path / "out"
    assert music("sample", "--model", model_dir, "--n", "2", "--seed", "7", "--out", out) == 0
    for i in (1, 2):
        for ext in ("mid", "musicxml", "wav", "png"):
            assert (out / f"sample-s7-{i:02d}.{ext}").stat().st_size > 0
    manifest = json.loads((out / "sample-s7.results.json").read_text())
    assert manifest["seed"] == 7 and manifest["model"].startswith("tiny@")
    with Store() as store:
        melodies = store.list_artifacts(kind="melody")
        assert len(melodies) == 2
        assert {m.seed for m in melodies} == {7}
        assert all(m.model_id == manifest["model"] for m in melodies)
        audio = store.list_artifacts(kind="audio")
        assert {e.relation for a in audio for e in store.parents(a.id)} == {"rendered-from"}


def test_same_seed_gives_byte_identical_files(model_dir, tmp_path):
    for name in ("a", "b"):
        assert (
            music(
                "sample", "--model", model_dir, "--seed", "3", "--n", "2", "--out", tmp_path / name
            )
            == 0
        )
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert len(files) == 9
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_written_midi_parses_back_to_the_sampled_notes(model_dir, tmp_path):
    from museforge.music.generate import sample

    out = tmp_path / "out"
    assert (
        music(
            "sample",
            "--model",
            model_dir,
            "--seed",
            "5",
            "--n",
            "1",
            "--temperature",
            "1.0",
            "--out",
            out,
        )
        == 0
    )
    expected = sample(MelodyVAE.from_pretrained(model_dir), 1, seed=5, temperature=1.0)[0]
    parsed = read_midi(out / "sample-s5.mid")
    got = sorted((p, s, e) for part in parsed.parts for p, s, e in part.notes)
    assert got == sorted(events_to_notes(expected))


def test_interpolate_continue_vary_keep_their_parents(model_dir, tunes, tmp_path):
    a, b = str(tunes[0]), str(tunes[1])
    common = ["--model", model_dir, "--format", "mid"]
    assert music("interpolate", a, b, "--steps", "4", "--out", str(tmp_path / "i"), *common) == 0
    assert music("continue", a, "--bars", "2", "--out", str(tmp_path / "c"), *common) == 0
    assert (
        music("vary", a, "--amount", "0.5", "--n", "3", "--out", str(tmp_path / "v"), *common) == 0
    )
    assert len(list((tmp_path / "i").glob("*.mid"))) == 4
    assert len(list((tmp_path / "v").glob("*.mid"))) == 3
    continued = read_midi(tmp_path / "c" / "continuation-s0.mid")
    original = read_midi(tunes[0])
    assert max(e for part in continued.parts for _, _, e in part.notes) > 4 * 16 - 1
    first_bars = [n for n in original.parts[0].notes if n[2] <= 4 * 16]
    assert set(first_bars) <= {n for part in continued.parts for n in part.notes}
    with Store() as store:
        relations = {}
        for melody in store.list_artifacts(kind="melody"):
            for edge in store.parents(melody.id):
                relations.setdefault(edge.relation, set()).add(edge.artifact.id)
        assert set(relations) == {
            "interpolation-of",
            "continuation-of",
            "variation-of",
            "generated-by",
        }
        assert len(relations["interpolation-of"]) == 2
        (model,) = relations["generated-by"]  # the one model made them all
        assert store.get(model).kind == "model"


def test_train_from_a_folder_then_resume(tunes, tmp_path):
    folder = str(tunes[0].parent)
    out = tmp_path / "run"
    args = ["train", "--data", folder, "--out", out, "--batch-size", "4"]
    assert music(*args, "--steps", "2") == 0
    assert (out / "model" / "model.safetensors").is_file() and (out / "dataset.npz").is_file()
    # the cosine schedule ends where the run ends: more steps is another run, unless asked
    assert music(*args, "--steps", "3", "--resume") == 2
    assert music(*args, "--steps", "3", "--resume", "--allow-config-change") == 0
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 3
    config = json.loads((out / "model" / "config.json").read_text())
    assert "music train" in config["command"] and "--resume" in config["resumed_with"][0]
    assert config["config_changes"] == [{"step": 2, "field": "steps", "was": 2, "now": 3}]

    # the trained model is in the store, trained from its data; what it makes names it
    assert music("sample", "--model", out / "model", "--n", "1", "--out", tmp_path / "s") == 0
    with Store() as store:
        melody = store.list_artifacts(kind="melody")[0]
        (made_by,) = [e for e in store.parents(melody.id) if e.relation == "generated-by"]
        assert made_by.artifact.kind == "model"
        data = [e.artifact.kind for e in store.parents(made_by.artifact.id)]
        assert data == ["dataset"]


def test_evaluate_prints_the_acceptance_keys(model_dir, tunes, tmp_path, capsys):
    folder = str(tunes[0].parent)
    assert (
        music("evaluate", "--model", model_dir, "--data", folder, "--samples", "20", "--json") == 0
    )
    report = json.loads(capsys.readouterr().out)
    for key in (
        "recon_acc_teacher_forced",
        "recon_acc_greedy",
        "recon_acc_sampled",
        "overlap_mean",
        "verbatim_share",
    ):
        assert 0.0 <= report[key] <= 1.0, key
    assert 0.0 <= report["in_key_share"] <= 1.0
    assert 0.9 <= report["in_key_share_heldout"] <= 1.0  # folk tunes stay in their keys
    assert report["held_out_near_duplicates"] >= 0
    assert set(report["features"]) >= {
        "pitch_range",
        "pitch_class_entropy",
        "scale_consistency",
        "empty_beat_rate",
        "groove_consistency",
    }


def test_ctrl_c_during_train_saves_a_checkpoint_and_exits_130(tunes, tmp_path):
    out = tmp_path / "run"
    exe = Path(sys.executable).with_name("museforge")
    env = {**os.environ, "MUSEFORGE_HOME": str(tmp_path / "home"), "MUSEFORGE_DEVICE": "cpu"}
    args = [str(exe), "music", "train", "--data", str(tunes[0].parent), "--out", str(out)]
    proc = subprocess.Popen(
        [*args, "--batch-size", "4", "--steps", "100000"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "metrics.jsonl").is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "--resume" in err.strip().splitlines()[-1]
    _, meta = load_state(out / "checkpoint.safetensors")
    assert meta["step"] >= 1 and "music train" in meta["commands"][0]


def test_16_bar_training_names_a_missing_segment_model_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    code = music("train", "--bars", "16", "--segment-model", tmp_path / "nope", "--out", out)
    assert code == 2 and not out.exists()
    assert "nope" in capsys.readouterr().err


def test_sample_and_evaluate_take_a_stacked_model(model_dir, tunes, tmp_path, capsys):
    from museforge.music.stacked import StackedMelodyVAE, StackedMelodyVAEConfig

    torch.manual_seed(0)
    long = tmp_path / "long"
    config = StackedMelodyVAEConfig(bars=4, segment=TINY, z_dim=8, enc_hidden=16)
    StackedMelodyVAE(config).save_pretrained(long)
    out = tmp_path / "long-out"
    assert music("sample", "--model", long, "--n", "2", "--out", out, "--format", "mid") == 0
    written = sorted(out.glob("*.mid"))
    assert len(written) == 2
    assert read_midi(written[0]).parts  # a real MIDI file with notes in it
    folder = str(tunes[0].parent)
    capsys.readouterr()
    assert music("evaluate", "--model", long, "--data", folder, "--samples", "10", "--json") == 0
    assert 0.0 <= json.loads(capsys.readouterr().out)["recon_acc_sampled"] <= 1.0


def test_adapting_from_a_source_trains_against_a_domain_classifier(model_dir, tunes, tmp_path):
    target, source = tmp_path / "target", tmp_path / "source"
    target.mkdir()
    source.mkdir()
    for i, path in enumerate(tunes[:40]):  # two folders of tunes
        (target if i % 2 else source).joinpath(path.name).write_bytes(path.read_bytes())
    out = tmp_path / "run"
    args = ["train", "--data", target, "--out", out, "--init", model_dir, "--steps", "3"]
    args += ["--batch-size", "4", "--adapt-from", source, "--domain-adversarial", "0.5"]
    args += ["--freeze", "decoder", "--lr-scale", "encoder=0.5"]
    assert music(*args) == 0
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(0.0 <= row["domain_acc"] <= 1.0 for row in logged if "loss" in row)
    before, after = MelodyVAE.from_pretrained(model_dir), MelodyVAE.from_pretrained(out / "model")
    assert torch.equal(before.head.weight, after.head.weight)  # the frozen decoder
    assert not torch.equal(before.to_mu.weight, after.to_mu.weight)  # the encoder trained


def test_transfer_flags_need_a_model_to_carry_over(tunes, tmp_path, capsys):
    out = tmp_path / "run"
    folder = tunes[0].parent
    assert music("train", "--data", folder, "--out", out, "--adapt-from", folder) == 2
    assert "--init" in capsys.readouterr().err and not out.exists()
    weight = ["--init", "melody-2bar", "--domain-adversarial", "0.5"]  # and no source
    assert music("train", "--data", folder, "--out", out, *weight) == 2
    assert "needs --adapt-from" in capsys.readouterr().err and not out.exists()
