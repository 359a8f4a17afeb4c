"""Making melodies with a trained melody VAE: sample, interpolate, continue, vary, steer.

These are MusicVAE's uses of its latent space (Roberts et al. 2018, "A Hierarchical
Latent Vector Model for Learning Long-Term Structure in Music", section 5): decode z drawn
from the prior; decode points on the great circle between two melodies' codes; add
"attribute vectors" (mean code of melodies with much of an attribute minus mean code of
melodies with little of it). ``vary`` is magenta.js's ``similar``: the input's code moved
part of the way towards random codes.

Every function takes and returns event arrays (see ``melody.py``): numpy int64
[n, steps]. Results depend only on the model, the inputs and ``seed``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from museforge.core.latent import slerp
from museforge.errors import UserError
from museforge.music.attributes import ATTRIBUTES, attribute
from museforge.music.melody import NUM_CLASSES
from museforge.music.model import MelodyVAE
from museforge.music.sampling import SAMPLE_TEMPERATURE, SAMPLE_TOP_P

PREFIX_CANDIDATES = 64  # prior codes scored against a prefix to continue it


def sample(
    model: MelodyVAE,
    n: int = 1,
    seed: int = 0,
    temperature: float = SAMPLE_TEMPERATURE,
    steps: int | None = None,
    top_p: float = SAMPLE_TOP_P,
) -> np.ndarray:
    """``n`` new melodies decoded from codes z drawn from the model's prior (``prior.py``)."""
    _check_positive(n=n)
    generator = torch.Generator().manual_seed(seed)
    z = model.draw_codes(n, generator)
    return decode(model, z, seed=seed, temperature=temperature, steps=steps, top_p=top_p)


def decode(
    model: MelodyVAE,
    z: Tensor,
    seed: int = 0,
    temperature: float = 0.0,
    steps: int | None = None,
    top_p: float = 1.0,
) -> np.ndarray:
    """The melodies that codes z [n, z_dim] decode to; greedy when temperature is 0, else
    each step drawn from the nucleus ``top_p`` of softmax(logits / temperature)."""
    _check_sampler(temperature, top_p)
    generator = torch.Generator().manual_seed(seed)
    events = model.decode(
        z.float(), steps=steps, temperature=temperature, generator=generator, top_p=top_p
    )
    return events.numpy().astype(np.int64)


@torch.no_grad()
def encode_mean(model: MelodyVAE, events: np.ndarray) -> Tensor:
    """The mean code of q(z|x) for each melody window [n, steps] (or one window [steps])."""
    x = _windows(model, events)
    mu, _ = model.encode(x)
    return mu


INTERPOLATION_OVERSAMPLING = 4  # decodes per output step, to choose a steady path from


def interpolate(
    model: MelodyVAE, a_events: np.ndarray, b_events: np.ndarray, steps: int = 5
) -> np.ndarray:
    """``steps`` melodies from a to b: greedy decodes of slerp between their mean codes.

    The first and last are the model's reconstructions of a and b. The path is decoded
    ``INTERPOLATION_OVERSAMPLING`` times finer than asked, and each step takes the decode
    nearest its place on the path that is no closer to ``a`` than the step before and no
    further than the end: the morph moves steadily away from ``a``, never back, even where
    the latent space folds (an even spacing of codes alone does not promise that).
    """
    _check_positive(steps=steps)
    z_a, z_b = encode_mean(model, a_events)[:1], encode_mean(model, b_events)[:1]
    if steps == 1:
        return decode(model, z_a)
    fine_steps = INTERPOLATION_OVERSAMPLING * (steps - 1) + 1
    fine = decode(model, slerp(z_a, z_b, torch.linspace(0.0, 1.0, fine_steps)[:, None]))
    first = np.asarray(a_events).reshape(-1)[: fine.shape[1]]
    distance = (fine != first).sum(axis=1)
    last = fine_steps - 1
    picks = [0]
    for k in range(1, steps - 1):
        target = k * INTERPOLATION_OVERSAMPLING
        allowed = [
            j
            for j in range(picks[-1], last + 1)
            if distance[picks[-1]] <= distance[j] <= distance[last]
        ]
        picks.append(min(allowed, key=lambda j: abs(j - target)) if allowed else picks[-1])
    return fine[picks + [last]]


def vary(
    model: MelodyVAE,
    events: np.ndarray,
    amount: float = 0.3,
    n: int = 4,
    seed: int = 0,
    temperature: float = 0.0,
) -> np.ndarray:
    """``n`` variations of one melody: its mean code moved ``amount`` of the way (by slerp)
    towards random codes; amount 0 rebuilds the input, amount 1 ignores it."""
    if not 0.0 <= amount <= 1.0:
        raise UserError(f"amount must be between 0 and 1, got {amount}")
    _check_positive(n=n)
    z = encode_mean(model, events)[:1]
    noise = model.draw_codes(n, torch.Generator().manual_seed(seed))
    return decode(model, slerp(z, noise, torch.tensor(amount)), seed=seed, temperature=temperature)


