"""Chat models on transformers: the story model's runtime for machines without a C++ compiler.

llama-cpp-python is on PyPI as source only, so installing it compiles llama.cpp.
``TransformersModel`` needs no compiler; it loads

- a Hugging Face model folder: ``config.json``, the tokenizer's files and ``.safetensors``
  weights (pickled ``.bin``/``.pt`` weights are refused: unpickling runs code), or
- a GGUF file, which transformers dequantises to float32. That takes tens of seconds, so the
  result is kept once as a model folder in ``$MUSEFORGE_HOME/cache/llm``, and later loads of
  the same file read that folder in a second or two.

Sampling is llama.cpp's default chain (top-k, top-p, min-p, then the temperature), after the
same repetition penalties (``sampling``), so both runtimes draw from the same candidates. The same seed, settings and messages give the same
text on the same machine and versions.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from museforge.core.home import home
from museforge.errors import BadInputFile, MissingFile, UserError
from museforge.story.llm import (
    FALLBACK_INSTALL,
    Generation,
    LanguageModel,
    Pieces,
    fallback_missing,
)
from museforge.story.sampling import apply_penalties

# llama.cpp's defaults (llama-cpp-python's create_chat_completion), so both runtimes sample alike
TOP_K = 40  # never draw from the long tail of the vocabulary
TOP_P = 0.95  # the likeliest tokens that make up 95% of the probability
MIN_P = 0.05  # and none below 5% of the likeliest one's probability

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def _import_transformers(gguf: bool) -> ModuleType:
    missing = fallback_missing(gguf)
    if missing:
        raise UserError(f"the transformers runtime needs {', '.join(missing)}: {FALLBACK_INSTALL}")
    import transformers

    return transformers


@contextlib.contextmanager
def _no_progress_bars(transformers: ModuleType) -> Iterator[None]:
    """Without transformers' "Loading weights" bar, which would print at every load."""
    logging = transformers.utils.logging
    enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            logging.enable_progress_bar()


def cache_folder(gguf: Path) -> Path:
    """Where the converted copy of the GGUF file ``gguf`` is kept: one per name, size and
    modification time, so a changed file is converted again."""
    stat = gguf.stat()
    key = f"{gguf.name}:{stat.st_size}:{stat.st_mtime_ns}"
    return home() / "cache" / "llm" / f"{gguf.stem}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def convert_gguf(gguf: Path, folder: Path) -> None:
    """Dequantise the GGUF file ``gguf`` to float32 and save it as the model folder ``folder``.

    The folder is written under a temporary name and renamed when complete, so a folder
    that exists was written whole.
    """
    transformers = _import_transformers(gguf=True)
    try:
        with _no_progress_bars(transformers):
            tokenizer = transformers.AutoTokenizer.from_pretrained(
                gguf.parent, gguf_file=gguf.name, local_files_only=True
            )
            model = transformers.AutoModelForCausalLM.from_pretrained(
                gguf.parent, gguf_file=gguf.name, local_files_only=True, dtype=torch.float32
            )
    except (OSError, ValueError, KeyError) as exc:
        raise BadInputFile(gguf, "transformers cannot load this GGUF model", str(exc)) from exc
    # transformers marks a model read from GGUF as quantised and refuses to save it, though
    # its weights are plain float32 tensors by now.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        with _no_progress_bars(transformers):
            model.save_pretrained(partial)
            tokenizer.save_pretrained(partial)
        shutil.rmtree(folder, ignore_errors=True)  # a damaged copy
        partial.rename(folder)
    except OSError as exc:
        if not folder.is_dir():  # else another process has just put its copy there
            raise UserError(
                f"{folder.parent}: cannot keep the converted model ({exc.strerror or exc})"
            ) from exc
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def check_model_folder(folder: Path) -> None:
    """Raise a BadInputFile unless ``folder`` has a config and safetensors weights."""
    if not (folder / "config.json").is_file():
        raise BadInputFile(folder, "is not a Hugging Face model folder (it has no config.json)")
    if any(folder.glob("*.safetensors")):
        return
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise BadInputFile(
            folder,
            f"has only pickled weights ({', '.join(pickles)}), and loading a pickle can run "
            "any code in it",
            "museforge loads .safetensors weights only: use a safetensors copy of the model",
        )
    raise BadInputFile(folder, "has no .safetensors weights")


def _token_ids(value: int | list[int] | None) -> set[int]:
    if value is None:
        return set()
    return {value} if isinstance(value, int) else set(value)


