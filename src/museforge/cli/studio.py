"""``museforge studio``: the local web page where a person and the machine make things."""

from __future__ import annotations

from typing import Annotated

import typer


def studio(
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on. Beyond 127.0.0.1 the studio needs $MUSEFORGE_TOKEN, "
            "and every request must then carry it."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the studio in the web browser.")
    ] = False,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            help="Another name this studio may be reached by (checked against the Host "
            "header against DNS rebinding); repeat for several."
        ),
    ] = None,
) -> None:
    """Serve the studio: sample, vary, breed and choose melodies, images and stories in a
    browser, with every choice kept in the store. Ctrl-C stops it."""
    import uvicorn

    from museforge.studio import create_app
    from museforge.studio.config import config_for

    config = config_for(host, port, tuple(allow_host or ()))
    app = create_app(config)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    address = f"http://{shown}:{port}/"
    print(
        f"museforge studio: {address}" + (" (token required)" if config.token else ""), flush=True
    )
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, [address]).start()
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2)
