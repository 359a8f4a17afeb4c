"""Long work as jobs: a queue kept in the store's Job table, one worker thread, live progress.

A job's record is its whole truth: its parameters, its state, its progress and the items
it has finished so far (``result["items"]``, written as each one is kept). So a page that
reloads reads the same progress, and a job that was running when the studio stopped is
found at the next start, marked ``interrupted`` with what it had finished; resuming queues
it again and its handler carries on after the last finished item.

Progress reaches the page by server-sent events (``job_events``): the stream reads the
Job table, so it shows the same thing whichever process or page asks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import traceback
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from museforge.core.store import Job, Store
from museforge.errors import UserError

log = logging.getLogger("museforge.studio")

POLL_S = 0.3  # how often the event stream reads the Job table
STREAM_S = 25.0  # a stream ends after this and the browser reconnects (no stuck shutdowns)
QUEUE_SHOWN = 12  # jobs on the queue panel


class Cancelled(Exception):
    """Raised inside a handler at its next checkpoint after the person cancelled the job."""


@dataclass
class JobContext:
    """What a handler gets: its parameters, the items done before, and ways to report."""

    store: Store
    job_id: str
    params: dict[str, Any]
    items: list[Any]
    _queue: JobQueue

    def report(self, fraction: float, message: str) -> None:
        """Move the progress bar; ``fraction`` runs from 0 to 1."""
        self._check_cancelled()
        self.store.update_job(self.job_id, progress=min(max(fraction, 0.0), 1.0), message=message)

    def checkpoint(self, item: Any, fraction: float, message: str) -> None:
        """Record one finished item: after a restart the handler starts after it."""
        self.items.append(item)
        self.store.update_job(
            self.job_id,
            progress=min(max(fraction, 0.0), 1.0),
            message=message,
            result={"items": self.items},
        )
        self._check_cancelled()

    def _check_cancelled(self) -> None:
        if self.job_id in self._queue.cancel_requested:
            raise Cancelled


Handler = Callable[[JobContext], dict[str, Any] | None]


def job_threads() -> int:
    """Threads the models may use: every core but one, which stays with the pages.

    Measured on a busy 2-core machine, fine-tuning the melody model ran a step in 0.7 s on
    one thread and in 8 to 14 s on two, each thread waiting on the other and on the pages.
    """
    return max(1, (os.cpu_count() or 2) - 1)


class JobQueue:
    """Queued jobs run one at a time in a worker thread, on ``threads`` threads of torch."""

    def __init__(self, store: Store, threads: int | None = None) -> None:
        self.store = store
        self.threads = threads or job_threads()
        self.handlers: dict[str, Handler] = {}
        self.cancel_requested: set[str] = set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def submit(self, kind: str, params: dict[str, Any], label: str) -> Job:
        """Queue a job of a registered ``kind``; ``label`` is what the queue panel shows."""
        if kind not in self.handlers:
            raise UserError(f"no such kind of job: {kind!r}")
        job = self.store.create_job(kind, {**params, "label": label})
        self._wake.set()
        return job

    def recover(self) -> list[str]:
        """Mark the jobs a stopped studio left running as interrupted; returns their ids."""
        found = []
        for job in self.store.list_jobs(state="running", limit=1000):
            done = len((job.result or {}).get("items", []))
            self.store.update_job(
                job.id,
                state="interrupted",
                message=f"interrupted when the studio stopped, {done} done; resume to finish",
            )
            found.append(job.id)
        return found

    def resume(self, job_id: str) -> Job:
        job = self.store.get_job(job_id)
        if job.state not in ("interrupted", "failed", "cancelled"):
            raise UserError(f"job {job_id} is {job.state}; only a stopped job can resume")
        self.cancel_requested.discard(job_id)
        job = self.store.update_job(job_id, state="queued", message="resumed; waiting")
        self._wake.set()
        return job

    def cancel(self, job_id: str) -> Job:
        job = self.store.get_job(job_id)
        if job.state == "queued":
            return self.store.update_job(job_id, state="cancelled", message="cancelled")
        if job.state == "running":
            self.cancel_requested.add(job_id)
            return self.store.update_job(job_id, message="cancelling at the next step")
        raise UserError(f"job {job_id} is {job.state}; there is nothing to cancel")

    def start(self) -> None:
        self.recover()
        self._thread = threading.Thread(target=self._work, name="museforge-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_next(self) -> bool:
        """Run the oldest queued job, if there is one; returns whether one ran."""
        queued = self.store.list_jobs(state="queued", limit=1000)
        if not queued:
            return False
        self._run(queued[-1])
        return True

    def _work(self) -> None:
        import torch

        before = torch.get_num_threads()  # torch's setting is the process's: put it back after
        torch.set_num_threads(self.threads)
        try:
            while not self._stop.is_set():
                try:
                    ran = self.run_next()
                except Exception:  # the store itself failed: say so, keep the worker alive
                    log.exception("the job worker could not read the queue")
                    ran = False
                if not ran:
                    self._wake.wait(1.0)
                    self._wake.clear()
        finally:
            torch.set_num_threads(before)

    def _run(self, job: Job) -> None:
        items = list((job.result or {}).get("items", []))
        self.store.update_job(job.id, state="running", message="starting")
        context = JobContext(self.store, job.id, job.params, items, self)
        try:
            summary = self.handlers[job.kind](context) or {}
        except Cancelled:
            self.store.update_job(job.id, state="cancelled", message="cancelled")
        except UserError as exc:
            self.store.update_job(job.id, state="failed", message=exc.message)
        except Exception as exc:
            log.error("job %s failed:\n%s", job.id, traceback.format_exc())
            self.store.update_job(job.id, state="failed", message=f"{type(exc).__name__}: {exc}")
        else:
            result = {"items": context.items, **summary}
            self.store.update_job(job.id, state="done", progress=1.0, message="done", result=result)
        finally:
            self.cancel_requested.discard(job.id)


def job_record(job: Job) -> dict[str, Any]:
    """A job as the pages and the event stream show it."""
    return {
        "id": job.id,
        "kind": job.kind,
        "label": job.params.get("label", job.kind),
        "state": job.state,
        "progress": round(job.progress, 4),
        "message": job.message,
        "result": job.result,
        "created": job.created.isoformat(),
        "updated": job.updated.isoformat(),
    }


async def job_events(request: Request, store: Store) -> AsyncIterator[str]:
    """Server-sent events: the recent jobs as JSON whenever any of them changes."""
    yield "retry: 500\n\n"
    last = None
    waited = 0.0
    while waited < STREAM_S and not await request.is_disconnected():
        jobs = await asyncio.to_thread(store.list_jobs, None, QUEUE_SHOWN)
        data = json.dumps([job_record(j) for j in jobs])
        if data != last:
            last = data
            yield f"event: jobs\ndata: {data}\n\n"
        await asyncio.sleep(POLL_S)
        waited += POLL_S
