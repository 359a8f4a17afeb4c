"""How varied a set of story alternatives is: distinct-n, Self-BLEU and a Vendi score.

Co-writing offers several alternatives for each step of a story. These figures say
whether they differ in words (distinct-1 and distinct-2, higher is more varied), in
phrasing (Self-BLEU, lower is more varied) and in content (the Vendi score: the
effective number of different alternatives, from 1 to their number). The measures
themselves live in ``museforge.core.creativity``.

The Vendi score compares TF-IDF vectors of the alternatives' words unless ``embed`` is
given: a function from texts to one row of features per text, such as a sentence
embedding model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from museforge.core.creativity import distinct_n, self_bleu, tokens, vendi_score_of_vectors
from museforge.errors import UserError

Embed = Callable[[Sequence[str]], np.ndarray]


def words(text: str) -> list[str]:
    """The word tokens of ``text`` (``tokens`` without punctuation marks)."""
    return [t for t in tokens(text) if t[0].isalnum() or t[0] == "_"]


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


def alternatives_report(texts: Sequence[str], embed: Embed | None = None) -> dict:
    """Distinct-1, distinct-2, Self-BLEU and the Vendi score of two or more alternatives."""
    if isinstance(texts, str) or len(texts) < 2:
        raise UserError("need a list of at least 2 alternatives to compare")
    vectors = np.asarray(embed(texts)) if embed is not None else tfidf_vectors(texts)
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise UserError(
            f"the embedding gave shape {vectors.shape} for {len(texts)} texts; "
            "expected one row per text"
        )
    return {
        "alternatives": len(texts),
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "self_bleu": self_bleu(texts),
        "vendi": vendi_score_of_vectors(vectors),
        "vendi_features": "embedding" if embed is not None else "tfidf",
    }
