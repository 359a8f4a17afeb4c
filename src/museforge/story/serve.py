"""An OpenAI-compatible HTTP endpoint for a local language model (``museforge story serve``).

Any client of OpenAI's chat API (the ``openai`` package, a chat app, our own
``HttpModel``) can then write with the model on this machine. Two routes, the ones a
chat client needs: ``GET /v1/models`` and ``POST /v1/chat/completions``, answered whole
or streamed as server-sent events of ``chat.completion.chunk`` objects ending with
``data: [DONE]``. Errors are OpenAI's shape, ``{"error": {"message", "type", "code"}}``.

The server listens on 127.0.0.1 unless told otherwise, and any other address needs a
token (``Authorization: Bearer TOKEN``): a model on the network is a free compute
service for whoever finds it. The token guards every route, the API docs included, and
a request whose Host header is not one of the server's own names is refused, so a web
page cannot reach a loopback server through DNS rebinding.

The model answers one request at a time. Requests wait their turn in a bounded queue
(``Limits.queue``); one that finds it full, or waits longer than the time limit, gets
429. Each answer runs on the model's own thread, one token step at a time, so a client
that disconnects frees the model after the step in progress, and an answer that runs past
``Limits.seconds`` is stopped.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from museforge.errors import UserError
from museforge.story.llm import (
    MAX_NEW_TOKENS,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    MAX_STOPS,
    MAX_TEMPERATURE,
    Generation,
    LanguageModel,
    Pieces,
)
from museforge.story.sampling import Penalties

# A full prompt is MAX_PROMPT_CHARS characters; JSON may spend 6 bytes on one (\uXXXX).
MAX_BODY_BYTES = 1 << 20
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8642
MAX_CHOICES = 8  # n: alternatives in one request, answered one after another
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class Limits:
    """How much one server takes on."""

    queue: int = 8  # requests waiting for the model besides the one it answers
    seconds: float = 300.0  # one request's time, waiting included: a long chapter at 25 tok/s


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str | list[TextPart] = Field(description="Text, or a list of text parts.")

    def as_dict(self) -> dict[str, str]:
        text = self.content
        if not isinstance(text, str):
            text = "".join(part.text for part in text)
        return {"role": self.role, "content": text}


class ChatRequest(BaseModel):
    """The fields of OpenAI's chat request that this server uses; others are ignored."""

    model: str | None = Field(None, description="Ignored: this server holds one model.")
    messages: list[ChatMessage] = Field(
        description=f"The chat so far; at most {MAX_PROMPT_CHARS:,} characters in all."
    )
    stream: bool = Field(False, description="Send the answer as server-sent events.")
    max_tokens: int | None = Field(
        None,
        description=f"Tokens to generate, 1 to {MAX_NEW_TOKENS} (default {Generation.max_tokens}).",
    )
    max_completion_tokens: int | None = Field(None, description="The newer name of max_tokens.")
    temperature: float | None = Field(
        None,
        description=f"0 (greedy) to {MAX_TEMPERATURE:g} (default {Generation.temperature}).",
    )
    seed: int | None = Field(
        None, description=f"The same seed gives the same answer (default {Generation.seed})."
    )
    stop: str | list[str] | None = Field(
        None, description=f"Up to {MAX_STOPS} strings that end the answer."
    )
    grammar: str | None = Field(
        None, description="A GBNF grammar the answer must follow (as llama.cpp's server)."
    )
    n: int = Field(
        1, description=f"Alternatives, 1 to {MAX_CHOICES}, with seeds seed, seed + 1, ..."
    )
    stream_options: dict[str, Any] | None = Field(
        None, description='{"include_usage": true} adds a last chunk with the token counts.'
    )
    presence_penalty: float | None = Field(None, description="OpenAI's presence penalty, 0 to 10.")
    frequency_penalty: float | None = Field(
        None, description="OpenAI's frequency penalty, 0 to 10."
    )
    dry_multiplier: float | None = Field(None, description="DRY's strength (llama.cpp's name).")
    dry_base: float | None = Field(None, description="DRY's base (llama.cpp's name).")
    dry_allowed_length: int | None = Field(None, description="DRY's free repeat length.")

    def settings(self) -> dict[str, Any]:
        """Keyword arguments for ``LanguageModel.stream``; the model checks their ranges."""
        given = {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
            "stop": [self.stop] if isinstance(self.stop, str) else self.stop,
            "grammar": self.grammar,
        }
        if self.max_completion_tokens is not None:
            given["max_tokens"] = self.max_completion_tokens
        given["penalties"] = self.penalties()
        return {name: value for name, value in given.items() if value is not None}

    def penalties(self) -> Penalties | None:
        """The repetition penalties asked for, or None for none."""
        given = {
            "presence": self.presence_penalty,
            "frequency": self.frequency_penalty,
            "dry_multiplier": self.dry_multiplier,
            "dry_base": self.dry_base,
            "dry_allowed_length": self.dry_allowed_length,
        }
        given = {name: value for name, value in given.items() if value is not None}
        if not given:
            return None
        return Penalties(**({"dry_multiplier": 0.0} | given))


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "code": status}}
    return JSONResponse(body, status_code=status)


