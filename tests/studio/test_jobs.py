"""Jobs: live progress by server-sent events that a reload picks up again; a studio killed
mid-job shows the job as interrupted with its finished artifacts intact, and resume
finishes it, byte for byte as if it had never stopped."""

from __future__ import annotations

import json
import time

import httpx
from studio_server import StudioProcess, csrf_client, free_port, wait_for_job

from museforge.core.store import Store


def _events(client: httpx.Client, job_id: str, until) -> list[dict]:
    """The job's records from one event stream, read until ``until(record)`` holds."""
    seen = []
    with client.stream("GET", "/events/jobs") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                mine = [j for j in json.loads(line[6:]) if j["id"] == job_id]
                seen += mine
                if mine and until(mine[0]):
                    break
    return seen


def test_a_reload_shows_the_job_progress_continuing(studio):
    with csrf_client(studio) as client:
        job = client.post("/music/sample", data={"seed": 3, "n": 4}).json()["job"]
        first = _events(client, job, lambda j: j["progress"] > 0.1 and j["state"] == "running")
        # the page reloads: a new stream starts where the job is now, then follows it to the end
        again = _events(client, job, lambda j: j["state"] == "done")
    assert first[-1]["state"] == "running"
    assert again[0]["progress"] >= first[-1]["progress"]
    progress = [j["progress"] for j in again]
    assert progress == sorted(progress) and again[-1]["progress"] == 1.0
    assert len(again[-1]["result"]["items"]) == 4


def test_a_killed_studio_shows_the_job_interrupted_and_resume_finishes_it(tmp_path):
    home, n = tmp_path / "home", 5
    studio = StudioProcess(home, free_port()).start()
    try:
        with httpx.Client(base_url=studio.url, timeout=30) as client:
            client.get("/")
            client.headers["X-CSRF-Token"] = client.cookies["museforge_csrf"]
            job_id = client.post("/music/sample", data={"seed": 5, "n": n}).json()["job"]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                job = client.get(f"/api/jobs/{job_id}").json()
                if len((job["result"] or {}).get("items", [])) >= 1:
                    break
                time.sleep(0.05)
            studio.kill()
        finished = job["result"]["items"]
        assert 1 <= len(finished) < n, "the job ended before the studio could be killed"

        studio.start()
        with httpx.Client(base_url=studio.url, timeout=30) as client:
            client.get("/")
            client.headers["X-CSRF-Token"] = client.cookies["museforge_csrf"]
            job = client.get(f"/api/jobs/{job_id}").json()
            assert job["state"] == "interrupted"
            assert f"{len(job['result']['items'])} done" in job["message"]
            kept = job["result"]["items"]
            assert kept[: len(finished)] == finished
            for artifact_id in kept:  # the finished melodies are whole and served
                midi = client.get(f"/files/{artifact_id}")
                assert midi.status_code == 200 and midi.content.startswith(b"MThd")
            assert "interrupted" in client.get("/").text

            assert client.post(f"/api/jobs/{job_id}/resume").json()["state"] == "queued"
            done = wait_for_job(client, job_id)
            assert done["state"] == "done", done["message"]
            items = done["result"]["items"]
            assert len(items) == n and items[: len(kept)] == kept and len(set(items)) == n
            # the last melody, made after the restart, is the one the recipe makes
            check = client.post(f"/artifacts/{items[-1]}/reproduce").json()["job"]
            assert wait_for_job(client, check)["result"]["match"] is True
    finally:
        studio.stop()
    with Store(f"sqlite:///{home / 'store.db'}", objects_dir=home / "objects") as store:
        assert len(store.list_artifacts(kind="melody", limit=100)) == n
        assert len(store.list_artifacts(kind="audio", limit=100)) == n
