"""alternatives_report and novelty_against on all-MiniLM-L6-v2 sentence embeddings."""

from __future__ import annotations

import pytest

from museforge.core.embeddings import INSTALL_HINT, MODEL_NAME, default_encoder, model_installed
from museforge.story import metrics
from museforge.story.metrics import alternatives_report, novelty_against

pytestmark = pytest.mark.skipif(not model_installed(), reason=f"model missing: {INSTALL_HINT}")


@pytest.fixture(scope="module", autouse=True)
def loaded_once() -> None:
    default_encoder()


def test_vendi_of_identical_alternatives_is_one():
    report = alternatives_report(["The knight rode north at dawn."] * 3)
    assert report["vendi_features"] == MODEL_NAME
    assert report["vendi"] == pytest.approx(1.0, abs=1e-4)


def test_vendi_of_very_different_alternatives_is_above_two():
    report = alternatives_report(
        [
            "The knight rode north to face the dragon.",
            "Quarterly tax filings are due at the end of March.",
            "Mix the flour with two eggs and a pinch of salt.",
        ]
    )
    assert report["vendi"] > 2.0


def test_features_choose_tfidf_or_fall_back_to_it(monkeypatch: pytest.MonkeyPatch):
    texts = ["red fox runs", "blue whale sings", "green frog jumps"]
    report = alternatives_report(texts, features="tfidf")
    assert report["vendi_features"] == "tfidf" and report["vendi"] == pytest.approx(3.0)
    monkeypatch.setattr(metrics, "model_installed", lambda: False)
    assert alternatives_report(texts)["vendi_features"] == "tfidf"
    with pytest.raises(metrics.UserError, match="features must be one of"):
        alternatives_report(texts, features="bert")


def test_novelty_against_the_inspiring_texts():
    inspiring = ["A man is playing a guitar.", "The cat sat on the mat."]
    copy, paraphrase, unrelated = novelty_against(
        [
            "A man is playing a guitar.",
            "Someone plays the guitar.",
            "The stock market fell sharply today.",
        ],
        inspiring,
    )
    assert copy == pytest.approx(0.0, abs=1e-5)
    assert paraphrase < 0.4 < unrelated
    with pytest.raises(metrics.UserError, match="inspiring text 1 has no words"):
        novelty_against(["a tale"], ["..."])