class BodyLimit:
    """Refuses a request body over ``limit`` bytes (413) before reading it, and a body
    of unknown length (411): Content-Length is then the whole body, h11 sees to that."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            length = dict(scope["headers"]).get(b"content-length")
            if length is None or not length.isdigit():
                await _error(411, "send the body with a Content-Length")(scope, receive, send)
                return
            if int(length) > self.limit:
                message = f"the request body is {int(length):,} bytes; the limit is {self.limit:,}"
                await _error(413, message)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class TokenCheck:
    """Refuses every HTTP request without ``Authorization: Bearer TOKEN`` (401), the API
    docs and their schema included."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not secrets.compare_digest(given, self.expected):
                response = _error(
                    401, "this server needs 'Authorization: Bearer TOKEN' with its token"
                )
                response.headers["WWW-Authenticate"] = "Bearer"
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Gate:
    """The model for one request at a time, with at most ``queue`` requests waiting."""

    def __init__(self, queue: int) -> None:
        self.queue = queue
        self.waiting = 0
        self._lock = asyncio.Lock()

    async def enter(self, timeout: float) -> bool:
        """Whether the caller now holds the model (False: the queue is full, or the wait
        ran past ``timeout`` seconds)."""
        if self._lock.locked() and self.waiting >= self.queue:
            return False
        self.waiting += 1
        try:
            await asyncio.wait_for(self._lock.acquire(), timeout)
        except TimeoutError:
            return False
        finally:
            self.waiting -= 1
        return True

    def leave(self) -> None:
        self._lock.release()


class GatedStream(StreamingResponse):
    """A streamed answer that runs ``cleanup`` when it ends, however it ends: finished,
    or cancelled because the client disconnected."""

    def __init__(self, content: AsyncIterator[str], cleanup: Callable[[], Awaitable[None]]):
        super().__init__(content, media_type="text/event-stream")
        self._cleanup = cleanup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]
                await self._cleanup()


def _step(pieces: Pieces) -> tuple[str | None, str | None]:
    """The next piece and None, or None and the finish reason once the answer has ended."""
    try:
        return next(pieces), None
    except StopIteration as end:
        return None, end.value or "stop"


class _Answer:
    """The ``n`` streams of one request, stepped on the model's thread."""

    def __init__(self, model: LanguageModel, request: ChatRequest, executor: ThreadPoolExecutor):
        if not 1 <= request.n <= MAX_CHOICES:
            raise UserError(f"n must be 1 to {MAX_CHOICES}, not {request.n}")
        messages = [m.as_dict() for m in request.messages]
        settings = request.settings()
        seed = settings.pop("seed", Generation.seed)
        self.runs = [
            model.stream(messages, seed=seed if i == 0 else (seed + i) % (MAX_SEED + 1), **settings)
            for i in range(request.n)
        ]
        self.executor = executor
        self.count = getattr(model, "count_tokens", None)
        self.prompt = "".join(m["content"] for m in messages)
        self.texts = [""] * request.n

    async def step(self, i: int) -> tuple[str | None, str | None]:
        loop = asyncio.get_running_loop()
        piece, reason = await loop.run_in_executor(self.executor, _step, self.runs[i])
        self.texts[i] += piece or ""
        return piece, reason

    async def close(self) -> None:
        """Close every stream on the model's thread, after the step in progress: this frees
        the model."""

        def close_all() -> None:
            for run in self.runs:
                run.close()

        await asyncio.get_running_loop().run_in_executor(self.executor, close_all)

    def usage(self) -> dict[str, int] | None:
        """OpenAI's token counts (the prompt counted as the messages' text, without the chat
        template's tokens), or None for a model that cannot count its tokens."""
        if self.count is None:
            return None
        prompt = self.count(self.prompt)
        completion = sum(self.count(text) for text in self.texts if text)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }


