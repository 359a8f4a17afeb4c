"""What stands between the studio and the network: the Host allow-list (against DNS
rebinding), the token (when served beyond loopback), and CSRF protection.

Every request passes through ``guard`` before any route, the OpenAPI pages and the static
files included. A state-changing request (anything but GET, HEAD, OPTIONS) must carry the
``X-CSRF-Token`` header equal to the ``museforge_csrf`` cookie (double submit: another
site can make a browser send the cookie, never read it) and, when the browser names an
Origin, come from an allowed host.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode, urlsplit

from fastapi import Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from museforge.studio.config import StudioConfig

TOKEN_COOKIE = "museforge_token"
CSRF_COOKIE = "museforge_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Next = Callable[[Request], Awaitable[Response]]


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


def make_guard(config: StudioConfig) -> Callable[[Request, Next], Awaitable[Response]]:
    """The middleware function for ``config``."""

    async def guard(request: Request, call_next: Next) -> Response:
        if not host_allowed(request.headers.get("host"), config):
            return refuse(400, f"unknown Host header {request.headers.get('host')!r}: refused")
        set_token_cookie = False
        if config.token is not None:
            given = _given_token(request)
            if given is None or not hmac.compare_digest(given, config.token):
                return refuse(401, "this studio needs its token (MUSEFORGE_TOKEN)")
            if request.query_params.get("token") and request.method == "GET":
                # a link with ?token= sets the cookie once and then leaves the address bar
                query = {k: v for k, v in request.query_params.items() if k != "token"}
                target = request.url.path + (f"?{urlencode(query)}" if query else "")
                response: Response = RedirectResponse(target, status_code=303)
                _set_cookie(response, TOKEN_COOKIE, config.token)
                return response
            set_token_cookie = request.cookies.get(TOKEN_COOKIE) != config.token
        csrf = request.cookies.get(CSRF_COOKIE)
        if request.method not in SAFE_METHODS:
            problem = _csrf_problem(request, csrf, config)
            if problem:
                return refuse(403, problem)
        request.state.csrf = csrf or secrets.token_urlsafe(24)
        response = await call_next(request)
        if csrf != request.state.csrf:
            _set_cookie(response, CSRF_COOKIE, request.state.csrf)
        if set_token_cookie:
            _set_cookie(response, TOKEN_COOKIE, config.token or "")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return guard


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
