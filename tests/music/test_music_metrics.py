"""MusPy features of hand-made melodies, Yang & Lerch overlaps on a real corpus slice,
and the verbatim check against training windows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from museforge.errors import UserError
from museforge.music.data import build_dataset, load_dataset
from museforge.music.melody import NOTE_OFF, NUM_CLASSES, notes_to_events, pitch_to_class
from museforge.music.metrics import (
    FEATURES,
    empty_beat_rate,
    evaluate_samples,
    groove_consistency,
    kernel_density,
    melody_features,
    overlap_and_kl,
    pitch_class_entropy,
    pitch_range,
    scale_consistency,
    scott_bandwidth,
    verbatim_share,
)

C_MAJOR = [60, 62, 64, 65, 67, 69, 71]


def melody(notes: list[tuple[int, int, int]], steps: int = 32) -> np.ndarray:
    """One window [1, steps] of (pitch, start, end) notes."""
    return notes_to_events(notes, steps).astype(np.int64)[None]


def rhythm(onsets: list[int], steps: int = 32, pitch: int = 60) -> np.ndarray:
    """One window with a note-on of ``pitch`` at each onset step, held to the next."""
    row = np.zeros((1, steps), dtype=np.int64)
    row[0, onsets] = pitch_to_class(pitch)
    return row


def test_features_of_a_c_major_scale_in_quarter_notes():
    scale = melody([(p, 4 * i, 4 * i + 4) for i, p in enumerate(C_MAJOR)])
    features = {name: values[0] for name, values in melody_features(scale).items()}
    assert features["pitch_range"] == 11
    assert features["n_pitches_used"] == 7
    assert features["n_pitch_classes_used"] == 7
    assert features["pitch_class_entropy"] == pytest.approx(np.log2(7))
    assert features["scale_consistency"] == 1.0
    assert features["empty_beat_rate"] == pytest.approx(1 / 8)  # the note-off empties beat 8
    assert features["groove_consistency"] == pytest.approx(1 - 1 / 16)  # no onset on beat 4
    assert features["note_density"] == pytest.approx(7 / 32)
    assert features["mean_interval"] == pytest.approx(11 / 6)


def test_scale_consistency_counts_minor_scales_and_chromatic_notes():
    a_minor = melody([(p, 2 * i, 2 * i + 2) for i, p in enumerate([57, 59, 60, 62, 64, 65, 67])])
    chromatic = melody([(60 + i, 2 * i, 2 * i + 2) for i in range(12)])
    assert scale_consistency(a_minor)[0] == 1.0
    assert scale_consistency(chromatic)[0] == pytest.approx(7 / 12)
    assert pitch_class_entropy(chromatic)[0] == pytest.approx(np.log2(12))
    octaves = melody([(48, 0, 4), (60, 4, 8), (72, 8, 12)])
    assert pitch_class_entropy(octaves)[0] == 0.0 and pitch_range(octaves)[0] == 24


def test_empty_beats_count_sounding_notes_not_onsets():
    whole_note_in_bar_one = melody([(60, 0, 16)])
    assert empty_beat_rate(whole_note_in_bar_one)[0] == 0.5
    half_note_then_rest = melody([(60, 0, 8)])
    assert empty_beat_rate(half_note_then_rest)[0] == 6 / 8
    assert empty_beat_rate(np.zeros((1, 32), dtype=np.int64))[0] == 1.0


def test_groove_consistency_compares_the_onsets_of_neighbouring_bars():
    quarters = [0, 4, 8, 12]
    assert groove_consistency(rhythm(quarters + [16 + t for t in quarters]))[0] == 1.0
    eighths = list(range(16, 32, 2))
    assert groove_consistency(rhythm(quarters + eighths))[0] == 1 - 4 / 16
    four_bars = rhythm([0, 16, 32, 48, 52], steps=64)
    assert groove_consistency(four_bars)[0] == pytest.approx(1 - 1 / 48)
    assert np.isnan(groove_consistency(rhythm([0, 4], steps=16))[0])


def test_silence_has_no_pitch_features():
    features = melody_features(np.zeros((1, 32), dtype=np.int64))
    assert features["pitch_range"][0] == 0 and features["n_pitches_used"][0] == 0
    assert np.isnan(features["pitch_class_entropy"][0])
    assert np.isnan(features["scale_consistency"][0])
    assert features["empty_beat_rate"][0] == 1.0


def test_binned_density_matches_the_exact_kernel_estimate():
    values = np.random.default_rng(1).gamma(2.0, 1.0, size=3000)
    h = scott_bandwidth(values)
    grid = np.linspace(values.min() - 5 * h, values.max() + 5 * h, 1001)
    exact = np.exp(-0.5 * ((grid[:, None] - values) / h) ** 2).sum(1) / (
        len(values) * h * np.sqrt(2 * np.pi)
    )
    binned = kernel_density(values, grid, h)
    assert np.abs(binned - exact).max() < 0.01 * exact.max()
    assert np.trapezoid(binned, grid) == pytest.approx(1.0, abs=1e-3)


def test_overlap_is_one_for_equal_sets_and_near_zero_for_distant_ones():
    rng = np.random.default_rng(2)
    a = rng.normal(size=500)
    overlap, kl = overlap_and_kl(a, a)
    assert overlap == pytest.approx(1.0, abs=1e-3) and kl == pytest.approx(0.0, abs=1e-6)
    overlap, kl = overlap_and_kl(a, rng.normal(10.0, 1.0, size=500))
    assert overlap < 0.01 and kl > 5
    assert overlap_and_kl(np.zeros(50), np.zeros(50)) == (1.0, 0.0)
    assert overlap_and_kl(np.zeros(50), np.ones(50))[0] < 0.05


@pytest.fixture(scope="module")
def corpus_windows(tmp_path_factory) -> np.ndarray:
    """Two-bar windows of a real slice of music21's corpus, in tune order."""
    out = tmp_path_factory.mktemp("corpus") / "melodies.npz"
    build_dataset("corpus", out, jobs=1, limit=80, progress=False)
    windows = load_dataset(out).windows(2, "train")
    assert len(windows) > 300
    return windows