def make_app(
    model: LanguageModel,
    *,
    token: str | None = None,
    hosts: tuple[str, ...] = (),
    limits: Limits = Limits(),
) -> FastAPI:
    """The OpenAI-compatible app over ``model``; with ``token``, every request needs it;
    requests must name this server in their Host header: a loopback name or ``hosts``."""
    app = FastAPI(
        title="museforge story server",
        summary=f"An OpenAI-compatible chat endpoint for {model.name}.",
    )
    app.add_middleware(BodyLimit)
    if token:
        app.add_middleware(TokenCheck, token=token)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=[*LOOPBACK_NAMES, *hosts])
    gate = Gate(limits.queue)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _error(exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            return _error(400, "the request body is not valid JSON")
        where = ".".join(str(part) for part in first["loc"] if part != "body")
        return _error(400, f"{where}: {first['msg']}" if where else first["msg"])

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError) -> JSONResponse:
        return _error(400, exc.message)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        """The one model this server holds."""
        entry = {"id": model.name, "object": "model", "created": 0, "owned_by": "museforge"}
        return {"object": "list", "data": [entry]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: ChatRequest) -> Any:
        """The model's answer to the chat, whole or streamed; 429 when the queue is full."""
        answer = _Answer(model, request, executor)  # bad settings: 400 before any wait
        deadline = time.monotonic() + limits.seconds
        if not await gate.enter(limits.seconds):
            return _error(429, "the model is busy and its queue is full: try again shortly")
        handed_over = False
        try:
            # The first step runs here, so that a prompt the model refuses is a 400, not a
            # stream that breaks after its 200.
            first = await answer.step(0)
            head = {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "created": int(time.time()),
                "model": model.name,
            }
            if request.stream:
                usage = bool((request.stream_options or {}).get("include_usage"))
                events = _events(answer, head, first, deadline, usage)

                async def cleanup() -> None:
                    await answer.close()
                    gate.leave()

                handed_over = True
                return GatedStream(events, cleanup)
            return await _whole(answer, head, first, deadline, limits.seconds)
        finally:
            if not handed_over:
                await answer.close()
                gate.leave()

    return app


async def _whole(
    answer: _Answer,
    head: dict[str, Any],
    first: tuple[str | None, str | None],
    deadline: float,
    seconds: float,
) -> dict[str, Any] | JSONResponse:
    """The whole answer as one ``chat.completion``; 504 past the deadline."""
    choices = []
    for i in range(len(answer.runs)):
        reason = first[1] if i == 0 else None
        if i:
            reason = (await answer.step(i))[1]
        while reason is None:
            if time.monotonic() > deadline:
                return _error(504, f"the answer took longer than {seconds:g} s", "server_error")
            reason = (await answer.step(i))[1]
        message = {"role": "assistant", "content": answer.texts[i]}
        choices.append({"index": i, "message": message, "finish_reason": reason})
    body = {**head, "object": "chat.completion", "choices": choices}
    usage = answer.usage()
    return body | ({"usage": usage} if usage else {})


async def _events(
    answer: _Answer,
    head: dict[str, Any],
    first: tuple[str | None, str | None],
    deadline: float,
    include_usage: bool,
) -> AsyncIterator[str]:
    """Server-sent events of ``chat.completion.chunk`` objects (each choice in turn), then
    ``[DONE]``; an error past the deadline or from the model ends the stream."""

    def event(data: dict[str, Any]) -> str:
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    def chunk(i: int, delta: dict[str, str], finish: str | None = None) -> str:
        choice = {"index": i, "delta": delta, "finish_reason": finish}
        return event({**head, "object": "chat.completion.chunk", "choices": [choice]})

    for i in range(len(answer.runs)):
        piece, reason = first if i == 0 else (None, None)
        yield chunk(i, {"role": "assistant", "content": piece or ""})
        while reason is None:
            if time.monotonic() > deadline:
                yield event(
                    {
                        "error": {
                            "message": "the time limit ran out",
                            "type": "server_error",
                            "code": 504,
                        }
                    }
                )
                return
            try:
                piece, reason = await answer.step(i)
            except UserError as exc:  # too late for a status code: say so in the stream
                yield event(
                    {"error": {"message": exc.message, "type": "server_error", "code": 500}}
                )
                return
            if piece:
                yield chunk(i, {"content": piece})
        yield chunk(i, {}, reason)
    if include_usage:
        yield event(
            {**head, "object": "chat.completion.chunk", "choices": [], "usage": answer.usage()}
        )
    yield "data: [DONE]\n\n"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def check_exposure(host: str, token: str | None) -> None:
    """A UserError if ``host`` is reachable from other machines and there is no token."""
    if not is_loopback(host) and not token:
        raise UserError(
            f"--host {host} lets other machines use this model: give a --token that "
            "clients must send (or keep the default --host 127.0.0.1)"
        )


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port``, or a UserError saying why not (an address this
    machine does not have, a port in use)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise UserError(f"{host}:{port}: cannot listen there ({exc.strerror or exc})") from exc


def serve(
    model: LanguageModel,
    sock: socket.socket,
    *,
    token: str | None = None,
    hosts: tuple[str, ...] = (),
    limits: Limits = Limits(),
) -> None:
    """Answer requests on ``sock`` until Ctrl-C; uvicorn logs only warnings and errors."""
    import uvicorn

    app = make_app(model, token=token, hosts=hosts, limits=limits)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
