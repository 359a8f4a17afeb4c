"""The transformers runtime on the shipped SmolLM2 GGUF: converted once into a model folder
in the museforge home and read from there afterwards; seeded, stopped and streamed like
the llama.cpp runtime; and the choice between the two runtimes."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from museforge.errors import BadInputFile, UserError
from museforge.story import llm, llm_transformers
from museforge.story.llm import fallback_missing, load_language_model, runtime_report, shipped_gguf
from museforge.story.llm_transformers import TransformersModel, cache_folder
from museforge.story.metrics import repeated_ngram_share
from museforge.story.sampling import Penalties

CHAT = [
    {"role": "system", "content": "You are a storyteller."},
    {"role": "user", "content": "Begin a story about a lighthouse keeper."},
]


@pytest.fixture(scope="module")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The shipped GGUF file, with a museforge home (and so a conversion cache) of its own."""
    if fallback_missing(gguf=True):
        pytest.skip(
            f"{', '.join(fallback_missing(gguf=True))} not installed: {llm.FALLBACK_INSTALL}"
        )
    try:
        path = shipped_gguf()
    except UserError as exc:
        pytest.skip(str(exc))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MUSEFORGE_HOME", str(tmp_path_factory.mktemp("home")))
        yield path


@pytest.fixture(scope="module")
def model(gguf: Path) -> TransformersModel:
    return TransformersModel(gguf)


@pytest.fixture(scope="module")
def greedy(model: TransformersModel) -> str:
    return model.complete(CHAT, max_tokens=24, temperature=0)


def _drain(stream) -> tuple[list[str], str]:
    """The pieces of a stream and its finish reason."""
    pieces = []
    with pytest.raises(StopIteration) as stopped:
        while True:
            pieces.append(next(stream))
    return pieces, stopped.value.value


def _never_convert(gguf: Path, folder: Path) -> None:
    raise AssertionError(f"{gguf} was converted again")


def test_gguf_writes_about_the_prompt_the_same_each_time_at_temperature_0(model, greedy):
    assert model.name == "SmolLM2-135M-Instruct.Q4_1"
    assert "lighthouse" in greedy.lower()
    words = greedy.split()
    assert len(words) >= 10 and sum(w.strip(".,;:!?'\"").isalpha() for w in words) >= 0.8 * len(
        words
    )
    assert model.complete(CHAT, max_tokens=24, temperature=0) == greedy


def test_stream_pieces_join_to_the_answer_and_a_seed_repeats_it(model):
    pieces, reason = _drain(model.stream(CHAT, max_tokens=16, temperature=0.9, seed=3))
    assert len(pieces) >= 4 and all(pieces) and reason == "length"
    text = "".join(pieces)
    assert model.complete(CHAT, max_tokens=16, temperature=0.9, seed=3) == text
    assert model.complete(CHAT, max_tokens=16, temperature=0.9, seed=4) != text


def test_max_tokens_ends_the_answer_with_length(model):
    pieces, reason = _drain(model.stream(CHAT, max_tokens=6, temperature=0.7, seed=1))
    assert reason == "length" and 1 <= model.count_tokens("".join(pieces)) <= 6


def test_a_stop_string_ends_the_answer_before_it(model, greedy):
    stop = " ".join(greedy.split()[3:5])  # several tokens: its start is held back
    stream = model.stream(CHAT, max_tokens=24, temperature=0, stop=[stop, "never written"])
    pieces, reason = _drain(stream)
    assert "".join(pieces) == greedy[: greedy.index(stop)] and reason == "stop"


def test_a_prompt_longer_than_the_context_is_refused_before_any_work(model):
    with pytest.raises(UserError, match="shorten the prompt"):
        model.stream([{"role": "user", "content": "🙂" * 8000}])


def test_the_conversion_is_kept_and_read_again(gguf, model, greedy, monkeypatch):
    folder = cache_folder(gguf)
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no leftovers
    monkeypatch.setattr(llm_transformers, "convert_gguf", _never_convert)
    again = load_language_model("smollm2", runtime="transformers")
    assert isinstance(again, TransformersModel)
    assert greedy.startswith(again.complete(CHAT, max_tokens=8, temperature=0))


