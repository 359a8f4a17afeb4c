"""Transposition augmentation for melody windows, applied at batch time.

MusicVAE (Roberts et al. 2018) sees each melody in one key only; shifting windows by a
few semitones while training teaches the model that a tune keeps its identity in any key
and multiplies a small corpus. Only note-on classes move; a shift that would push a note
outside MIDI 21..108 is not applied to that window.
"""

from __future__ import annotations

import torch

from museforge.music.melody import FIRST_NOTE_ON, NUM_CLASSES


def _pitch_bounds(windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """How far each window can move down and up (in semitones) and stay in range."""
    is_note = windows >= FIRST_NOTE_ON
    lowest = torch.where(is_note, windows, NUM_CLASSES).min(dim=1).values
    highest = torch.where(is_note, windows, FIRST_NOTE_ON - 1).max(dim=1).values
    down = torch.where(lowest < NUM_CLASSES, FIRST_NOTE_ON - lowest, 0)
    up = torch.where(highest >= FIRST_NOTE_ON, NUM_CLASSES - 1 - highest, 0)
    return down, up


def _shift(windows: torch.Tensor, semitones: torch.Tensor) -> torch.Tensor:
    is_note = windows >= FIRST_NOTE_ON
    return torch.where(is_note, windows + semitones[:, None], windows)


def transpose(windows: torch.Tensor, semitones: int) -> torch.Tensor:
    """Windows [N, steps] moved by ``semitones``; windows that would leave 21..108 stay put."""
    down, up = _pitch_bounds(windows)
    fits = (semitones >= down) & (semitones <= up)
    return _shift(windows, torch.where(fits, semitones, 0))


def random_transpose(
    windows: torch.Tensor, max_semitones: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Each window moved by its own shift, drawn uniformly from the shifts in
    -max_semitones..max_semitones that keep all its notes in range (seeded by ``generator``)."""
    down, up = _pitch_bounds(windows)
    low = torch.clamp(down, min=-max_semitones)
    high = torch.clamp(up, max=max_semitones)
    draw = torch.rand(len(windows), generator=generator, device=windows.device)
    semitones = low + (draw * (high - low + 1)).long().clamp(max=high - low)
    return _shift(windows, semitones)
