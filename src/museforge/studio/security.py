"""What stands between the studio and the network: the Host allow-list (against DNS
rebinding), the token (when served beyond loopback), and CSRF protection.

Every request passes through ``Guard`` before any route, the OpenAPI pages and the static
files included. A state-changing request (anything but GET, HEAD, OPTIONS) must carry the
``X-CSRF-Token`` header equal to the ``museforge_csrf`` cookie (double submit: another
site can make a browser send the cookie, never read it) and, when the browser names an
Origin, come from an allowed host.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlencode, urlsplit

from fastapi import Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from museforge.studio.config import StudioConfig

TOKEN_COOKIE = "museforge_token"
CSRF_COOKIE = "museforge_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def refuse(status: int, message: str) -> JSONResponse:
    """A refusal a person can read: ``{"error": "..."}`` with the status code."""
    return JSONResponse({"error": message}, status_code=status)


def host_allowed(host_header: str | None, config: StudioConfig) -> bool:
    """Whether the Host header names this studio (any port): loopback or an allowed name."""
    if not host_header:
        return False
    name = urlsplit(f"//{host_header}").hostname or ""
    name = f"[{name}]" if ":" in name else name
    return name.lower() in config.allowed_hosts


class Guard:
    """The guard as plain ASGI middleware (no extra task or body copy per request)."""

    def __init__(self, app: ASGIApp, config: StudioConfig) -> None:
        self.app, self.config = app, config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        config = self.config
        if not host_allowed(request.headers.get("host"), config):
            refused = refuse(400, f"unknown Host header {request.headers.get('host')!r}: refused")
            await refused(scope, receive, send)
            return
        set_token_cookie = False
        if config.token is not None:
            given = _given_token(request)
            if given is None or not hmac.compare_digest(given, config.token):
                await refuse(401, "this studio needs its token (MUSEFORGE_TOKEN)")(
                    scope, receive, send
                )
                return
            if request.query_params.get("token") and request.method == "GET":
                # a link with ?token= sets the cookie once and then leaves the address bar
                query = {k: v for k, v in request.query_params.items() if k != "token"}
                target = request.url.path + (f"?{urlencode(query)}" if query else "")
                redirect = RedirectResponse(target, status_code=303)
                _set_cookie(redirect, TOKEN_COOKIE, config.token)
                await redirect(scope, receive, send)
                return
            set_token_cookie = request.cookies.get(TOKEN_COOKIE) != config.token
        csrf = request.cookies.get(CSRF_COOKIE)
        if request.method not in SAFE_METHODS:
            problem = _csrf_problem(request, csrf, config)
            if problem:
                await refuse(403, problem)(scope, receive, send)
                return
        issued = csrf or secrets.token_urlsafe(24)
        request.state.csrf = issued
        extra = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY")]
        extra.append((b"referrer-policy", b"same-origin"))
        if csrf != issued:
            extra.append(_cookie_header(CSRF_COOKIE, issued))
        if set_token_cookie:
            extra.append(_cookie_header(TOKEN_COOKIE, config.token or ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in extra if k == b"set-cookie" or k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _given_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.query_params.get("token") or request.cookies.get(TOKEN_COOKIE)


def _csrf_problem(request: Request, csrf: str | None, config: StudioConfig) -> str | None:
    origin = request.headers.get("origin")
    if origin and origin != "null" and not host_allowed(urlsplit(origin).netloc, config):
        return f"a request from {origin} may not change this studio (CSRF)"
    sent = request.headers.get(CSRF_HEADER)
    if not csrf or not sent or not hmac.compare_digest(csrf, sent):
        return "missing or wrong CSRF token: reload the page and try again"
    return None


def _set_cookie(response: Response, name: str, value: str) -> None:
    response.set_cookie(name, value, httponly=name == TOKEN_COOKIE, samesite="strict", path="/")


def _cookie_header(name: str, value: str) -> tuple[bytes, bytes]:
    """The ``Set-Cookie`` header ``_set_cookie`` would add, as raw ASGI header bytes."""
    response = Response()
    _set_cookie(response, name, value)
    return next((k, v) for k, v in response.raw_headers if k == b"set-cookie")
