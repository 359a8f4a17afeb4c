"""Training from the studio as a job: a studio killed mid-run shows the job interrupted,
and resume carries the run on from its last checkpoint to the end, its loss curve one
point per step with none repeated or missing; the network is kept trained-from the
uploaded picture."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator

import httpx
from PIL import Image
from studio_server import StudioProcess, free_port, wait_for_job

from museforge.core.store import Store

STEPS = 6


def _picture() -> bytes:
    buffer = io.BytesIO()
    Image.radial_gradient("L").convert("RGB").resize((64, 64)).save(buffer, format="PNG")
    return buffer.getvalue()


@contextlib.contextmanager
def _client(studio: StudioProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=studio.url, timeout=30) as client:
        client.get("/")
        client.headers["X-CSRF-Token"] = client.cookies["museforge_csrf"]
        yield client


def test_a_training_killed_mid_run_resumes_from_its_checkpoint(tmp_path):
    home = tmp_path / "home"
    studio = StudioProcess(home, free_port()).start()
    try:
        with _client(studio) as client:
            job_id = client.post(
                "/train/style",
                files={"style": ("rings.png", _picture(), "image/png")},
                data={"steps": STEPS, "batch_size": 1, "crop": 32, "style_size": 32, "width": 4},
            ).json()["job"]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # past the first checkpoint (every step)
                job = client.get(f"/api/jobs/{job_id}").json()
                if len((job["result"] or {}).get("curve", [])) >= 2:
                    break
                time.sleep(0.05)
            studio.kill()
        assert job["state"] == "running" and len(job["result"]["curve"]) < STEPS

        studio.start()
        with _client(studio) as client:
            assert client.get(f"/api/jobs/{job_id}").json()["state"] == "interrupted"
            assert "interrupted" in client.get("/train").text
            client.post(f"/api/jobs/{job_id}/resume")
            done = wait_for_job(client, job_id)
            assert done["state"] == "done", done["message"]
            steps = [step for step, _ in done["result"]["curve"]]
            assert steps == list(range(1, STEPS + 1))
            assert done["result"]["steps"] == STEPS
    finally:
        studio.stop()
    with Store(f"sqlite:///{home / 'store.db'}", objects_dir=home / "objects") as store:
        (model,) = store.list_artifacts(kind="model")
        (parent,) = store.parents(model.id)
        assert parent.relation == "trained-from" and parent.artifact.note.startswith("uploaded")
