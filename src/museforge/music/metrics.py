"""Objective measures of generated melodies against held-out tunes.

Two papers, used together as ``museforge music evaluate`` uses them:

- MusPy (Dong et al. 2020, "MusPy: A Toolkit for Symbolic Music Generation") collects the
  per-piece features that papers on music generation report: pitch range, pitches and
  pitch classes used, pitch-class entropy, scale consistency, empty-beat rate and groove
  consistency. Each is defined here as in ``muspy/metrics/metrics.py`` and computed on a
  batch of event windows [N, steps] at once. Two deviations, both because a window has a
  fixed length while MusPy measures a song that ends with its last note: beats and bars
  are the window's (trailing rests count as empty beats), and a note that ends on a beat
  line does not make the next beat sound (MusPy counts that beat, ``end // resolution``
  inclusive). As in MusPy, features of pitch are NaN for a melody with no notes.
- Yang & Lerch (2020, "On the evaluation of generative models in music", Neural Computing
  and Applications) compare two sets of pieces feature by feature: the distances between
  pairs of held-out pieces (intra-set) against the distances between generated and
  held-out pieces (inter-set), each smoothed by a Gaussian kernel density estimate. The
  area where the two densities overlap is 1 when the generated pieces vary around the
  held-out ones as the held-out ones vary among themselves, and near 0 when they are
  unlike them. Their toolbox (mgeval) integrates only between the smallest and the
  largest distance, which cuts the kernels' tails; here the whole density is integrated,
  so a set compared with itself overlaps exactly 1, and both densities share one
  bandwidth (``overlap_and_kl`` says why).

``verbatim_share`` answers the other question a generator must face: does it copy its
training data?
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from museforge.errors import UserError
from museforge.music.attributes import in_key_share, mean_interval, note_density
from museforge.music.data import WindowConfig
from museforge.music.melody import (
    FIRST_NOTE_ON,
    MAX_PITCH,
    MIN_PITCH,
    NUM_CLASSES,
    STEPS_PER_QUARTER,
    last_event,
)

BAR_STEPS = WindowConfig.bar_steps
MAX_PAIRS = 100_000  # distances per set and feature: seed-to-seed spread in mean overlap ~0.0003
KERNEL_REACH = 5.0  # bandwidths; a Gaussian holds all but 6e-7 of its mass within 5 sigma
GRID_STEPS_PER_BANDWIDTH = 4  # grid resolution of the density estimates
MIN_GRID, MAX_GRID = 513, 8193  # grid points: a smooth curve at least, a cheap one at most
KL_FLOOR = 1e-10  # density below which the other set is taken as absent, so KL stays finite


def _as_windows(
    windows: np.ndarray, unit_steps: int = 1, unit: str = "step", min_units: int = 0
) -> np.ndarray:
    """``windows`` as a 2-d integer array of event classes, whole ``unit``s long, or a UserError."""
    windows = np.asarray(windows)
    if windows.ndim != 2:
        raise UserError(f"melodies must be a 2-d array [N, steps], got shape {windows.shape}")
    if windows.size and not np.issubdtype(windows.dtype, np.integer):
        raise UserError(f"melodies must hold integer event classes, got dtype {windows.dtype}")
    if windows.size and (windows.min() < 0 or windows.max() >= NUM_CLASSES):
        raise UserError(f"melody events must lie in 0..{NUM_CLASSES - 1}")
    steps = windows.shape[1]
    if steps % unit_steps:
        raise UserError(f"melodies of {steps} steps are not whole {unit}s of {unit_steps} steps")
    if steps < min_units * unit_steps:
        raise UserError(f"melodies of {steps} steps are shorter than {min_units} {unit}s")
    return windows.astype(np.int64, copy=False)


def _pitch_histogram(windows: np.ndarray) -> np.ndarray:
    """Note-ons per pitch, [N, 88] for MIDI pitches 21..108."""
    n = len(windows)
    rows = np.repeat(np.arange(n), windows.shape[1])
    counts = np.bincount(rows * NUM_CLASSES + windows.ravel(), minlength=n * NUM_CLASSES)
    return counts.reshape(n, NUM_CLASSES)[:, FIRST_NOTE_ON:]


def _pitch_class_histogram(windows: np.ndarray) -> np.ndarray:
    """Note-ons per pitch class (C = 0), [N, 12]."""
    fold = np.eye(12, dtype=np.int64)[np.arange(MIN_PITCH, MAX_PITCH + 1) % 12]
    return _pitch_histogram(windows) @ fold


def pitch_range(windows: np.ndarray) -> np.ndarray:
    """Highest minus lowest pitch in semitones; 0 for a melody with no notes (as MusPy)."""
    used = _pitch_histogram(_as_windows(windows)) > 0
    lowest = used.argmax(axis=1)
    highest = used.shape[1] - 1 - used[:, ::-1].argmax(axis=1)
    return np.where(used.any(axis=1), highest - lowest, 0).astype(float)


def n_pitches_used(windows: np.ndarray) -> np.ndarray:
    """How many distinct pitches the melody strikes."""
    return (_pitch_histogram(_as_windows(windows)) > 0).sum(axis=1).astype(float)


def n_pitch_classes_used(windows: np.ndarray) -> np.ndarray:
    """How many distinct pitch classes (pitches up to octaves) the melody strikes."""
    return (_pitch_class_histogram(_as_windows(windows)) > 0).sum(axis=1).astype(float)


def pitch_class_entropy(windows: np.ndarray) -> np.ndarray:
    """Shannon entropy in bits of the melody's pitch-class histogram; NaN with no notes.

    0 for one pitch class, log2(12) for all twelve used equally: how tonally focused the
    melody is (Wu & Yang 2020, the Jazz Transformer, via MusPy).
    """
    counts = _pitch_class_histogram(_as_windows(windows)).astype(float)
    total = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = counts / total
        terms = np.where(p > 0, -p * np.log2(p), 0.0)
    return np.where(total[:, 0] > 0, terms.sum(axis=1), np.nan)


def scale_consistency(windows: np.ndarray) -> np.ndarray:
    """Largest share of notes in one of the 24 major and natural-minor scales; NaN with no notes.

    MusPy (after Mogren 2016, C-RNN-GAN) takes the maximum over 12 major and 12 minor
    scales. A natural-minor scale holds the same pitch classes as its relative major, so
    that maximum is the in-key share over the 12 major scales that ``attributes`` offers.
    """
    windows = _as_windows(windows)
    has_notes = (windows >= FIRST_NOTE_ON).any(axis=1)
    return np.where(has_notes, in_key_share(windows), np.nan)


def empty_beat_rate(windows: np.ndarray) -> np.ndarray:
    """Share of beats (quarter notes) in which no note sounds.

    MusPy (after Pypianoroll, Dong et al. 2018) counts a beat as empty when no note is
    played in it, held notes included; a rest therefore empties a beat, a long note does not.
    """
    windows = _as_windows(windows, STEPS_PER_QUARTER, "beat")
    sounding = np.stack([last_event(row) for row in windows]) >= FIRST_NOTE_ON
    beats = sounding.reshape(len(windows), -1, STEPS_PER_QUARTER).any(axis=2)
    return 1.0 - beats.mean(axis=1)


def groove_consistency(windows: np.ndarray, bar_steps: int = BAR_STEPS) -> np.ndarray:
    """1 minus the mean Hamming distance between consecutive bars' onset patterns.

    As MusPy (after Wu & Yang 2020): each bar is a binary vector with a 1 where a note
    starts, and the distance is normalised by the bar length, so 1 means every bar has the
    same rhythm. NaN for melodies of one bar.
    """
    windows = _as_windows(windows, bar_steps, "bar")
    onsets = (windows >= FIRST_NOTE_ON).reshape(len(windows), -1, bar_steps)
    bars = onsets.shape[1]
    if bars < 2:
        return np.full(len(windows), np.nan)
    changes = (onsets[:, 1:] != onsets[:, :-1]).sum(axis=(1, 2))
    return 1.0 - changes / (bar_steps * (bars - 1))


FEATURES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "pitch_range": pitch_range,
    "n_pitches_used": n_pitches_used,
    "n_pitch_classes_used": n_pitch_classes_used,
    "pitch_class_entropy": pitch_class_entropy,
    "scale_consistency": scale_consistency,
    "empty_beat_rate": empty_beat_rate,
    "groove_consistency": groove_consistency,
    "note_density": note_density,
    "mean_interval": mean_interval,
}
"""The features ``evaluate_samples`` compares, in the order it reports them."""


def melody_features(windows: np.ndarray) -> dict[str, np.ndarray]:
    """Every feature of ``FEATURES`` for each melody: name -> float array [N]."""
    windows = _as_windows(windows, BAR_STEPS, "bar")
    return {name: np.asarray(f(windows), dtype=float) for name, f in FEATURES.items()}


def scott_bandwidth(values: np.ndarray) -> float:
    """Scott's rule for a 1-d Gaussian kernel: std * n^(-1/5), scipy's default."""
    if len(values) < 2:
        return 0.0
    return float(np.std(values, ddof=1)) * len(values) ** -0.2


def kernel_density(values: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian kernel density estimate of ``values`` on the evenly spaced ``grid``.

    The values are first spread linearly onto the two nearest grid points and the
    weights convolved with the kernel (a binned estimate, Wand 1994), so the cost grows
    with the grid, not with the number of values; with a few grid points per bandwidth
    it matches the exact estimate closely.
    """
    step = grid[1] - grid[0]
    position = (values - grid[0]) / step
    left = np.clip(np.floor(position).astype(np.int64), 0, len(grid) - 2)
    right_share = position - left
    weights = np.bincount(left, 1.0 - right_share, minlength=len(grid))
    weights += np.bincount(left + 1, right_share, minlength=len(grid))
    reach = min(int(np.ceil(KERNEL_REACH * bandwidth / step)), len(grid) - 1)
    offsets = np.arange(-reach, reach + 1) * step
    kernel = np.exp(-0.5 * (offsets / bandwidth) ** 2) / (bandwidth * np.sqrt(2 * np.pi))
    return np.convolve(weights, kernel)[reach : reach + len(grid)] / len(values)


