"""The studio's guard against the network, on real servers on loopback: the token beyond
loopback on every route, the Host allow-list, CSRF, and uploads refused with nothing kept."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import httpx
import pytest
from studio_server import StudioProcess, csrf_client, free_port, serve

from museforge.cli import run
from museforge.core.store import Store
from museforge.studio import StudioConfig, create_app

TOKEN = "a-long-secret-for-the-tests-0123"


def _png_header_only(width: int, height: int) -> bytes:
    """A whole, valid 1-bit PNG of ``width`` x ``height`` (all black), made row by row."""
    row = b"\0" + b"\0" * ((width + 7) // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def _midi_bytes() -> bytes:
    track = b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 96) + b"MTrk" + struct.pack(">I", 4) + track


def _small_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def _paths(app) -> list[str]:
    """Every GET route of the OpenAPI document, with example path parameters, the OpenAPI
    pages themselves and the static files."""
    examples = {"artifact_id": "ab" * 32, "job_id": "0" * 8 + "-0000-0000-0000-" + "0" * 12}
    examples["story_id"] = "1"
    paths = ["/docs", "/redoc", "/openapi.json", "/static/studio.css", "/static/common.js"]
    for path, methods in app.openapi()["paths"].items():
        if "get" in methods:
            for name, value in examples.items():
                path = path.replace("{" + name + "}", value)
            paths.append(path)
    return paths


def test_beyond_loopback_refuses_to_start_without_a_token(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MUSEFORGE_TOKEN", raising=False)
    assert run(["studio", "--host", "0.0.0.0", "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "MUSEFORGE_TOKEN" in err
    monkeypatch.setenv("MUSEFORGE_TOKEN", "short")
    assert run(["studio", "--host", "0.0.0.0", "--port", str(free_port())]) == 2
    assert "too short" in capsys.readouterr().err


def test_every_route_needs_the_token_when_served_beyond_loopback(tmp_path):
    studio = StudioProcess(
        tmp_path / "home", free_port(), "--host", "0.0.0.0", env={"MUSEFORGE_TOKEN": TOKEN}
    )
    studio.start(headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with Store(f"sqlite:///{tmp_path / 'paths.db'}", objects_dir=tmp_path / "o") as store:
            paths = _paths(create_app(StudioConfig(), store))
        assert {"/docs", "/openapi.json", "/", "/music", "/events/jobs"} <= set(paths)
        with httpx.Client(base_url=studio.url, timeout=10) as client:
            for path in paths:
                refused = client.get(path)
                assert refused.status_code == 401, path
                assert "token" in refused.json()["error"]
            wrong = client.get("/", headers={"Authorization": "Bearer not-the-token-at-all"})
            assert wrong.status_code == 401
            assert client.post("/music/sample", data={"seed": 1}).status_code == 401
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            for path in ("/", "/docs", "/openapi.json", "/music", "/static/studio.css"):
                assert client.get(path, headers=bearer).status_code == 200, path
            # a link with ?token= sets the cookie once; then the page works without it
            first = client.get(f"/music?token={TOKEN}")
            assert first.status_code == 303 and first.headers["location"] == "/music"
            assert client.get("/music").status_code == 200
    finally:
        studio.stop()


def test_a_foreign_host_header_is_refused(studio):
    with studio.client() as client:
        for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example"):
            refused = client.get("/", headers={"Host": host})
            assert refused.status_code == 400
            assert "unknown Host header" in refused.json()["error"]
        assert client.get("/", headers={"Host": "localhost:1234"}).status_code == 200


def test_changes_need_the_csrf_token_and_a_same_origin(studio):
    with studio.client() as client:
        client.get("/")
        refused = client.post("/music/sample", data={"seed": 1})
        assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
        token = client.cookies["museforge_csrf"]
        headers = {"X-CSRF-Token": token, "Origin": "http://evil.example"}
        cross = client.post("/artifacts/" + "ab" * 32 + "/rate", data={"score": 3}, headers=headers)
        assert cross.status_code == 403 and "evil.example" in cross.json()["error"]
        wrong = client.post("/music/sample", headers={"X-CSRF-Token": token + "x"})
        assert wrong.status_code == 403
    assert studio.store.list_jobs() == []


def _stored(store: Store, home: Path) -> tuple[int, list[Path]]:
    return (
        len(store.list_artifacts(limit=1000)),
        sorted(p for p in (home / "objects").rglob("*") if p.is_file()),
    )


UPLOADS = [  # every route that takes a file: (route, field, the rest of its form)
    ("/image/stylize", "style", {"content": "chelsea", "steps": 1}),
    ("/paint/draw", "picture_upload", {"strokes": 1}),
    ("/train/style", "style", {"steps": 1}),
]


@pytest.mark.parametrize(
    ("name", "data", "status", "says"),
    [
        ("huge.png", _png_header_only(30000, 30000), 400, "30000 x 30000 pixels"),
        ("../../x", _small_png(), 400, "refused file name"),
        ("tune.png", _midi_bytes(), 400, "not a PNG or JPEG"),
        ("photo.jpg", _small_png(), 400, "content is PNG but the name ends otherwise"),
    ],
    ids=["30000x30000-png", "name-with-dots-and-slashes", "midi-named-png", "png-named-jpg"],
)
def test_bad_uploads_are_refused_clearly_and_nothing_is_stored(studio, name, data, status, says):
    with csrf_client(studio) as client:
        before = _stored(studio.store, studio.home)
        for route, field, form in UPLOADS:
            answer = client.post(route, files={field: (name, data, "image/png")}, data=form)
            assert answer.status_code == status, route
            assert says in answer.json()["error"], route
        assert _stored(studio.store, studio.home) == before
        assert studio.store.list_jobs() == []


def test_an_upload_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path / "home"))
    config = StudioConfig(port=free_port(), max_upload_bytes=64 * 1024)
    with Store() as store, serve(config, store) as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            client.get("/")
            client.headers["X-CSRF-Token"] = client.cookies["museforge_csrf"]
            big = b"\x89PNG\r\n\x1a\n" + b"\0" * (65 * 1024)
            answer = client.post("/image/stylize", files={"style": ("big.png", big)})
            assert answer.status_code == 413 and "upload limit" in answer.json()["error"]
        assert store.list_artifacts() == []


def test_no_path_reaches_outside_the_objects(studio):
    with studio.client() as client:
        for path in (
            "/files/..%2F..%2Fstore.db",
            "/files/../../store.db",
            "/static/..%2F..%2F..%2Fcore%2Fstore.py",
            "/download/" + "0" * 64,
        ):
            answer = client.get(path)
            assert answer.status_code in (404, 422), path
            assert b"SQLite" not in answer.content and b"import" not in answer.content