def test_halves_of_a_corpus_overlap_and_noise_does_not(corpus_windows):
    half = len(corpus_windows) // 2  # windows come tune by tune: the halves share few tunes
    first, second = corpus_windows[:half], corpus_windows[half:]
    real = evaluate_samples(first, second)
    noise = np.random.default_rng(3).integers(0, NUM_CLASSES, size=(half, 32))
    fake = evaluate_samples(noise, second)
    assert set(real["features"]) == set(FEATURES)
    assert real["overlap_mean"] >= 0.8, real
    assert fake["overlap_mean"] < real["overlap_mean"] - 0.3, fake
    assert fake["features"]["pitch_range"]["overlap"] < 0.1
    json.dumps(real, allow_nan=False)
    json.dumps(fake, allow_nan=False)


def test_evaluation_is_deterministic_for_a_seed(corpus_windows):
    samples, heldout = corpus_windows[:200], corpus_windows[200:]
    first = evaluate_samples(samples, heldout, corpus_windows, seed=5, max_pairs=2000)
    assert first == evaluate_samples(samples, heldout, corpus_windows, seed=5, max_pairs=2000)
    other = evaluate_samples(samples, heldout, corpus_windows, seed=6, max_pairs=2000)
    assert other["overlap_mean"] != first["overlap_mean"]
    assert first["verbatim_share"] == 1.0 and first["samples"] == 200


def test_silent_samples_have_no_overlap_in_pitch_features(corpus_windows):
    silent = np.zeros((10, 32), dtype=np.int64)
    silent[:, 0] = NOTE_OFF
    result = evaluate_samples(silent, corpus_windows)
    entropy = result["features"]["pitch_class_entropy"]
    assert entropy == {
        "generated_mean": None,
        "heldout_mean": entropy["heldout_mean"],
        "overlap": 0.0,
        "kl": None,
    }
    json.dumps(result, allow_nan=False)


def test_verbatim_share_finds_copies_and_not_shuffles(corpus_windows):
    assert verbatim_share(corpus_windows, corpus_windows) == 1.0
    shuffled = np.random.default_rng(4).permuted(corpus_windows, axis=1)
    assert verbatim_share(shuffled, corpus_windows) < 0.05
    half_copied = np.concatenate([corpus_windows[:50], shuffled[:50]])
    assert verbatim_share(half_copied, corpus_windows) == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize(
    ("samples", "problem"),
    [
        (np.zeros(32, dtype=np.int64), "2-d"),
        (np.zeros((2, 32)), "integer"),
        (np.full((2, 32), NUM_CLASSES), "0..89"),
        (np.zeros((2, 20), dtype=np.int64), "whole bars"),
        (np.zeros((2, 16), dtype=np.int64), "shorter than 2 bars"),
    ],
)
def test_bad_melodies_are_user_errors(samples, problem):
    heldout = np.ones((4, 32), dtype=np.int64)
    heldout[:, 0] = pitch_to_class(60)
    with pytest.raises(UserError, match=problem):
        evaluate_samples(samples, heldout)


def test_samples_and_training_windows_must_have_the_same_length():
    with pytest.raises(UserError, match="cannot match"):
        verbatim_share(np.zeros((2, 32), dtype=np.int64), np.zeros((2, 64), dtype=np.int64))