def continue_melody(
    model: MelodyVAE,
    events: np.ndarray,
    bars: int = 1,
    seed: int = 0,
    temperature: float = SAMPLE_TEMPERATURE,
    top_p: float = SAMPLE_TOP_P,
) -> np.ndarray:
    """The melody ``events`` (whole bars) followed by ``bars`` new bars: [1, steps].

    The decoder plays the given events as a prefix and goes on. Its code is the one of
    PREFIX_CANDIDATES prior draws under which the prefix is most likely, so the melody
    goes on in the character it began with. Beyond one window the model continues from
    the last half window, window by window.
    """
    _check_positive(bars=bars)
    _check_sampler(temperature, top_p)
    melody = _event_array(events)
    bar = model.config.steps_per_bar
    if len(melody) == 0 or len(melody) % bar:
        raise UserError(
            f"a melody to continue must be whole bars of {bar} steps, got {len(melody)}"
        )
    generator = torch.Generator().manual_seed(seed)
    window = model.steps
    target = len(melody) + bars * bar
    while len(melody) < target:
        keep = min(len(melody), max(bar, window // 2 // bar * bar))
        length = min(keep + target - len(melody), max(window, keep + bar))
        prefix = torch.from_numpy(melody[-keep:])
        z = _code_for_prefix(model, prefix, generator)
        new = model.decode(z, length, temperature, generator, prefix=prefix, top_p=top_p)
        new = new[0, keep:]
        melody = np.concatenate([melody, new.numpy()])
    return melody[None, :].astype(np.int64)


# --- attribute vectors -----------------------------------------------------------------


@torch.no_grad()
def attribute_vector(
    model: MelodyVAE, windows: np.ndarray, name: str, batch_size: int = 256
) -> Tensor:
    """Mean code of the windows in the top quartile of attribute ``name`` minus the mean
    code of those in the bottom quartile (MusicVAE section 5.3): [z_dim].

    Quartiles are by rank, ties in stable order: most folk windows have no syncopation at
    all, so value thresholds would put nearly every window in the bottom quartile.
    """
    values = attribute(windows, name)
    order = np.argsort(values, kind="stable")
    quarter = len(values) // 4
    bottom, top = order[:quarter], order[len(values) - quarter :]
    if quarter == 0 or not values[top].mean() > values[bottom].mean():
        raise UserError(
            f"the {len(values)} windows hardly differ in {name}; use more, or more varied, melodies"
        )
    codes = torch.cat(
        [encode_mean(model, w) for w in np.array_split(windows, _chunks(windows, batch_size))]
    )
    return codes[top].mean(dim=0) - codes[bottom].mean(dim=0)


def fit_attribute_vectors(model: MelodyVAE, windows: np.ndarray) -> None:
    """Compute every attribute's vector from ``windows`` and keep them in the model, so
    ``save_pretrained`` ships them with the weights."""
    for row, name in enumerate(ATTRIBUTES):
        model.attribute_vectors[row] = attribute_vector(model, windows, name)


def apply_attributes(model: MelodyVAE, z: Tensor, amounts: Mapping[str, float]) -> Tensor:
    """z moved along the model's attribute vectors: z + sum(amount * vector[name]).

    An amount of 1 adds the full top-minus-bottom-quartile difference; negative
    amounts take it away.
    """
    names = list(ATTRIBUTES)
    for name in amounts:
        if name not in ATTRIBUTES:
            raise UserError(f"unknown attribute {name!r} (choose from {', '.join(names)})")
    if amounts and not model.attribute_vectors.abs().sum() > 0:
        raise UserError("this model has no attribute vectors (fit them with fit_attribute_vectors)")
    shift = sum(
        (amount * model.attribute_vectors[names.index(name)] for name, amount in amounts.items()),
        torch.zeros_like(z),
    )
    return z + shift


# --- checks ----------------------------------------------------------------------------


def _event_array(events: np.ndarray) -> np.ndarray:
    array = np.asarray(events)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise UserError(f"a melody must be a 1-d array of event classes, got shape {array.shape}")
    if len(array) and (array.min() < 0 or array.max() >= NUM_CLASSES):
        raise UserError(f"event classes must be 0..{NUM_CLASSES - 1}")
    return array.astype(np.int64)


def _windows(model: MelodyVAE, events: np.ndarray) -> Tensor:
    """Events [steps] or [n, steps] as a checked long tensor [n, steps]."""
    array = np.asarray(events)
    array = array[None, :] if array.ndim == 1 else array
    if array.ndim != 2 or array.shape[1] != model.steps:
        raise UserError(
            f"this model encodes melodies of {model.steps} steps ({model.config.bars} bars), "
            f"got shape {np.asarray(events).shape}"
        )
    for row in array:
        _event_array(row)
    return torch.from_numpy(array.astype(np.int64))


def _chunks(windows: np.ndarray, batch_size: int) -> int:
    return max(1, -(-len(windows) // batch_size))


def _check_sampler(temperature: float, top_p: float) -> None:
    if temperature < 0:
        raise UserError(f"temperature must be 0 or more, got {temperature}")
    if not 0.0 < top_p <= 1.0:
        raise UserError(f"top-p must be more than 0 and at most 1, got {top_p}")


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise UserError(f"{name} must be at least 1, got {value}")


@torch.no_grad()
def _code_for_prefix(model: MelodyVAE, prefix: Tensor, generator: torch.Generator) -> Tensor:
    """Of PREFIX_CANDIDATES codes drawn from the prior, the one that makes ``prefix`` likeliest."""
    z = model.draw_codes(PREFIX_CANDIDATES, generator)
    x = prefix[None, :].expand(PREFIX_CANDIDATES, -1)
    log_p = -F.cross_entropy(model(x, z).transpose(1, 2), x, reduction="none").sum(dim=1)
    return z[log_p.argmax()][None, :]