def test_a_damaged_conversion_is_made_again(gguf, model, tmp_path, monkeypatch):
    good = cache_folder(gguf)
    copy = tmp_path / "copy.gguf"
    copy.symlink_to(gguf)
    damaged = cache_folder(copy)
    shutil.copytree(good, damaged, copy_function=os.link)
    (damaged / "model.safetensors").unlink()
    (damaged / "model.safetensors").write_bytes(b"\0" * 100)  # cut short
    converted = []

    def convert(source: Path, folder: Path) -> None:
        shutil.copytree(good, folder, copy_function=os.link)
        converted.append(source)

    monkeypatch.setattr(llm_transformers, "convert_gguf", convert)
    assert TransformersModel(copy).count_tokens("a lighthouse") >= 2
    assert converted == [copy]


def test_a_model_folder_loads_by_its_path(gguf, model):
    folder = cache_folder(gguf)
    loaded = load_language_model(str(folder))
    assert isinstance(loaded, TransformersModel) and loaded.name == folder.name
    with pytest.raises(UserError, match="llama.cpp runs GGUF files"):
        load_language_model(str(folder), runtime="llama.cpp")


def test_a_folder_of_pickled_weights_is_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04 not unpickled")
    with pytest.raises(BadInputFile, match="only pickled weights .pytorch_model.bin.*safetensors"):
        load_language_model(str(tmp_path))
    (tmp_path / "pytorch_model.bin").unlink()
    with pytest.raises(BadInputFile, match="no .safetensors weights"):
        load_language_model(str(tmp_path))


def test_auto_falls_back_to_transformers_without_llama_cpp(gguf, model, monkeypatch):
    monkeypatch.setattr(llm, "_llama_cpp_installed", lambda: False)
    monkeypatch.setattr(llm_transformers, "convert_gguf", _never_convert)
    report = runtime_report()
    assert report["runtime"].startswith("transformers ") and "fallback" in report["runtime"]
    assert report["ready"] and report["runtimes"]["llama.cpp"] is None
    assert isinstance(load_language_model(str(gguf)), TransformersModel)


def test_an_unknown_runtime_is_refused(monkeypatch):
    with pytest.raises(
        UserError, match="unknown runtime 'onnx': use auto, llama.cpp, transformers"
    ):
        load_language_model("smollm2", runtime="onnx")
    monkeypatch.setenv(llm.RUNTIME_ENV, "vllm")
    with pytest.raises(UserError, match="unknown runtime 'vllm'"):
        load_language_model("smollm2")
    assert "unknown runtime" in runtime_report()["problems"][0]


def test_an_answer_begun_in_the_last_message_is_continued(model, greedy):
    begun = [*CHAT, {"role": "assistant", "content": greedy}]
    more = model.complete(begun, max_tokens=12, temperature=0)
    assert more and not more.startswith(greedy)  # only what comes after it
    assert model.complete(begun, max_tokens=12, temperature=0) == more


def test_story_serve_streams_the_transformers_runtime_over_http(model):
    from test_llm import running

    from museforge.story.llm import HttpModel
    from museforge.story.serve import make_app

    settings = {"max_tokens": 12, "temperature": 0.8, "seed": 5}
    with running(make_app(model)) as url:
        remote = HttpModel(url)
        pieces = list(remote.stream(CHAT, **settings))
        remote.close()
    assert len(pieces) > 1 and "".join(pieces) == model.complete(CHAT, **settings)


def test_dry_breaks_a_copy_of_the_context_on_transformers_too(model):
    sentence = "The brass bird sang three notes over the grey harbour at dawn."
    chat = [{"role": "user", "content": f"Copy this sentence exactly: {sentence}"}]
    plain = model.complete(chat, max_tokens=24, temperature=0)
    held = model.complete(chat, max_tokens=24, temperature=0, penalties=Penalties(dry_multiplier=3))
    assert repeated_ngram_share(plain, 4, sentence) > 0.8, plain
    assert repeated_ngram_share(held, 4, sentence) < 0.5, held
