"""Repetition penalties applied to the next token's logits, the same on every local runtime.

A small model left to itself loops ("a room he had walked into, a room he had walked
into"). The cure belongs in the sampler, before a word is chosen, not in deleting
sentences afterwards. ``Penalties`` holds two:

- DRY, "Don't Repeat Yourself" (p-e-w, 2024, the sampler of text-generation-webui and
  llama.cpp): a token that would extend a sequence already in the context (the prompt,
  which carries the end of the story so far, and the answer) loses
  ``multiplier * base ** (n - allowed_length)`` from its logit, where ``n`` is the length
  of the repeat it extends. Short echoes (a name, "said the") cost little; a copied clause
  costs more with every token.
- OpenAI's presence and frequency penalties over the answer so far: ``presence`` once for
  every token already used, ``frequency`` for every use;
- no repeated n-grams (Paulus et al. 2018, "A Deep Reinforced Model for Abstractive
  Summarization"): a token that would repeat a run of ``no_repeat`` tokens is never chosen.

``history`` is text written before this answer that is not in its prompt, such as the story
so far: DRY and the n-gram ban look back over it as well as over the prompt and the answer,
so that a scene does not repeat what another scene said. (A server runtime cannot be given
it: there the penalties see only the prompt and the answer.)

``apply_penalties`` works on NumPy arrays: llama.cpp's Python binding hands its logits
processors NumPy arrays, and the transformers runtime passes its logits through NumPy too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from museforge.errors import UserError

MAX_MATCH = 64  # longer repeats are penalised as 64 tokens long: bounded work per token
MAX_HISTORY_CHARS = 200_000  # a long novella; the penalties' work grows with it


@dataclass(frozen=True)
class Penalties:
    """How strongly to push the sampler away from what the context already says."""

    dry_multiplier: float = 0.8  # DRY's recommended strength; 0 turns DRY off
    dry_base: float = 1.75  # each further repeated token costs 1.75 times the one before
    dry_allowed_length: int = 3  # repeats up to 3 tokens are free: most names are longer than 2
    presence: float = 0.0  # OpenAI's presence_penalty: off unless asked
    frequency: float = 0.0  # OpenAI's frequency_penalty: off unless asked
    no_repeat: int = 0  # never repeat a run of this many tokens (0: off)
    history: str = ""  # text before the prompt that DRY and no_repeat look back over
    answer_only: bool = False  # DRY and no_repeat look at the answer alone, not the prompt

    def __post_init__(self) -> None:
        numbers = (self.dry_multiplier, self.presence, self.frequency)
        if not all(isinstance(x, int | float) and 0 <= x <= 10 for x in numbers):
            raise UserError("repetition penalties must be numbers from 0 to 10")
        if not 1 <= self.dry_base <= 4 or not 1 <= self.dry_allowed_length <= 32:
            raise UserError("DRY needs a base of 1 to 4 and an allowed length of 1 to 32 tokens")
        if self.no_repeat != 0 and not 2 <= self.no_repeat <= MAX_MATCH:
            raise UserError(f"no_repeat is 0 (off) or a run of 2 to {MAX_MATCH} tokens")
        if not isinstance(self.history, str) or len(self.history) > MAX_HISTORY_CHARS:
            raise UserError(f"the history is a text of at most {MAX_HISTORY_CHARS:,} characters")

    @property
    def active(self) -> bool:
        return bool(self.dry_multiplier or self.presence or self.frequency or self.no_repeat)


# What a scene's prose is sampled with: DRY at its usual strength and a light presence
# penalty, which widens the vocabulary without breaking names (they are in the prompt, not
# yet in the answer). The prose gives the story so far as ``history``.
PROSE_PENALTIES = Penalties(presence=0.3)
# What a plan's answers are sampled with: DRY and a ban on repeating 5 tokens within the
# answer ("a master of the narrative, a master of the narrative"), but free to use the
# prompt's words, which are the premise's.
PLAN_PENALTIES = Penalties(no_repeat=5, answer_only=True)


def dry_lengths(context: np.ndarray, breakers: Iterable[int] = ()) -> dict[int, int]:
    """For each token that would continue an earlier occurrence of the context's tail, the
    length of the repeat it would make (DRY's match length); ``breakers`` end a match."""
    n = len(context)
    stops = set(breakers)
    if n < 2 or int(context[-1]) in stops:
        return {}
    lengths: dict[int, int] = {}
    for i in np.flatnonzero(context[:-1] == context[-1]):
        follower = int(context[i + 1])
        if follower in stops:
            continue
        length = 1
        while length < MAX_MATCH and length <= i:
            earlier, later = int(context[i - length]), int(context[n - 1 - length])
            if earlier != later or earlier in stops:
                break
            length += 1
        if length > lengths.get(follower, 0):
            lengths[follower] = length
    return lengths


def apply_penalties(
    context: np.ndarray,
    answer_start: int,
    logits: np.ndarray,
    penalties: Penalties,
    breakers: Iterable[int] = (),
) -> np.ndarray:
    """``logits`` (one row over the vocabulary) less the penalties for what ``context`` (the
    token ids so far, the history's first; the answer begins at ``answer_start``) already
    says."""
    out = logits.copy()
    scope = context[answer_start:] if penalties.answer_only else context
    lengths = (
        dry_lengths(scope, breakers) if penalties.dry_multiplier or penalties.no_repeat else {}
    )
    for token, length in lengths.items():
        if token >= len(out):
            continue
        if penalties.dry_multiplier and length >= penalties.dry_allowed_length:
            out[token] -= penalties.dry_multiplier * penalties.dry_base ** (
                length - penalties.dry_allowed_length
            )
        if penalties.no_repeat and length + 1 >= penalties.no_repeat:
            out[token] = -np.inf
    if penalties.presence or penalties.frequency:
        tokens, counts = np.unique(context[answer_start:], return_counts=True)
        keep = tokens < len(out)
        tokens, counts = tokens[keep], counts[keep]
        out[tokens] -= penalties.presence + penalties.frequency * counts
    return out
