"""``story serve`` under load and at its edges: 60 concurrent clients (whole, streamed, and
streams dropped half-way) are all answered or refused with 429 and none hangs; the model is
free again within a second of a disconnect; ``n`` alternatives with their seeds and token
``usage``; a foreign Host header and a missing token refused on every route; a time limit."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from test_llm import running

from museforge.errors import UserError
from museforge.story.llm import LlamaCppModel, shipped_gguf
from museforge.story.serve import Limits, make_app

CHAT = [{"role": "user", "content": "Tell me about the sea."}]
LONG = {"messages": CHAT, "max_tokens": 2000, "temperature": 0.8, "stream": True}
ROUTES = ("/v1/models", "/docs", "/openapi.json")


@pytest.fixture(scope="module")
def model() -> LlamaCppModel:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    try:
        return LlamaCppModel(shipped_gguf())
    except UserError as exc:
        pytest.skip(str(exc))


def _client(url: str, kind: str, results: list, i: int) -> None:
    body = {"messages": CHAT, "max_tokens": 8, "seed": i, "stream": kind != "whole"}
    try:
        with (
            httpx.Client(timeout=60) as client,
            client.stream("POST", f"{url}/chat/completions", json=body) as response,
        ):
            if kind == "drop" and response.status_code == 200:
                next(response.iter_lines())
                results[i] = "dropped"
                return  # leaving the block closes the connection mid-stream
            response.read()
            results[i] = response.status_code
    except httpx.HTTPError as exc:
        results[i] = repr(exc)


def test_sixty_concurrent_clients_are_answered_or_refused_and_none_hangs(model):
    with running(make_app(model, limits=Limits(queue=8, seconds=60))) as url:
        results: list = [None] * 60
        kinds = ("whole", "stream", "drop")
        threads = [
            threading.Thread(target=_client, args=(url, kinds[i % 3], results, i))
            for i in range(60)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
        assert not any(thread.is_alive() for thread in threads), "a client hangs"
        assert set(results) <= {200, 429, "dropped"}, results
        assert results.count(200) + results.count("dropped") >= 9  # the model and its queue
        answered = httpx.post(f"{url}/chat/completions", json={"messages": CHAT, "max_tokens": 4})
        assert answered.status_code == 200


def test_after_each_disconnect_the_next_request_is_answered_within_a_second(model):
    with running(make_app(model)) as url:
        for _ in range(3):
            with (
                httpx.Client(timeout=30) as client,
                client.stream("POST", f"{url}/chat/completions", json=LONG) as response,
            ):
                lines = response.iter_lines()
                next(lines), next(lines), next(lines)
            start = time.monotonic()
            short = {"messages": CHAT, "max_tokens": 1, "temperature": 0}
            answered = httpx.post(f"{url}/chat/completions", json=short, timeout=30)
            assert answered.status_code == 200
            assert time.monotonic() - start < 1.0


def test_n_alternatives_use_seed_plus_i_and_usage_counts_tokens(model):
    with running(make_app(model)) as url:
        body = {"messages": CHAT, "max_tokens": 6, "temperature": 0.9, "seed": 11, "n": 3}
        answer = httpx.post(f"{url}/chat/completions", json=body, timeout=60).json()
        texts = [c["message"]["content"] for c in answer["choices"]]
        assert [c["index"] for c in answer["choices"]] == [0, 1, 2]
        for i, text in enumerate(texts):
            assert text == model.complete(CHAT, max_tokens=6, temperature=0.9, seed=11 + i)
        usage = answer["usage"]
        assert usage["completion_tokens"] == sum(model.count_tokens(t) for t in texts)
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
        refused = httpx.post(f"{url}/chat/completions", json=body | {"n": 9})
        assert refused.status_code == 400 and "n must be" in refused.json()["error"]["message"]


def test_a_foreign_host_and_a_missing_token_are_refused_on_every_route(model):
    with running(make_app(model, token="s3cret")) as url:
        root = url.removesuffix("/v1")
        good = {"Authorization": "Bearer s3cret"}
        for route in ROUTES:
            assert httpx.get(f"{root}{route}").status_code == 401, route
            assert httpx.get(f"{root}{route}", headers=good).status_code == 200, route
            foreign = good | {"Host": "rebound.example"}
            assert httpx.get(f"{root}{route}", headers=foreign).status_code == 400, route
        chat = httpx.post(f"{url}/chat/completions", json={"messages": CHAT, "max_tokens": 2})
        assert chat.status_code == 401


def test_an_answer_past_the_time_limit_is_stopped(model):
    with running(make_app(model, limits=Limits(seconds=1.0))) as url:
        start = time.monotonic()
        body = LONG | {"stream": False}
        answer = httpx.post(f"{url}/chat/completions", json=body, timeout=30)
        assert answer.status_code == 504 and "longer than 1 s" in answer.json()["error"]["message"]
        assert time.monotonic() - start < 5
