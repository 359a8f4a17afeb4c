"""The studio's FastAPI application: security first, then the pages of each medium.

``create_app`` wires a store, the job queue and the routes together. Every request passes
the guard in ``security.py`` (Host allow-list, token when served beyond loopback, CSRF on
changes) before it reaches a route, the static files or the OpenAPI pages at ``/docs``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from museforge.core.store import Store
from museforge.errors import NotFoundInStore, UserError
from museforge.studio.config import StudioConfig
from museforge.studio.jobs import JobQueue
from museforge.studio.page_cache import PageCache
from museforge.studio.pages import templates
from museforge.studio.routes import (
    artifacts,
    compare,
    home,
    image,
    jobs,
    music,
    paint,
    story,
    train,
)
from museforge.studio.security import Guard
from museforge.studio.uploads import UploadRefused

HERE = Path(__file__).parent


def create_app(config: StudioConfig | None = None, store: Store | None = None) -> FastAPI:
    """The studio for ``config`` over ``store`` (default: the store in MUSEFORGE_HOME)."""
    config = config or StudioConfig()
    store = store or Store()
    queue = JobQueue(store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if config.worker:
            queue.start()
        else:
            queue.recover()
        try:
            yield
        finally:
            queue.stop()
            app.state.pages.close()

    app = FastAPI(
        title="museforge studio",
        description="Make melodies, images and stories with the machine; keep every choice.",
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.store = store
    app.state.queue = queue
    app.state.reproducers = {}
    app.state.pages = PageCache(store)
    app.add_middleware(Guard, config=config)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (home, artifacts, compare, jobs, music, image, story, paint, train):
        app.include_router(module.router)
        if hasattr(module, "register"):
            module.register(app)

    @app.exception_handler(UserError)
    async def user_error(_request: Request, exc: UserError) -> JSONResponse:
        status = 404 if isinstance(exc, NotFoundInStore) else 400
        if isinstance(exc, UploadRefused):
            status = exc.status
        return JSONResponse({"error": exc.message}, status_code=status)

    templates.env.globals["app_title"] = "museforge studio"
    return app
