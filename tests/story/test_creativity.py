"""Distinct-n, BLEU / Self-BLEU, Vendi score and novelty against hand-computed values,
and the story-level report built on them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from museforge.core.creativity import (
    bleu,
    distinct_n,
    novelty,
    self_bleu,
    tokens,
    vendi_score,
    vendi_score_of_vectors,
)
from museforge.errors import UserError
from museforge.story.metrics import alternatives_report, repeated_ngram_share, tfidf_vectors

# Vendi of K = [[1, s], [s, 1]] with s = 0.5: eigenvalues of K/2 are 0.75 and 0.25
VENDI_HALF = math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))  # 1.7548...


def test_tokens_lowercase_words_and_punctuation_marks():
    assert tokens("Stop, thief! Don't.") == ["stop", ",", "thief", "!", "don't", "."]
    assert tokens("  ") == []
    assert tokens("Don’t “go”.") == ["don't", '"', "go", '"', "."]  # typographic quotes


def test_a_sentence_copied_with_curly_apostrophes_is_a_repeat():
    plain = "I know that I can't afford it, but I can't ignore the call."
    curly = plain.replace("'", "\u2019")
    assert repeated_ngram_share(curly, 4, earlier=plain) == 1.0


def test_distinct_n_hand_computed():
    assert distinct_n(["a b a b"], 1) == 2 / 4
    assert distinct_n(["a b a b"], 2) == 2 / 3
    assert distinct_n(["a b", "b a"], 2) == 2 / 2


def test_distinct_n_counts_no_ngram_across_two_texts():
    # joined, "a b a b" would add the bigram (b, a); apart there are 2 bigrams, 1 distinct
    assert distinct_n(["a b", "a b"], 2) == 1 / 2


def test_distinct_n_edge_cases():
    assert distinct_n(["a"], 2) == 0.0
    with pytest.raises(UserError, match="n must be at least 1"):
        distinct_n(["a b"], 0)
    with pytest.raises(UserError, match="one string"):
        distinct_n("a b a b", 1)


def test_bleu_hand_computed_two_grams():
    # unigrams: a, b match, c does not -> 2/3; bigrams: (a b) matches, (b c) not -> 1/2
    assert bleu(["a", "b", "c"], [["a", "b", "d"]], max_n=2) == pytest.approx(math.sqrt(1 / 3))


def test_bleu_smooths_missing_orders_with_epsilon():
    # p3: the one trigram does not match -> 0.1/1; p4: no 4-gram at all -> 0.1/1
    expected = (2 / 3 * 1 / 2 * 0.1 * 0.1) ** 0.25
    assert bleu(["a", "b", "c"], [["a", "b", "d"]]) == pytest.approx(expected)


def test_bleu_brevity_penalty_and_clipping():
    assert bleu(["a", "b"], [["a", "b", "c"]], max_n=2) == pytest.approx(math.exp(1 - 3 / 2))
    # "the" counts at most once: the reference holds it once
    assert bleu(["the", "the", "the"], [["the", "cat"]], max_n=1) == pytest.approx(1 / 3)


def test_bleu_takes_the_shorter_reference_length_on_a_tie():
    # lengths 3 and 5 are both 1 away from 4: r = 3 < c, so no penalty
    assert bleu(list("abcd"), [list("abc"), list("abcde")], max_n=1) == 1.0


def test_bleu_without_a_matching_word_is_zero():
    assert bleu(["x", "y"], [["a", "b"]]) == 0.0
    assert bleu([], [["a"]]) == 0.0


def test_self_bleu_of_identical_texts_is_one():
    assert self_bleu(["the cat sat on the mat"] * 3) == pytest.approx(1.0)


def test_self_bleu_hand_computed():
    assert self_bleu(["a b c", "a b d"], max_n=2) == pytest.approx(math.sqrt(1 / 3))
    # "a b" vs "a b c": precisions 1, brevity exp(-1/2); "a b c" vs "a b": sqrt(2/3 * 1/2)
    expected = (math.exp(-0.5) + math.sqrt(1 / 3)) / 2
    assert self_bleu(["a b", "a b c"], max_n=2) == pytest.approx(expected)


def test_self_bleu_needs_two_texts():
    with pytest.raises(UserError, match="at least 2 texts"):
        self_bleu(["alone"])


def test_vendi_of_identity_is_n_and_of_ones_is_one():
    assert vendi_score(np.eye(4)) == pytest.approx(4.0)
    assert vendi_score(np.ones((3, 3))) == pytest.approx(1.0)


def test_vendi_two_by_two_hand_computed():
    assert math.isclose(VENDI_HALF, 1.7548, abs_tol=1e-4)
    assert vendi_score(np.array([[1.0, 0.5], [0.5, 1.0]])) == pytest.approx(VENDI_HALF)


@pytest.mark.parametrize(
    ("matrix", "words"),
    [
        ([[1.0, 0.2], [0.3, 1.0]], "not symmetric"),
        ([[2.0, 0.0], [0.0, 2.0]], "ones on its diagonal"),
        ([[1.0, 2.0], [2.0, 1.0]], "not positive semi-definite"),
        ([1.0, 1.0], "square"),
        ([[1.0, np.nan], [np.nan, 1.0]], "NaN"),
    ],
)
def test_vendi_refuses_a_matrix_that_is_not_a_similarity(matrix, words):
    with pytest.raises(UserError, match=words):
        vendi_score(np.array(matrix))


def test_vendi_of_vectors_uses_cosine_similarity():
    assert vendi_score_of_vectors(np.eye(5)) == pytest.approx(5.0)
    assert vendi_score_of_vectors([[1.0, 0.0], [3.0, 0.0]]) == pytest.approx(1.0)
    sixty_degrees = [[1.0, 0.0], [0.5, math.sqrt(3) / 2]]  # cosine 0.5
    assert vendi_score_of_vectors(sixty_degrees) == pytest.approx(VENDI_HALF)


def test_novelty_is_one_minus_the_closest_cosine():
    result = novelty([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [[2.0, 0.0]])
    np.testing.assert_allclose(result, [0.0, 1.0, 1 - 1 / math.sqrt(2)], atol=1e-12)
    with pytest.raises(UserError, match="row 1 is all zeros"):
        novelty([[1.0, 0.0], [0.0, 0.0]], [[1.0, 0.0]])
    with pytest.raises(UserError, match="cannot be compared"):
        novelty([[1.0, 0.0]], [[1.0, 0.0, 0.0]])


def test_tfidf_hand_computed():
    # vocabulary [a, b]; df(a) = 2, df(b) = 1 over n = 2: idf(a) = 1, idf(b) = ln(3/2) + 1
    expected = [[1.0, math.log(1.5) + 1], [1.0, 0.0]]
    np.testing.assert_allclose(tfidf_vectors(["a b.", "A"]), expected)


def test_report_of_identical_alternatives():
    report = alternatives_report(["the old man and the sea"] * 3, features="tfidf")
    assert report["self_bleu"] == pytest.approx(1.0)
    assert report["vendi"] == pytest.approx(1.0)
    assert report["distinct_1"] == pytest.approx(5 / 18)
    assert report["alternatives"] == 3 and report["vendi_features"] == "tfidf"


def test_report_of_alternatives_without_a_shared_word():
    texts = ["red fox runs", "blue whale sings", "green frog jumps"]
    report = alternatives_report(texts, features="tfidf")  # no shared word: orthogonal
    assert report["distinct_1"] == 1.0 and report["distinct_2"] == 1.0
    assert report["self_bleu"] == 0.0
    assert report["vendi"] == pytest.approx(3.0)


def test_report_uses_an_embedding_when_given():
    report = alternatives_report(["a", "b", "c"], embed=lambda texts: np.ones((len(texts), 4)))
    assert report["vendi"] == pytest.approx(1.0) and report["vendi_features"] == "embedding"
    with pytest.raises(UserError, match="one row per text"):
        alternatives_report(["a", "b"], embed=lambda texts: np.ones((3, 4)))


def test_report_needs_words_in_two_alternatives():
    with pytest.raises(UserError, match="at least 2 alternatives"):
        alternatives_report(["only one"])
    with pytest.raises(UserError, match="alternative 2 has no words"):
        alternatives_report(["words here", "?!"])
