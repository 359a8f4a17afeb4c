"""The story language model: the llama.cpp runtime on the shipped GGUF, served over the
OpenAI-compatible API by uvicorn on a loopback port, read back by ``HttpModel``; and each
way a server can fail, against real servers that fail that way."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from museforge.cli import run
from museforge.errors import BadInputFile, MissingFile, UserError
from museforge.story.llm import (
    MAX_PROMPT_CHARS,
    HttpModel,
    LanguageModel,
    LlamaCppModel,
    load_language_model,
    runtime_report,
    shipped_gguf,
)
from museforge.story.serve import MAX_BODY_BYTES, make_app

CHAT = [
    {"role": "system", "content": "You are a storyteller."},
    {"role": "user", "content": "Begin a story about a lighthouse keeper."},
]
SHORT = {"max_tokens": 24, "temperature": 0.8, "seed": 7}


@contextlib.contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free loopback port; yields its API root."""
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def local_model() -> LlamaCppModel:
    pytest.importorskip(
        "llama_cpp", reason="llama-cpp-python is not installed: pip install 'museforge[story]'"
    )
    try:
        path = shipped_gguf()
    except UserError as exc:
        pytest.skip(str(exc))
    return LlamaCppModel(path)


@pytest.fixture(scope="module")
def server(local_model: LlamaCppModel) -> Iterator[str]:
    with running(make_app(local_model)) as url:
        yield url