def overlap_and_kl(intra: np.ndarray, inter: np.ndarray) -> tuple[float, float]:
    """Overlapped area and KL(intra || inter) of the two distance distributions.

    Yang & Lerch's comparison: a Gaussian kernel density estimate of each, then the
    integral of the pointwise minimum. Both densities share one bandwidth, Scott's rule on
    the two sets pooled; mgeval gives each set its own. Distances between discrete
    features pile up at 0, and two such piles of equal mass but unequal own bandwidths
    are spikes of unequal width whose minimum loses most of the mass they share, so the
    overlap would measure the bandwidths rather than the distributions. KL is taken on
    the same grid (mgeval evaluates the two densities at different points). Sets whose
    distances all coincide at one value overlap fully.
    """
    intra, inter = np.asarray(intra, float), np.asarray(inter, float)
    bandwidth = scott_bandwidth(np.concatenate([intra, inter]))
    if bandwidth == 0.0:
        return 1.0, 0.0
    margin = KERNEL_REACH * bandwidth
    lo = min(intra.min(), inter.min()) - margin
    hi = max(intra.max(), inter.max()) + margin
    size = int(np.ceil((hi - lo) / bandwidth * GRID_STEPS_PER_BANDWIDTH)) + 1
    grid = np.linspace(lo, hi, min(max(size, MIN_GRID), MAX_GRID))
    p = kernel_density(intra, grid, bandwidth)
    q = kernel_density(inter, grid, bandwidth)
    overlap = np.trapezoid(np.minimum(p, q), grid)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_terms = np.where(p > 0, p * np.log(p / np.maximum(q, KL_FLOOR)), 0.0)
    return float(min(overlap, 1.0)), float(max(np.trapezoid(kl_terms, grid), 0.0))


