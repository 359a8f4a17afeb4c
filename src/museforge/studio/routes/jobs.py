"""The queue: every job with live progress (server-sent events), resume and cancel."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from fastapi.responses import StreamingResponse

from museforge.studio.jobs import job_events, job_record

router = APIRouter()

JobId = Path(pattern="^[0-9a-f-]{36}$", description="A job id")


@router.get("/api/jobs", summary="The recent jobs")
def list_jobs(request: Request) -> list[dict]:
    return [job_record(j) for j in request.app.state.store.list_jobs(limit=50)]


@router.get("/api/jobs/{job_id}", summary="One job")
def one_job(request: Request, job_id: str = JobId) -> dict:
    return job_record(request.app.state.store.get_job(job_id))


@router.get("/events/jobs", summary="Live progress of the recent jobs (server-sent events)")
def events(request: Request) -> StreamingResponse:
    return StreamingResponse(
        job_events(request, request.app.state.store),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post("/api/jobs/{job_id}/resume", summary="Resume an interrupted job")
def resume(request: Request, job_id: str = JobId) -> dict:
    return job_record(request.app.state.queue.resume(job_id))


@router.post("/api/jobs/{job_id}/cancel", summary="Cancel a job")
def cancel(request: Request, job_id: str = JobId) -> dict:
    return job_record(request.app.state.queue.cancel(job_id))