@pytest.fixture(scope="module")
def failing_server() -> Iterator[tuple[str, dict[str, int]]]:
    """A server whose chat route sleeps (/slow/v1) or fails (/broken/v1); counts its calls."""
    app = FastAPI()
    calls = {"slow": 0, "broken": 0, "any": 0}

    @app.post("/slow/v1/chat/completions")
    async def slow() -> dict:
        calls["slow"] += 1
        await asyncio.sleep(1)
        return {}

    @app.post("/broken/v1/chat/completions")
    async def broken() -> JSONResponse:
        calls["broken"] += 1
        return JSONResponse({"error": {"message": "the model fell over"}}, status_code=500)

    @app.post("/any/v1/chat/completions")
    async def anything() -> dict:
        calls["any"] += 1
        return {"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]}

    with running(app) as url:
        yield url.removesuffix("/v1"), calls


def _one_line_error(excinfo: pytest.ExceptionInfo[UserError], *words: str) -> str:
    message = excinfo.value.message
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


# --- the local runtime, served and read back --------------------------------------------


def test_streamed_pieces_join_to_the_complete_answer(server):
    model = HttpModel(server)
    pieces = list(model.stream(CHAT, **SHORT))
    assert len(pieces) > 3 and all(isinstance(p, str) and p for p in pieces)
    assert "".join(pieces) == model.complete(CHAT, **SHORT)


def test_served_answer_is_the_local_answer(server, local_model):
    assert HttpModel(server).complete(CHAT, **SHORT) == local_model.complete(CHAT, **SHORT)


def test_same_seed_gives_the_same_text(local_model):
    first = local_model.complete(CHAT, **SHORT)
    assert local_model.complete(CHAT, **SHORT) == first
    assert local_model.complete(CHAT, **{**SHORT, "seed": 8}) != first


def test_stream_ends_with_length_when_max_tokens_runs_out(local_model):
    pieces = local_model.stream(CHAT, **SHORT)
    with pytest.raises(StopIteration) as end:
        while True:
            next(pieces)
    assert end.value.value == "length"
    assert local_model.count_tokens(local_model.complete(CHAT, **SHORT)) <= SHORT["max_tokens"]


def test_stop_sequence_ends_the_text_before_it(local_model):
    full = local_model.complete(CHAT, **SHORT)
    word = full.split()[len(full.split()) // 2]
    assert local_model.complete(CHAT, **SHORT, stop=word) == full[: full.index(word)]


def test_non_streaming_request_gets_one_chat_completion(server, local_model):
    body = {"messages": CHAT, "stream": False, **SHORT}
    answer = httpx.post(f"{server}/chat/completions", json=body, timeout=60).json()
    assert answer["object"] == "chat.completion"
    choice = answer["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == local_model.complete(CHAT, **SHORT)
    assert choice["finish_reason"] == "length"


def test_streaming_request_sends_chunks_then_done(server):
    body = {"messages": CHAT, "stream": True, **SHORT}
    with httpx.stream("POST", f"{server}/chat/completions", json=body, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        data = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "length"}


def test_models_lists_the_one_model(server, local_model):
    listing = httpx.get(f"{server}/models").json()
    assert [m["id"] for m in listing["data"]] == [local_model.name]


def test_server_refuses_bad_requests_with_json_errors(server):
    url = f"{server}/chat/completions"
    cases = [
        ({"messages": CHAT, "max_tokens": 0}, 400, "max_tokens"),
        ({"messages": [{"role": "narrator", "content": "x"}]}, 400, "role"),
        ({"messages": []}, 400, "at least one message"),
        ({"messages": [{"role": "user", "content": "x" * (MAX_PROMPT_CHARS + 1)}]}, 400, "limit"),
        ({"messages": [{"role": "user", "content": "x" * MAX_BODY_BYTES}]}, 413, "limit"),
    ]
    for body, status, words in cases:
        response = httpx.post(url, json=body)
        assert response.status_code == status, response.text
        assert words in response.json()["error"]["message"]


def test_token_is_required_when_the_server_has_one(local_model):
    with running(make_app(local_model, token="s3cret")) as url:
        assert httpx.get(f"{url}/models").status_code == 401
        wrong = httpx.get(f"{url}/models", headers={"Authorization": "Bearer guess"})
        assert wrong.status_code == 401
        right = httpx.get(f"{url}/models", headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200
        assert HttpModel(url, api_key="s3cret").complete(CHAT, max_tokens=4)
        with pytest.raises(UserError) as excinfo:
            HttpModel(url, retries=0).complete(CHAT, max_tokens=4)
        _one_line_error(excinfo, url, "HTTP 401")


def test_a_served_server_can_be_passed_on(server, local_model):
    """``story serve --model http://...`` serves another server's model through this one."""
    with running(make_app(HttpModel(server))) as url:
        assert HttpModel(url).complete(CHAT, **SHORT) == local_model.complete(CHAT, **SHORT)


# --- failures: each is one line that names the server -----------------------------------


def test_dead_server_is_one_line_naming_the_url():
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    with pytest.raises(UserError) as excinfo:
        HttpModel(url, retries=1, backoff=0.01).complete(CHAT)
    _one_line_error(excinfo, url, "no server answers", "connection refused")


def test_timeout_is_one_line(failing_server):
    root, calls = failing_server
    before = calls["slow"]
    with pytest.raises(UserError) as excinfo:
        HttpModel(f"{root}/slow/v1", timeout=0.2).complete(CHAT)
    _one_line_error(excinfo, f"{root}/slow/v1", "no answer within 0.2 s")
    assert calls["slow"] == before + 1, "a timeout is not retried"


def test_server_error_is_retried_then_one_line(failing_server):
    root, calls = failing_server
    before = calls["broken"]
    with pytest.raises(UserError) as excinfo:
        HttpModel(f"{root}/broken/v1", retries=2, backoff=0.01).complete(CHAT)
    _one_line_error(excinfo, "HTTP 500", "the model fell over")
    assert calls["broken"] == before + 3


def test_bad_settings_fail_before_any_request(failing_server):
    root, calls = failing_server
    model = HttpModel(f"{root}/any/v1")
    before = calls["any"]
    too_long = [{"role": "user", "content": "x" * (MAX_PROMPT_CHARS + 1)}]
    with pytest.raises(UserError, match="limit is 32,000"):
        model.stream(too_long)
    with pytest.raises(UserError, match="max_tokens"):
        model.stream(CHAT, max_tokens=10**6)
    with pytest.raises(UserError, match="temperature"):
        model.stream(CHAT, temperature=float("nan"))
    assert calls["any"] == before
    assert model.complete(CHAT) == "hi", "a server that answers whole is read too"
    assert calls["any"] == before + 1


# --- choosing a model -------------------------------------------------------------------


def test_load_language_model_choices(tmp_path):
    model = load_language_model("http://127.0.0.1:9#llama3.2")
    assert isinstance(model, HttpModel) and isinstance(model, LanguageModel)
    assert model.base_url == "http://127.0.0.1:9/v1" and model.model == "llama3.2"
    with pytest.raises(UserError, match="smollm2.*gguf.*http://"):
        load_language_model("gpt-17")
    with pytest.raises(MissingFile, match="no-such.gguf: no such model file"):
        load_language_model(str(tmp_path / "no-such.gguf"))
    fake = tmp_path / "fake.gguf"
    fake.write_text("not a model")
    with pytest.raises(BadInputFile, match="not a GGUF model file"):
        load_language_model(str(fake))


def test_runtime_report_names_the_shipped_model():
    report = runtime_report()
    assert report["threads"] >= 1
    assert report["ready"] == (not report["problems"])
    if report["model"]:
        assert report["model"].endswith(".gguf") and report["model_mb"] > 50


# --- the command line -------------------------------------------------------------------


def _cli_error(args, capsys) -> str:
    assert run(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_serve_off_loopback_needs_a_token(capsys):
    assert "--token" in _cli_error(["story", "serve", "--host", "0.0.0.0"], capsys)
    assert "--token" in _cli_error(["story", "serve", "--host", "192.168.1.5"], capsys)


def test_serve_on_a_busy_port_is_one_line(capsys):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        args = ["story", "serve", "--model", "http://127.0.0.1:9/v1", "--port", str(port)]
        assert "cannot listen" in _cli_error(args, capsys)


def test_serve_unknown_model_is_one_line(capsys):
    assert "unknown model" in _cli_error(["story", "serve", "--model", "gpt-17"], capsys)


def test_a_seed_repeats_whatever_the_model_was_asked_before(local_model):
    bible = " ".join(f"Fact {i}: keeper {i} keeps a brass bird." for i in range(80))
    first = [{"role": "system", "content": bible}, {"role": "user", "content": "Scene one."}]
    other = [{"role": "system", "content": bible}, {"role": "user", "content": "Scene two."}]
    settings = {"max_tokens": 24, "temperature": 0.8}
    before = local_model.complete(first, seed=3, **settings)
    local_model.complete(other, seed=4, **settings)  # shares the long prefix: llama.cpp's cache
    assert local_model.complete(first, seed=3, **settings) == before


def test_a_grammar_holds_the_answer_to_its_form_locally_and_over_http(server, local_model):
    grammar = 'root ::= "Mara wants to " [a-z]+ (" " [a-z]+)* "."'
    ask = [{"role": "user", "content": "What does Mara want? Answer in one sentence."}]
    for model in (local_model, HttpModel(server)):
        for seed in range(3):
            answer = model.complete(ask, max_tokens=32, seed=seed, grammar=grammar)
            # the whole form, or its start where max_tokens cut it
            assert re.fullmatch(r"Mara wants to [a-z]+( [a-z]+)*\.?", answer), answer
    with pytest.raises(UserError, match="GBNF"):
        local_model.complete(ask, max_tokens=8, grammar="root ::= (")
    # a grammar llama.cpp cannot parse is a 400 from the server, which keeps serving
    body = {"messages": ask, "max_tokens": 8, "grammar": "root ::= ("}
    refused = httpx.post(f"{server}/chat/completions", json=body, timeout=30)
    assert refused.status_code == 400 and "GBNF" in refused.json()["error"]["message"]
    assert HttpModel(server).complete(ask, max_tokens=4, seed=1)


def test_a_server_that_refuses_grammars_is_asked_again_without():
    app = FastAPI()
    seen = []

    @app.post("/v1/chat/completions")
    async def chat(body: dict) -> JSONResponse:
        seen.append("grammar" in body)
        if "grammar" in body:
            return JSONResponse({"error": {"message": "unknown field grammar"}}, status_code=400)
        message = {"role": "assistant", "content": "Plain."}
        return JSONResponse({"choices": [{"message": message, "finish_reason": "stop"}]})

    with running(app) as url:
        model = HttpModel(url)
        assert model.follows_grammar
        text = "".join(model.stream(CHAT, grammar='root ::= "x"'))
        assert not model.follows_grammar and seen[:2] == [True, False]
        assert text == "Plain."


def test_an_answer_begun_in_the_last_message_is_continued(local_model):
    begun = [*CHAT, {"role": "assistant", "content": "Ines Oduya"}]
    answer = local_model.complete(begun, **SHORT)
    assert answer and not answer.startswith("Ines Oduya")  # only what comes after it
    assert local_model.complete(begun, **SHORT) == answer
    fresh = local_model.complete(CHAT, **SHORT)
    assert fresh != answer
