"""An OpenAI-compatible HTTP endpoint for a local language model (``museforge story serve``).

Any client of OpenAI's chat API (the ``openai`` package, a chat app, our own
``HttpModel``) can then write with the model on this machine. Two routes, the ones a
chat client needs: ``GET /v1/models`` and ``POST /v1/chat/completions``, answered whole
or streamed as server-sent events of ``chat.completion.chunk`` objects ending with
``data: [DONE]``. Errors are OpenAI's shape, ``{"error": {"message", "type", "code"}}``.

The server listens on 127.0.0.1 unless told otherwise, and any other address needs a
token (``Authorization: Bearer TOKEN``): a model on the network is a free compute
service for whoever finds it.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from museforge.errors import UserError
from museforge.story.llm import (
    MAX_NEW_TOKENS,
    MAX_PROMPT_CHARS,
    MAX_STOPS,
    MAX_TEMPERATURE,
    Generation,
    LanguageModel,
    Pieces,
)

# A full prompt is MAX_PROMPT_CHARS characters; JSON may spend 6 bytes on one (\uXXXX).
MAX_BODY_BYTES = 1 << 20
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8642


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
        return {name: value for name, value in given.items() if value is not None}


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


def _bearer(token: str) -> Callable[..., None]:
    expected = f"Bearer {token}".encode()

    def check(authorization: Annotated[str | None, Header()] = None) -> None:
        given = (authorization or "").encode()
        if not secrets.compare_digest(given, expected):
            raise HTTPException(
                401,
                "this server needs 'Authorization: Bearer TOKEN' with its token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check


def _step(pieces: Pieces) -> tuple[str | None, str | None]:
    """The next piece and None, or None and the finish reason once the answer has ended."""
    try:
        return next(pieces), None
    except StopIteration as end:
        return None, end.value or "stop"


def make_app(model: LanguageModel, *, token: str | None = None) -> FastAPI:
    """The OpenAI-compatible app over ``model``; with ``token``, every API call needs it."""
    app = FastAPI(
        title="museforge story server",
        summary=f"An OpenAI-compatible chat endpoint for {model.name}.",
        dependencies=[Depends(_bearer(token))] if token else [],
    )
    app.add_middleware(BodyLimit)

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
    def models() -> dict[str, Any]:
        """The one model this server holds."""
        entry = {"id": model.name, "object": "model", "created": 0, "owned_by": "museforge"}
        return {"object": "list", "data": [entry]}

    @app.post("/v1/chat/completions", response_model=None)
    def chat(request: ChatRequest) -> dict[str, Any] | StreamingResponse:
        """The model's answer to the chat, whole or streamed."""
        pieces = model.stream([m.as_dict() for m in request.messages], **request.settings())
        # The first step runs here, so that a prompt the model refuses is a 400, not a
        # stream that breaks after its 200.
        first, reason = _step(pieces)
        head = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "created": int(time.time()),
            "model": model.name,
        }
        if request.stream:
            events = _events(head, first, reason, pieces)
            return StreamingResponse(events, media_type="text/event-stream")
        text = [first or ""]
        while reason is None:
            piece, reason = _step(pieces)
            text.append(piece or "")
        message = {"role": "assistant", "content": "".join(text)}
        choice = {"index": 0, "message": message, "finish_reason": reason}
        return {**head, "object": "chat.completion", "choices": [choice]}

    return app


def _events(
    head: dict[str, Any], first: str | None, reason: str | None, pieces: Pieces
) -> Iterator[str]:
    """Server-sent events of ``chat.completion.chunk`` objects, then ``[DONE]``."""

    def chunk(delta: dict[str, str], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        event = {**head, "object": "chat.completion.chunk", "choices": [choice]}
        return f"data: {json.dumps(event, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": first or ""})
    while reason is None:
        try:
            piece, reason = _step(pieces)
        except UserError as exc:  # too late for a status code: say so in the stream
            error = {"message": exc.message, "type": "server_error", "code": 500}
            yield f"data: {json.dumps({'error': error})}\n\n"
            return
        if piece:
            yield chunk({"content": piece})
    yield chunk({}, reason)
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


def serve(model: LanguageModel, sock: socket.socket, *, token: str | None = None) -> None:
    """Answer requests on ``sock`` until Ctrl-C; uvicorn logs only warnings and errors."""
    import uvicorn

    config = uvicorn.Config(make_app(model, token=token), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
