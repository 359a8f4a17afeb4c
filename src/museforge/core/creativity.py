"""Medium-free measures of diversity and novelty, over token sequences or feature vectors.

Ritchie (2007, "Some empirical criteria for attributing creativity to a computer
program") asks of a generator's output whether it is novel against the "inspiring set"
it learned from and how varied it is. The measures here answer those questions the way
the papers that named them do:

- ``distinct_n`` (Li et al. 2016, "A Diversity-Promoting Objective Function for Neural
  Conversation Models"): the share of n-grams that are distinct among all the n-grams of
  a set of texts;
- ``self_bleu`` (Zhu et al. 2018, "Texygen: A Benchmarking Platform for Text Generation
  Models"): each text's BLEU against the others as references, averaged; high means the
  texts repeat each other;
- ``vendi_score`` (Friedman & Dieng 2023, "The Vendi Score: A Diversity Evaluation Metric
  for Machine Learning"): the exponential of the Shannon entropy of the eigenvalues of
  K/n, for a similarity matrix K; the effective number of different items, from 1 (all
  alike) to n (all orthogonal);
- ``novelty``: one minus an item's greatest cosine similarity to the inspiring set.

The text measures read ``tokens(text)``; the vector measures take any features (bag of
words, embeddings, melody statistics), so every medium can use them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from museforge.errors import UserError

BLEU_EPSILON = 0.1  # Chen & Cherry (2014) smoothing method 1, NLTK's default epsilon
_TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
# typographic quotes as their plain forms: "can’t" and "can't" are one word, so that a
# sentence copied with curly apostrophes still counts as a repeat
_PLAIN_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})


def tokens(text: str) -> list[str]:
    """``text`` lower-cased and split into words and punctuation marks.

    A word is a run of letters, digits and underscores, apostrophes inside it included
    ("don't", "o'clock"); every other character that is not white space is a token of its
    own, so "Stop, thief!" gives ["stop", ",", "thief", "!"]. Typographic apostrophes and
    quotation marks count as plain ones ("can’t" is "can't").
    """
    return _TOKEN.findall(plain_quotes(text.lower()))


def plain_quotes(text: str) -> str:
    """``text`` with typographic apostrophes and quotation marks as plain ones."""
    return text.translate(_PLAIN_QUOTES)


def ngrams(seq: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """The n-grams of ``seq`` in order: ``ngrams("abc", 2)`` -> [("a", "b"), ("b", "c")]."""
    return [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]


def _texts(texts: Sequence[str], at_least: int = 0) -> list[str]:
    if isinstance(texts, str):
        raise UserError("expected a list of texts, got one string")
    if len(texts) < at_least:
        raise UserError(f"need at least {at_least} texts, got {len(texts)}")
    return list(texts)


def _order(n: int, name: str = "n") -> int:
    if n < 1:
        raise UserError(f"{name} must be at least 1, got {n}")
    return n


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct n-grams over all n-grams, counted over every text (no n-gram spans two
    texts); 0 when the texts hold no n-gram at all."""
    _order(n)
    grams = [g for text in _texts(texts) for g in ngrams(tokens(text), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def bleu(
    hypothesis: Sequence[str],
    references: Sequence[Sequence[str]],
    max_n: int = 4,
    epsilon: float = BLEU_EPSILON,
) -> float:
    """Sentence BLEU (Papineni et al. 2002) of a token list against reference token lists.

    p_n is the clipped n-gram precision: each hypothesis n-gram counts at most as often as
    it appears in the one reference that holds it most. BLEU = BP * exp(sum_n log(p_n) / N)
    for n = 1..N (``max_n``), with the brevity penalty BP = exp(1 - r/c) when the
    hypothesis length c is below r, the reference length closest to c (the shorter on a
    tie), and 1 otherwise. Smoothing is Chen & Cherry's (2014) method 1, which Texygen
    uses through NLTK: a p_n with no match becomes epsilon / (hypothesis n-grams, at least
    1). Without a single matching word, BLEU is 0.
    """
    _order(max_n, "max_n")
    if not references:
        raise UserError("BLEU needs at least one reference")
    c = len(hypothesis)
    if c == 0:
        return 0.0
    log_sum = 0.0
    for n in range(1, max_n + 1):
        counts = Counter(ngrams(hypothesis, n))
        most: Counter[tuple[str, ...]] = Counter()
        for ref in references:
            most |= Counter(ngrams(ref, n))  # | keeps the larger count of each n-gram
        clipped = sum(min(count, most[gram]) for gram, count in counts.items())
        total = max(sum(counts.values()), 1)
        if clipped == 0 and n == 1:
            return 0.0
        log_sum += math.log(clipped / total if clipped else epsilon / total)
    r = min((len(ref) for ref in references), key=lambda length: (abs(length - c), length))
    brevity = 1.0 if c > r else math.exp(1 - r / c)
    return brevity * math.exp(log_sum / max_n)


def self_bleu(texts: Sequence[str], max_n: int = 4) -> float:
    """The mean BLEU of each text against all the other texts (Texygen's Self-BLEU)."""
    docs = [tokens(text) for text in _texts(texts, at_least=2)]
    scores = [bleu(doc, docs[:i] + docs[i + 1 :], max_n) for i, doc in enumerate(docs)]
    return sum(scores) / len(scores)


def vendi_score(similarity: np.ndarray) -> float:
    """exp(-sum_i lambda_i log lambda_i), lambda_i the eigenvalues of K/n.

    K is an n x n positive semi-definite similarity matrix with ones on its diagonal, so
    the eigenvalues of K/n sum to 1. Round-off below zero is clipped; 0 log 0 counts 0.
    """
    k = np.asarray(similarity, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] == 0:
        raise UserError(f"a similarity matrix must be square and non-empty, got shape {k.shape}")
    if not np.isfinite(k).all():
        raise UserError("the similarity matrix holds NaN or infinite values")
    if not np.allclose(k, k.T, atol=1e-8):
        raise UserError("the similarity matrix is not symmetric")
    if not np.allclose(np.diag(k), 1.0, atol=1e-6):
        raise UserError("the similarity matrix must have ones on its diagonal")
    eigenvalues = np.linalg.eigvalsh(k / k.shape[0])
    if eigenvalues.min() < -1e-6:
        raise UserError(
            f"the similarity matrix is not positive semi-definite (eigenvalue "
            f"{eigenvalues.min() * k.shape[0]:.3g})"
        )
    p = eigenvalues[eigenvalues > 0]
    return float(np.exp(-np.sum(p * np.log(p))))


def _unit_rows(vectors: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise UserError(f"{name} must be a non-empty 2-d array [items, features], got {x.shape}")
    if not np.isfinite(x).all():
        raise UserError(f"{name} hold NaN or infinite values")
    norms = np.linalg.norm(x, axis=1)
    if (norms == 0).any():
        row = int(np.flatnonzero(norms == 0)[0])
        raise UserError(f"{name}: row {row} is all zeros, so its cosine similarity is undefined")
    return x / norms[:, None]


def cosine_similarities(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The [len(a), len(b)] matrix of cosine similarities between the rows of a and b."""
    a, b = _unit_rows(a, "vectors"), _unit_rows(b, "vectors")
    if a.shape[1] != b.shape[1]:
        raise UserError(f"vectors of {a.shape[1]} and {b.shape[1]} features cannot be compared")
    return np.clip(a @ b.T, -1.0, 1.0)


def vendi_score_of_vectors(vectors: np.ndarray) -> float:
    """The Vendi score of items given as feature rows, with cosine similarity as K."""
    k = cosine_similarities(vectors, vectors)
    np.fill_diagonal(k, 1.0)  # exactly 1, not 1 - round-off
    return vendi_score((k + k.T) / 2)


def novelty(vectors: np.ndarray, inspiring_vectors: np.ndarray) -> np.ndarray:
    """Per item: 1 - its greatest cosine similarity to any item of the inspiring set
    (0 for a copy of an inspiring item, 1 for an item orthogonal to them all)."""
    return 1.0 - cosine_similarities(vectors, inspiring_vectors).max(axis=1)
