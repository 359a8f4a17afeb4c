"""The pages over a real store: home shows recent work of every medium and the queue; an
artifact's page its recipe and lineage; a downloaded PNG carries the recipe; GAN faces
come back byte for byte; discard hides and undo brings back; the OpenAPI document."""

from __future__ import annotations

import io
import json
import zipfile

from PIL import Image
from studio_server import Studio, csrf_client, free_port, serve, wait_for_job

from museforge.core.store import Store
from museforge.studio import StudioConfig
from museforge.studio.recipes import read_recipe_chunk


def test_home_artifact_download_and_discard(studio):
    with csrf_client(studio) as client:
        job = client.post("/music/sample", data={"seed": 11, "n": 2}).json()["job"]
        done = wait_for_job(client, job)
        first, second = done["result"]["items"]
        home = client.get("/").text
        assert first in home and second in home and "2 melodies, seed 11" in home

        page = client.get(f"/artifacts/{first[:10]}").text
        assert (
            "melody-2bar" in page and "temperature" in page and done["result"]["batch"][:12] in page
        )
        roll = next(e.artifact for e in studio.store.children(first) if e.artifact.suffix == ".png")
        png = client.get(f"/download/{roll.id}")
        assert png.headers["content-disposition"].startswith("attachment")
        recipe = read_recipe_chunk(png.content)
        assert recipe["verb"] == "sample" and recipe["seed"] == 11 and recipe["index"] == 1
        assert Image.open(io.BytesIO(png.content)).text["museforge"]
        assert client.get(f"/files/{roll.id}").content == studio.store.path_of(roll).read_bytes()

        exported = zipfile.ZipFile(io.BytesIO(client.get(f"/export/{roll.id}").content))
        provenance = json.loads(exported.read("provenance.json"))
        assert [a["id"] for a in provenance["artifacts"]] == [roll.id, first]
        assert f"{first}.mid" in exported.namelist()

        client.post(f"/artifacts/{first}/mark", data={"mark": "discard", "on": "true"})
        assert first not in client.get("/music/tiles").text
        assert first in client.get("/gallery?kind=melody").text  # hidden, never deleted
        client.post(f"/artifacts/{first}/mark", data={"mark": "discard", "on": "false"})
        assert first in client.get("/music/tiles").text


def test_gan_faces_with_truncation_reproduce(studio):
    with csrf_client(studio) as client:
        job = client.post("/image/gan", data={"seed": 4, "n": 2, "truncation": 0.5}).json()["job"]
        done = wait_for_job(client, job)
        assert done["state"] == "done", done["message"]
        face = done["result"]["items"][1]
        assert Image.open(studio.store.path_of(studio.store.get(face))).size == (32, 32)
        check = client.post(f"/artifacts/{face}/reproduce").json()["job"]
        assert wait_for_job(client, check)["result"]["match"] is True
        assert "Reproduced: the bytes match exactly" in client.get(f"/artifacts/{face}").text


def test_openapi_describes_every_page(studio):
    with studio.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
        assert {"/music/sample", "/image/stylize", "/story/new", "/events/jobs"} <= set(paths)
        assert "swagger" in client.get("/docs").text.lower()


def test_continue_a_melody_two_ways(studio):
    with csrf_client(studio) as client:
        (melody,) = wait_for_job(
            client, client.post("/music/sample", data={"seed": 2, "n": 1}).json()["job"]
        )["result"]["items"]
        job = client.post("/music/continue", data={"parent": melody, "bars": 2, "n": 2}).json()
        done = wait_for_job(client, job["job"])
        assert done["state"] == "done", done["message"]
        for child in done["result"]["items"]:
            assert [(e.artifact.id, e.relation) for e in studio.store.parents(child)] == [
                (melody, "continuation-of")
            ]
        check = client.post(f"/artifacts/{done['result']['items'][1]}/reproduce").json()["job"]
        assert wait_for_job(client, check)["result"]["match"] is True


def test_a_queued_job_can_be_cancelled_and_resumed(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path / "home"))
    config = StudioConfig(port=free_port(), worker=False)  # nothing runs: the job stays queued
    with (
        Store() as store,
        serve(config, store) as url,
        csrf_client(Studio(url, store, tmp_path / "home")) as client,
    ):
        job = client.post("/music/sample", data={"seed": 1, "n": 1}).json()["job"]
        assert client.post(f"/api/jobs/{job}/cancel").json()["state"] == "cancelled"
        again = client.post(f"/api/jobs/{job}/cancel")
        assert again.status_code == 400 and "nothing to cancel" in again.json()["error"]
        assert client.post(f"/api/jobs/{job}/resume").json()["state"] == "queued"