def _pairs(
    n: int, m: int | None, max_pairs: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j): within one set of ``n`` when ``m`` is None (i != j), else across.

    All pairs when they number at most ``max_pairs``, otherwise ``max_pairs`` drawn at
    random, which bounds the cost for large sets.
    """
    if m is None:
        if n * (n - 1) // 2 <= max_pairs:
            return np.triu_indices(n, k=1)
        i = rng.integers(n, size=max_pairs)
        return i, (i + rng.integers(1, n, size=max_pairs)) % n
    if n * m <= max_pairs:
        i, j = np.divmod(np.arange(n * m), m)
        return i, j
    return rng.integers(n, size=max_pairs), rng.integers(m, size=max_pairs)


def _distances(a: np.ndarray, b: np.ndarray, pairs: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """|a_i - b_j| over the pairs, leaving out pairs where either feature is undefined."""
    d = np.abs(a[pairs[0]] - b[pairs[1]])
    return d[~np.isnan(d)]


def _mean(values: np.ndarray) -> float | None:
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if len(defined) else None


def verbatim_share(samples: np.ndarray, train_windows: np.ndarray) -> float:
    """Share of ``samples`` that equal some training window at every step.

    Rows are compared as bytes in a set, so 100k training windows take a fraction of a
    second. A sampled melody found verbatim is memorised, not generated.
    """
    samples = _as_windows(samples)
    train_windows = _as_windows(train_windows)
    if samples.shape[1] != train_windows.shape[1]:
        raise UserError(
            f"samples of {samples.shape[1]} steps cannot match training windows of "
            f"{train_windows.shape[1]} steps"
        )
    if len(samples) == 0:
        raise UserError("no samples to compare with the training windows")
    seen = {row.tobytes() for row in train_windows.astype(np.uint8)}
    return float(np.mean([row.tobytes() in seen for row in samples.astype(np.uint8)]))


def evaluate_samples(
    samples: np.ndarray,
    heldout: np.ndarray,
    train_windows: np.ndarray | None = None,
    seed: int = 0,
    max_pairs: int = MAX_PAIRS,
) -> dict:
    """MusPy features and Yang & Lerch overlaps of ``samples`` against ``heldout`` windows.

    Returns plain Python numbers, ready for JSON::

        {"features": {name: {"generated_mean", "heldout_mean", "overlap", "kl"}},
         "overlap_mean": float, "verbatim_share": float | None,
         "samples": int, "heldout": int}

    A mean is None when no melody defines the feature (pitch features of silence). If no
    generated melody defines a feature, its overlap is 0 and its KL None. Held-out windows
    without notes are left out: they say nothing about melodies. Pairs are drawn with
    ``seed``, so the figures repeat exactly; ``verbatim_share`` is None without
    ``train_windows``.
    """
    samples = _as_windows(samples, BAR_STEPS, "bar", min_units=2)
    heldout = _as_windows(heldout, BAR_STEPS, "bar", min_units=2)
    heldout = heldout[(heldout >= FIRST_NOTE_ON).any(axis=1)]
    if len(samples) == 0:
        raise UserError("no samples to evaluate")
    if len(heldout) < 2:
        raise UserError("need at least 2 held-out melodies with notes to compare against")
    rng = np.random.default_rng(seed)
    intra_pairs = _pairs(len(heldout), None, max_pairs, rng)
    inter_pairs = _pairs(len(samples), len(heldout), max_pairs, rng)
    generated, reference = melody_features(samples), melody_features(heldout)
    features = {}
    for name in FEATURES:
        intra = _distances(reference[name], reference[name], intra_pairs)
        inter = _distances(generated[name], reference[name], inter_pairs)
        overlap, kl = overlap_and_kl(intra, inter) if len(inter) else (0.0, None)
        features[name] = {
            "generated_mean": _mean(generated[name]),
            "heldout_mean": _mean(reference[name]),
            "overlap": overlap,
            "kl": kl,
        }
    return {
        "features": features,
        "overlap_mean": float(np.mean([f["overlap"] for f in features.values()])),
        "verbatim_share": None if train_windows is None else verbatim_share(samples, train_windows),
        "samples": len(samples),
        "heldout": len(heldout),
    }
