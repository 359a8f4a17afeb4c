"""Repetition penalties at the sampler: DRY's match lengths and penalties computed by hand,
presence and frequency over the answer only, and the shipped model no longer copying its
prompt with DRY on llama.cpp (the transformers runtime's test is with its other tests)."""

from __future__ import annotations

import numpy as np
import pytest

from museforge.errors import UserError
from museforge.story.llm import load_language_model
from museforge.story.metrics import repeated_ngram_share
from museforge.story.sampling import Penalties, apply_penalties, dry_lengths

SENTENCE = "The brass bird sang three notes over the grey harbour at dawn."
COPY = [{"role": "user", "content": f"Copy this sentence exactly: {SENTENCE}"}]


def test_dry_finds_the_token_that_would_extend_a_repeat():
    # 5 6 7 8 ... 5 6 7: token 8 would repeat "5 6 7 8" (a match of 3 before it)
    context = np.array([5, 6, 7, 8, 1, 2, 5, 6, 7])
    assert dry_lengths(context) == {8: 3}
    assert dry_lengths(context, breakers=[6]) == {8: 1}  # a breaker in the match ends it
    assert dry_lengths(np.array([1, 2, 3])) == {}


def test_dry_penalty_grows_with_the_repeat_and_spares_short_echoes():
    context = np.array([5, 6, 7, 8, 9, 1, 5, 6, 7, 8])  # token 9 would make a 5-token repeat
    logits = np.zeros(12, dtype=np.float32)
    p = Penalties(dry_multiplier=0.8, dry_base=1.75, dry_allowed_length=2)
    out = apply_penalties(context, len(context), logits, p)
    assert out[9] == pytest.approx(-0.8 * 1.75 ** (4 - 2))
    assert np.count_nonzero(out) == 1 and logits[9] == 0  # the input is left alone
    short = apply_penalties(context, len(context), logits, Penalties(dry_allowed_length=5))
    assert not short.any()


def test_presence_and_frequency_count_the_answer_not_the_prompt():
    context = np.array([3, 3, 4, 7, 7, 7])  # prompt 3 3 4, answer 7 7 7
    p = Penalties(dry_multiplier=0, presence=0.5, frequency=0.25)
    out = apply_penalties(context, 3, np.zeros(8, dtype=np.float32), p)
    assert out[7] == pytest.approx(-(0.5 + 3 * 0.25))
    assert out[3] == out[4] == 0


def test_bad_penalties_are_one_line():
    with pytest.raises(UserError, match="penalties"):
        Penalties(presence=-1)
    with pytest.raises(UserError, match="DRY"):
        Penalties(dry_base=0.5)


def test_rep4_counts_4_grams_seen_earlier_in_the_text():
    assert repeated_ngram_share("a b c d a b c d") == pytest.approx(1 / 5)
    assert repeated_ngram_share("The bell rang, the bell rang.") == 0.0
    assert repeated_ngram_share("one two three") == 0.0
    assert repeated_ngram_share("a b c d e", earlier="x a b c d") == pytest.approx(1 / 2)


def copies(model) -> tuple[float, float]:
    """rep-4 against the prompt's sentence of the model's greedy copy of it, without and with
    a strong DRY penalty: DRY's whole point is that copying the context costs more with
    every token."""
    plain = model.complete(COPY, max_tokens=24, temperature=0)
    held = model.complete(COPY, max_tokens=24, temperature=0, penalties=Penalties(dry_multiplier=3))
    return repeated_ngram_share(plain, 4, SENTENCE), repeated_ngram_share(held, 4, SENTENCE)


def test_dry_breaks_a_copy_of_the_context_on_llama_cpp():
    plain, held = copies(load_language_model("smollm2", runtime="llama.cpp"))
    assert plain > 0.8 and held < 0.5, (plain, held)


def test_no_repeat_bans_the_token_that_would_repeat_a_run():
    context = np.array([5, 6, 7, 8, 1, 5, 6, 7])  # token 8 would repeat the run 5 6 7 8
    logits = np.zeros(10, dtype=np.float32)
    banned = apply_penalties(context, 8, logits, Penalties(dry_multiplier=0, no_repeat=4))
    assert banned[8] == -np.inf and np.isfinite(np.delete(banned, 8)).all()
    longer = apply_penalties(context, 8, logits, Penalties(dry_multiplier=0, no_repeat=5))
    assert np.isfinite(longer).all()
    with pytest.raises(UserError, match="no_repeat"):
        Penalties(no_repeat=1)


def test_the_history_counts_as_context_on_llama_cpp():
    """The story so far, given as history, is looked back over like the prompt: the token
    that would go on copying it is banned, and without the history it is not."""
    model = load_language_model("smollm2", runtime="llama.cpp")
    ids = model._llama.tokenize(SENTENCE.encode(), add_bos=False)
    answer = np.array(ids[:5], dtype=np.intc)  # the sentence's first 5 tokens, again
    scores = np.zeros(model._llama.n_vocab(), dtype=np.float32)
    held = Penalties(dry_multiplier=0, no_repeat=4, history=SENTENCE)
    out = model._processors(held)[0](answer, scores)
    assert out[ids[5]] == -np.inf and np.isfinite(out).sum() == len(out) - 1
    free = model._processors(Penalties(dry_multiplier=0, no_repeat=4))[0](answer, scores)
    assert np.isfinite(free).all()


def test_answer_only_penalties_spare_the_prompt():
    context = np.array([5, 6, 7, 8, 1, 5, 6, 7])  # the prompt 5 6 7 8 1, the answer 5 6 7
    logits = np.zeros(10, dtype=np.float32)
    p = Penalties(dry_multiplier=0, no_repeat=4, answer_only=True)
    assert np.isfinite(apply_penalties(context, 5, logits, p)).all()
    assert apply_penalties(context, 0, logits, p)[8] == -np.inf  # all of it is the answer
