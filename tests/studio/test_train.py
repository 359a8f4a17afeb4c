"""Training from the studio as a job: a studio killed mid-run shows the job interrupted,
and resume carries the run on from its last checkpoint to the end, its loss curve one
point per step with none repeated or missing; the network is kept trained-from the
uploaded picture. Fine-tuning the melody model on uploaded MIDI tunes keeps the model
trained-from them and melody-2bar, with four melodies sampled from it."""

from __future__ import annotations

import contextlib
import io
import random
import time
from collections.abc import Iterator

import httpx
from PIL import Image
from studio_server import StudioProcess, csrf_client, free_port, wait_for_job

from museforge.core.store import Store

STEPS = 30  # enough that the kill lands mid-run on an idle machine too


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
                data={"steps": STEPS, "batch_size": 1, "crop": 128, "style_size": 64, "width": 8},
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


def _tune(seed: int) -> bytes:
    """Eight bars of a 4/4 tune in quarter and half notes, as a person's MIDI file."""
    import mido

    rng = random.Random(seed)
    track = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=4, denominator=4)])
    for _ in range(24):
        note, beats = rng.choice([60, 62, 64, 65, 67, 69, 71, 72]), rng.choice([1, 1, 2])
        track.append(mido.Message("note_on", note=note, velocity=80, time=0))
        track.append(mido.Message("note_off", note=note, velocity=0, time=480 * beats))
    midi = mido.MidiFile(ticks_per_beat=480)
    midi.tracks.append(track)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def test_fine_tune_the_melody_model_on_uploaded_tunes(studio):
    tunes = [("tunes", (f"tune-{i}.mid", _tune(i), "audio/midi")) for i in range(3)]
    with csrf_client(studio) as client:
        refused = client.post(
            "/train/melody", files=[("tunes", ("tune.mid", _picture(), "audio/midi"))]
        )
        assert refused.status_code == 400 and "not a MIDI file" in refused.json()["error"]
        job = client.post("/train/melody", files=tunes, data={"steps": 4, "batch_size": 4})
        done = wait_for_job(client, job.json()["job"])
        assert done["state"] == "done", done["message"]
        assert [step for step, _ in done["result"]["curve"]] == [1, 2, 3, 4]
        assert "fine-tune melody-2bar on 3 tunes" in client.get("/train").text
    store = studio.store
    model = store.get(done["result"]["model"])
    parents = {e.artifact.kind for e in store.parents(model.id) if e.relation == "trained-from"}
    assert parents == {"dataset", "model"}  # the tunes' cache and melody-2bar
    for melody in done["result"]["melodies"]:
        assert [(e.artifact.id, e.relation) for e in store.parents(melody)] == [
            (model.id, "generated-by")
        ]
        assert store.path_of(store.get(melody)).read_bytes().startswith(b"MThd")
