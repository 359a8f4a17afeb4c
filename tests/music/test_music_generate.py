"""Generation with the melody VAE: sample, interpolate, vary, continue, attribute vectors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_music_model import (
    TINY,
    melody_windows,
    overfit,
)

from museforge.errors import UserError
from museforge.music.attributes import ATTRIBUTES, attribute
from museforge.music.generate import (
    apply_attributes,
    attribute_vector,
    continue_melody,
    decode,
    encode_mean,
    fit_attribute_vectors,
    interpolate,
    sample,
    slerp,
    vary,
)
from museforge.music.melody import NOTE_OFF, pitch_to_class
from museforge.music.model import MelodyVAE


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    return melody_windows(8, 32, seed=4)


@pytest.fixture(scope="module")
def model(windows) -> MelodyVAE:
    return overfit(TINY, windows, steps=250)


def accuracy(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.asarray(a) == np.asarray(b)).mean())


def test_sample_is_deterministic_for_a_seed(model):
    first = sample(model, n=3, seed=11, temperature=1.0)
    assert first.shape == (3, 32) and first.dtype == np.int64
    assert np.array_equal(first, sample(model, n=3, seed=11, temperature=1.0))
    assert not np.array_equal(first, sample(model, n=3, seed=12, temperature=1.0))


def test_interpolation_endpoints_reconstruct_inputs_and_move_steadily(model, windows):
    a, b = windows[0], windows[1]
    path = interpolate(model, a, b, steps=7)
    assert path.shape == (7, 32)
    assert accuracy(path[0], a) >= 0.9 and accuracy(path[-1], b) >= 0.9
    distances = [int((row != a).sum()) for row in path]
    assert distances == sorted(distances), distances
    assert np.array_equal(path, interpolate(model, a, b, steps=7))


def test_slerp_keeps_the_ends_and_the_norm_of_equal_codes():
    a, b = torch.randn(1, 16), torch.randn(1, 16)
    b = b * a.norm() / b.norm()
    path = slerp(a, b, torch.linspace(0, 1, 5))
    torch.testing.assert_close(path[0], a[0])
    torch.testing.assert_close(path[-1], b[0])
    torch.testing.assert_close(path.norm(dim=1), a.norm().expand(5))


def test_vary_with_amount_zero_rebuilds_the_input(model, windows):
    same = vary(model, windows[2], amount=0.0, n=3, seed=5)
    assert same.shape == (3, 32)
    assert all(accuracy(row, windows[2]) >= 0.9 for row in same)
    varied = vary(model, windows[2], amount=1.0, n=3, seed=5)
    assert np.array_equal(varied, vary(model, windows[2], amount=1.0, n=3, seed=5))
    assert not np.array_equal(varied, same)


def test_continuation_keeps_the_prefix_and_is_deterministic(model, windows):
    prefix = windows[3][:16]
    for bars in (1, 3):  # 3 bars runs past the 2-bar window, window by window
        out = continue_melody(model, prefix, bars=bars, seed=9, temperature=1.0)
        assert out.shape == (1, 16 + 16 * bars) and out.dtype == np.int64
        assert np.array_equal(out[0, :16], prefix)
        assert np.array_equal(
            out, continue_melody(model, prefix, bars=bars, seed=9, temperature=1.0)
        )


def test_continuation_needs_whole_bars(model, windows):
    with pytest.raises(UserError, match="whole bars"):
        continue_melody(model, windows[0][:10], bars=1)


def test_wrong_length_or_classes_is_a_user_error(model, windows):
    with pytest.raises(UserError, match="32 steps"):
        encode_mean(model, windows[0][:20])
    with pytest.raises(UserError, match="event classes"):
        vary(model, np.full(32, 95), amount=0.1)


def test_attributes_of_handmade_windows():
    c, e, g = (pitch_to_class(p) for p in (60, 64, 67))
    steps = np.zeros((2, 16), dtype=np.int64)
    steps[0, [0, 4, 8, 12]] = [c, e, g, c]  # on the beat, leaps of 4, 3, 7
    steps[1, [2, 6]] = [c, pitch_to_class(61)]  # off the beat, held over it; a semitone
    steps[1, 10] = NOTE_OFF
    assert attribute(steps, "note_density").tolist() == [4 / 16, 2 / 16]
    assert attribute(steps, "syncopation").tolist() == [0.0, 1.0]
    assert attribute(steps, "mean_interval").tolist() == [14 / 3, 1.0]
    assert attribute(steps, "in_key_share").tolist() == [1.0, 1.0]  # C# major holds C and C#
    chromatic = np.array([[pitch_to_class(60 + i) for i in range(12)]])
    assert attribute(chromatic, "in_key_share").tolist() == [7 / 12]
    with pytest.raises(UserError, match="unknown attribute"):
        attribute(steps, "loudness")


def test_attribute_vectors_are_fitted_saved_and_applied(model, tmp_path):
    windows = melody_windows(40, 32, seed=6)
    vector = attribute_vector(model, windows, "note_density")
    assert vector.shape == (TINY.z_dim,)
    z = encode_mean(model, windows[:2])
    with pytest.raises(UserError, match="no attribute vectors"):
        apply_attributes(model, z, {"note_density": 1.0})
    fit_attribute_vectors(model, windows)
    torch.testing.assert_close(model.attribute_vectors[0], vector)
    moved = apply_attributes(model, z, {"note_density": 2.0, "syncopation": -1.0})
    torch.testing.assert_close(
        moved, z + 2.0 * vector - model.attribute_vectors[list(ATTRIBUTES).index("syncopation")]
    )
    assert decode(model, moved).shape == (2, 32)
    model.save_pretrained(tmp_path / "m")
    loaded = MelodyVAE.from_pretrained(tmp_path / "m")
    torch.testing.assert_close(loaded.attribute_vectors, model.attribute_vectors)
    model.attribute_vectors.zero_()