def sample(logits: torch.Tensor, temperature: float, generator: torch.Generator) -> int:
    """A token from the last position's ``logits``: the likeliest at temperature 0, else a
    draw after llama.cpp's chain: top-k, top-p, min-p, then the temperature."""
    if temperature == 0:
        return int(logits.argmax())
    top, index = logits.topk(min(TOP_K, logits.numel()))  # sorted, likeliest first
    probs = top.softmax(-1)
    keep = int((probs.cumsum(-1) < TOP_P).sum()) + 1  # the head that reaches TOP_P
    keep = min(keep, int((probs >= MIN_P * probs[0]).sum()))
    weights = (top[:keep] / temperature).softmax(-1)
    return int(index[torch.multinomial(weights, 1, generator=generator)])


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many characters at the end of ``text`` may be the start of a stop string."""
    return max(
        (k for stop in stops for k in range(1, len(stop)) if text.endswith(stop[:k])), default=0
    )


class TransformersModel(LanguageModel):
    """A chat model run by transformers in this process, loaded once, in float32.

    ``path`` is a Hugging Face model folder or a GGUF file (converted once, then cached).
    The chat template is the tokenizer's. One generation runs at a time: a stream holds the
    model until it ends or is closed, as with ``LlamaCppModel``. It uses as many threads as
    torch is set to.
    """

    continues_answer = True

    def __init__(self, path: str | Path):
        path = Path(path).expanduser()
        if not path.exists():
            raise MissingFile(path, "model file or folder")
        self.path = path
        self.name = path.stem if path.is_file() else path.name
        if path.is_dir():
            self._load(path)
        else:
            with path.open("rb") as f:
                if f.read(4) != b"GGUF":
                    raise BadInputFile(path, "is not a GGUF model file")
            self._load_gguf(path)
        self._lock = threading.Lock()

    def _load_gguf(self, gguf: Path) -> None:
        _import_transformers(gguf=False)  # before a failed load can be taken for a damaged copy
        folder = cache_folder(gguf)
        if folder.is_dir():
            try:
                self._load(folder)
                return
            except Exception:  # a damaged copy, whatever the damage: convert the file again
                shutil.rmtree(folder, ignore_errors=True)
        convert_gguf(gguf, folder)
        self._load(folder)

    def _load(self, folder: Path) -> None:
        check_model_folder(folder)
        transformers = _import_transformers(gguf=False)
        try:
            with _no_progress_bars(transformers):
                tokenizer = transformers.AutoTokenizer.from_pretrained(
                    folder, local_files_only=True
                )
                model, info = transformers.AutoModelForCausalLM.from_pretrained(
                    folder,
                    local_files_only=True,
                    use_safetensors=True,
                    dtype=torch.float32,
                    output_loading_info=True,
                )
        except (OSError, ValueError, KeyError) as exc:
            raise BadInputFile(folder, "transformers cannot load this model", str(exc)) from exc
        if info["missing_keys"]:
            missing = ", ".join(sorted(info["missing_keys"])[:3])
            raise BadInputFile(folder, f"its weights lack {missing}")
        if not tokenizer.chat_template:
            raise BadInputFile(folder, "has no chat template (a base model, not a chat model)")
        self._tokenizer = tokenizer
        self._model = model.eval()
        self.n_ctx = int(model.config.max_position_embeddings)
        self._breakers = tokenizer.encode("\n", add_special_tokens=False)  # end DRY's matches
        self._ends = _token_ids(tokenizer.eos_token_id) | _token_ids(
            model.generation_config.eos_token_id
        )

    def count_tokens(self, text: str) -> int:
        """How many tokens ``text`` is for this model."""
        return len(self._tokenizer.encode(text, add_special_tokens=False))

    def _stream(self, messages: list[dict[str, str]], settings: Generation) -> Pieces:
        begun = messages[-1]["role"] == "assistant"  # an answer to continue
        prompt = self._tokenizer.apply_chat_template(
            messages,
            add_generation_prompt=not begun,
            continue_final_message=begun,
            tokenize=True,
            return_dict=False,
        )
        if len(prompt) >= self.n_ctx:
            raise UserError(
                f"{self.name}: the prompt is {len(prompt):,} tokens and the model's context "
                f"{self.n_ctx:,} (shorten the prompt)"
            )
        return self._generate(prompt, settings)

    @torch.inference_mode()
    def _forward(self, ids: list[int], cache: Any) -> tuple[torch.Tensor, Any]:
        """The next token's logits after ``ids``, and the key-value cache that includes them."""
        out = self._model(
            input_ids=torch.tensor([ids]), cache=cache, use_cache=True, logits_to_keep=1
        )
        return out.logits[0, -1], out.cache

    def _generate(self, prompt: list[int], settings: Generation) -> Pieces:
        budget = min(settings.max_tokens, self.n_ctx - len(prompt))
        generator = torch.Generator().manual_seed(settings.seed)
        ids: list[int] = []
        sent = 0  # characters of the answer already yielded
        with self._lock:
            logits, cache = self._forward(prompt, None)
            penalties = settings.penalties
            history = (
                self._tokenizer.encode(penalties.history, add_special_tokens=False)
                if penalties is not None and penalties.history
                else []
            )
            while True:
                if penalties is not None and penalties.active:
                    context = np.array(history + prompt + ids)
                    logits = torch.from_numpy(
                        apply_penalties(
                            context,
                            len(history) + len(prompt),
                            logits.numpy(),
                            penalties,
                            self._breakers,
                        )
                    )
                token = sample(logits, settings.temperature, generator)
                if token in self._ends:
                    reason = "stop"
                    break
                ids.append(token)
                # Decoding the whole answer each time keeps characters that span tokens whole.
                text = self._tokenizer.decode(ids, skip_special_tokens=True)
                cuts = [i for i in (text.find(stop, sent) for stop in settings.stop) if i >= 0]
                if cuts:
                    if min(cuts) > sent:
                        yield text[sent : min(cuts)]
                    return "stop"
                # hold back a character still missing bytes ("\ufffd") and a possible stop's start
                ready = min(len(text.rstrip("\ufffd")), len(text) - _held_back(text, settings.stop))
                if ready > sent:
                    yield text[sent:ready]
                    sent = ready
                if len(ids) == budget:
                    reason = "length"
                    break
                logits, cache = self._forward([token], cache)
            text = self._tokenizer.decode(ids, skip_special_tokens=True)
            if len(text) > sent:
                yield text[sent:]
        return reason
