"""The paint page over a real store: a picture painted by the shipped agent as a job, kept
with the picture as its parent and every file as a rendering; the plotter files parse; the
time-lapse's frames are served one by one; reproduce makes the same PNG byte for byte."""

from __future__ import annotations

import io

import vpype
from PIL import Image
from studio_server import csrf_client, wait_for_job

TINY = {"strokes": 10, "size": 32, "out_size": 64, "seed": 3, "paper": "a4", "landscape": "true"}


def test_paint_keep_plotter_files_frames_and_reproduce(studio, tmp_path):
    with csrf_client(studio) as client:
        assert "Paint a picture" in client.get("/paint").text
        job = client.post("/paint/draw", data={"picture": "coffee", "method": "agent", **TINY})
        done = wait_for_job(client, job.json()["job"])
        assert done["state"] == "done", done["message"]
        painting = done["result"]["painting"]
        files = done["result"]["files"]
        assert set(files) == {"png", "gif", "svg", "plot_svg", "plot_hpgl", "plot_gcode"}
        store = studio.store
        assert [e.relation for e in store.parents(painting)] == ["input"]
        rendered = {e.artifact.id for e in store.children(painting)}
        assert rendered == {v for k, v in files.items() if k != "png"}

        for key, suffix in (("plot_svg", ".svg"), ("plot_hpgl", ".hpgl"), ("plot_gcode", ".gcode")):
            answer = client.get(f"/download/{files[key]}")
            assert answer.headers["content-disposition"].endswith(f'{suffix}"')
            (tmp_path / f"plot{suffix}").write_bytes(answer.content)
        lines = vpype.read_svg(str(tmp_path / "plot.svg"), quantization=0.1)[0]
        assert len(lines) > 0
        gcode = (tmp_path / "plot.gcode").read_text().splitlines()
        assert any(line.startswith("G1") for line in gcode)
        hpgl = (tmp_path / "plot.hpgl").read_text()
        assert hpgl.startswith("IN;") and "PD" in hpgl

        page = client.get("/paint/tiles").text
        assert painting in page and "G-code" in page and "Watch the time-lapse" in page
        first = client.get(f"/paint/frames/{files['gif']}/0")
        assert Image.open(io.BytesIO(first.content)).size == (64, 43)  # coffee is 640 x 400
        beyond = client.get(f"/paint/frames/{files['gif']}/9999")
        assert beyond.status_code == 400 and "frames" in beyond.json()["error"]

        check = client.post(f"/artifacts/{painting}/reproduce").json()["job"]
        assert wait_for_job(client, check)["result"]["match"] is True


def test_a_painting_from_an_uploaded_picture_keeps_it_as_parent(studio):
    picture = io.BytesIO()
    Image.new("RGB", (40, 30), (30, 90, 200)).save(picture, format="PNG")
    with csrf_client(studio) as client:
        job = client.post(
            "/paint/draw",
            files={"picture_upload": ("blue.png", picture.getvalue(), "image/png")},
            data={"method": "painterly", **TINY},
        ).json()["job"]
        done = wait_for_job(client, job)
        assert done["state"] == "done", done["message"]
        (parent,) = studio.store.parents(done["result"]["painting"])
        assert parent.relation == "input"
        assert studio.store.path_of(parent.artifact).read_bytes() == picture.getvalue()
