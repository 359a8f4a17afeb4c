"""How varied a set of story alternatives is: distinct-n, Self-BLEU and a Vendi score.

Co-writing offers several alternatives for each step of a story. These figures say
whether they differ in words (distinct-1 and distinct-2, higher is more varied), in
phrasing (Self-BLEU, lower is more varied) and in content (the Vendi score: the
effective number of different alternatives, from 1 to their number). The measures
themselves live in ``museforge.core.creativity``.

The Vendi score compares sentence embeddings of the alternatives (all-MiniLM-L6-v2, see
``museforge.core.embeddings``) when that model is installed, and TF-IDF vectors of their
words when it is not or when asked to; ``embed`` may give any other function from texts
to one row of features per text. ``novelty_against`` says how far each text is from the
closest of a set of inspiring texts, on the same features.

``repeated_ngram_share`` (rep-n) says how much one text repeats itself: the share of its
word n-grams that already occurred earlier in it (Welleck et al. 2020, "Neural Text
Generation with Unlikelihood Training", measure such repetition over a continuation).
A looping story scores high; varied prose stays near zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from museforge.core.creativity import (
    distinct_n,
    ngrams,
    novelty,
    self_bleu,
    tokens,
    vendi_score_of_vectors,
)
from museforge.core.embeddings import MODEL_NAME, embed_texts, model_installed
from museforge.errors import UserError

Embed = Callable[[Sequence[str]], np.ndarray]
# "auto": the sentence embedding model when installed, else TF-IDF; "model": the sentence
# embedding model or an error saying how to install it; "tfidf": TF-IDF always
FEATURES = ("auto", "model", "tfidf")


def words(text: str) -> list[str]:
    """The word tokens of ``text`` (``tokens`` without punctuation marks)."""
    return [t for t in tokens(text) if t[0].isalnum() or t[0] == "_"]


def repeated_ngram_share(text: str, n: int = 4, earlier: str = "") -> float:
    """rep-n: of ``text``'s word n-grams (lower-cased, without punctuation), the share that
    already occurred earlier in the same text (or in ``earlier``, the text before it); 0.0
    for a text of fewer than n words."""
    if n < 1:
        raise UserError(f"n must be at least 1, not {n}")
    grams = ngrams(words(text), n)
    seen = set(ngrams(words(earlier), n))
    repeats = 0
    for gram in grams:
        repeats += gram in seen
        seen.add(gram)
    return repeats / len(grams) if grams else 0.0


def tfidf_vectors(texts: Sequence[str]) -> np.ndarray:
    """One row per text: each word's count times its smoothed inverse document frequency,
    ln((1 + n) / (1 + df)) + 1 (scikit-learn's default), so a word that every text uses
    still counts a little. Columns follow the sorted vocabulary."""
    docs = [words(text) for text in texts]
    for i, doc in enumerate(docs):
        if not doc:
            raise UserError(f"alternative {i + 1} has no words to compare")
    vocabulary = {w: j for j, w in enumerate(sorted({w for doc in docs for w in doc}))}
    counts = np.zeros((len(docs), len(vocabulary)))
    for i, doc in enumerate(docs):
        for w in doc:
            counts[i, vocabulary[w]] += 1
    df = (counts > 0).sum(axis=0)
    return counts * (np.log((1 + len(docs)) / (1 + df)) + 1)


def text_vectors(
    texts: Sequence[str], embed: Embed | None = None, features: str = "auto"
) -> tuple[np.ndarray, str]:
    """One row of features per text and the name of the features: "embedding" for a given
    ``embed``, else MODEL_NAME or "tfidf" as ``features`` chooses (see FEATURES)."""
    if features not in FEATURES:
        raise UserError(f"features must be one of {', '.join(FEATURES)}, got {features!r}")
    if embed is not None:
        if features != "auto":
            raise UserError("give either an embed function or features, not both")
        vectors, name = np.asarray(embed(texts)), "embedding"
    elif features == "tfidf" or (features == "auto" and not model_installed()):
        vectors, name = tfidf_vectors(texts), "tfidf"
    else:
        vectors, name = embed_texts(texts), MODEL_NAME
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise UserError(
            f"the embedding gave shape {vectors.shape} for {len(texts)} texts; "
            "expected one row per text"
        )
    return vectors, name


def _texts_with_words(texts: Sequence[str], what: str) -> list[str]:
    for i, text in enumerate(texts):
        if not words(text):
            raise UserError(f"{what} {i + 1} has no words to compare")
    return list(texts)


def alternatives_report(
    texts: Sequence[str], embed: Embed | None = None, *, features: str = "auto"
) -> dict:
    """Distinct-1, distinct-2, Self-BLEU and the Vendi score of two or more alternatives;
    "vendi_features" names the vectors the Vendi score compared."""
    if isinstance(texts, str) or len(texts) < 2:
        raise UserError("need a list of at least 2 alternatives to compare")
    texts = _texts_with_words(texts, "alternative")
    vectors, name = text_vectors(texts, embed, features)
    return {
        "alternatives": len(texts),
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "self_bleu": self_bleu(texts),
        "vendi": vendi_score_of_vectors(vectors),
        "vendi_features": name,
    }


def novelty_against(
    texts: Sequence[str],
    inspiring_texts: Sequence[str],
    embed: Embed | None = None,
    *,
    features: str = "auto",
) -> np.ndarray:
    """Per text: 1 - its greatest cosine similarity to any inspiring text (Ritchie 2007's
    novelty against the inspiring set), on the features ``text_vectors`` chooses. TF-IDF
    weights come from both sets together, so the two share one vocabulary."""
    for name, group in (("texts", texts), ("inspiring texts", inspiring_texts)):
        if isinstance(group, str) or len(group) < 1:
            raise UserError(f"need a list of at least 1 of the {name}")
    texts = _texts_with_words(texts, "text")
    inspiring = _texts_with_words(inspiring_texts, "inspiring text")
    vectors, _ = text_vectors(texts + inspiring, embed, features)
    return novelty(vectors[: len(texts)], vectors[len(texts) :])
