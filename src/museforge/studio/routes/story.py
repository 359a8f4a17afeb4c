"""The story page: start a story from a premise, see its plan tree and text, regenerate a
part into N alternatives side by side with their diversity figures, accept one, undo and
redo; edit a part by hand, rewrite a selection by an instruction, continue the story.

Thin over ``museforge.story``: ``levels.plan_story / prose.write_story / keep_plan`` start a
story, ``cowrite_llm.regenerate / rewrite / continue_story`` write with the model,
``cowrite.accept / edit / undo`` choose; redo reads the choices (``studio.story_history``).
"""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse

from museforge.core.store import Store
from museforge.errors import UserError
from museforge.studio.jobs import JobContext
from museforge.studio.pages import render
from museforge.studio.story_history import redo, walk

router = APIRouter()

STRUCTURES = ("kishotenketsu", "three-acts", "hero")
NODE_PATTERN = r"^(logline|title|characters|beats|scene/[1-9][0-9]{0,2})$"
StoryId = Path(ge=1, le=2**31 - 1, description="A story's number")


@functools.lru_cache(maxsize=1)
def _language_model(name: str) -> Any:
    from museforge.story.llm import load_language_model

    return load_language_model(name)


def new_story(context: JobContext) -> dict[str, Any]:
    from museforge.story.cowrite import keep_plan
    from museforge.story.levels import plan_story
    from museforge.story.prose import write_story

    p = context.params
    model = _language_model(p["model"])
    steps = iter(range(1, 100))

    def say(message: str) -> None:
        context.report(min(0.95, next(steps) / 12), message)

    plan = plan_story(
        model,
        p["premise"],
        p["structure"],
        seed=p["seed"],
        n_characters=p["characters"],
        on_progress=say,
    )
    if p["prose"]:  # else each scene starts as its place, and the person asks for prose
        write_story(model, plan, p["words"], on_progress=say)
    return {"story": keep_plan(context.store, plan)}


def regenerate(context: JobContext) -> dict[str, Any]:
    from museforge.story.cowrite_llm import regenerate as write_alternatives

    p = context.params
    context.report(0.1, f"writing {p['n']} alternatives for {p['node']}")
    versions = write_alternatives(
        context.store,
        _language_model(p["model"]),
        p["story"],
        p["node"],
        p["n"],
        p["seed"],
        max_tokens=p["max_tokens"],
    )
    context.report(0.9, "measuring how different they are")
    return {
        "story": p["story"],
        "node": p["node"],
        "versions": [v.number for v in versions],
        "figures": diversity([v.text for v in versions]),
    }


def diversity(texts: list[str]) -> dict[str, Any]:
    """Distinct-2 and Self-BLEU against the others for each text; Vendi for the set."""
    from museforge.core.creativity import bleu, distinct_n, tokens
    from museforge.errors import UserError
    from museforge.story.metrics import alternatives_report

    each = []
    for i, text in enumerate(texts):
        others = [tokens(t) for j, t in enumerate(texts) if j != i]
        figures = {"distinct_2": round(distinct_n([text], 2), 3)}
        if others:
            figures["self_bleu"] = round(bleu(tokens(text), others), 3)
        each.append(figures)
    whole: dict[str, Any] = {}
    if len(texts) > 1:
        try:
            report = alternatives_report(texts)
            whole = {k: report[k] for k in ("vendi", "vendi_features", "distinct_2", "self_bleu")}
        except UserError as exc:
            whole = {"problem": exc.message}
    return {"each": each, "set": whole}


def continue_job(context: JobContext) -> dict[str, Any]:
    from museforge.story.cowrite_llm import continue_story

    p = context.params
    context.report(0.1, f"writing about {p['words']} more words")
    version = continue_story(
        context.store,
        _language_model(p["model"]),
        p["story"],
        p["words"],
        p["seed"],
        new_scene=p["new_scene"],
        tries=1,
    )
    return {"story": p["story"], "node": version.node, "version": version.number}


def rewrite_job(context: JobContext) -> dict[str, Any]:
    from museforge.story.cowrite_llm import rewrite

    p = context.params
    context.report(0.1, f"rewriting {p['end'] - p['start']} characters: {p['instruction']}")
    version = rewrite(
        context.store,
        _language_model(p["model"]),
        p["story"],
        p["node"],
        p["start"],
        p["end"],
        p["instruction"],
        p["seed"],
        max_tokens=p["max_tokens"],
        tries=1,
    )
    return {"story": p["story"], "node": p["node"], "version": version.number}


def register(app) -> None:
    app.state.queue.register("story-new", new_story)
    app.state.queue.register("story-regenerate", regenerate)
    app.state.queue.register("story-continue", continue_job)
    app.state.queue.register("story-rewrite", rewrite_job)


@router.get("/story", response_class=HTMLResponse, summary="Stories: start one, open one")
def stories_page(request: Request) -> HTMLResponse:
    from museforge.story.cowrite import list_stories

    stories = list_stories(request.app.state.store)
    return render(request, "stories.html", stories=stories, structures=STRUCTURES)


@router.get("/story/{story_id}", response_class=HTMLResponse, summary="One story")
def story_page(
    request: Request,
    story_id: int = StoryId,
    node: str | None = Query(None, pattern=NODE_PATTERN),
) -> HTMLResponse:
    from museforge.story import cowrite

    store: Store = request.app.state.store
    names = cowrite.nodes(store, story_id)
    texts = {name: _current(store, story_id, name) for name in names}
    node = node or next((n for n in names if n.startswith("scene/")), names[0])
    history = cowrite.history(store, story_id, node) if node in names else []
    choices, redo_stack = walk(store, story_id, node) if node in names else ([], [])
    return render(
        request,
        "story.html",
        story_id=story_id,
        names=names,
        texts=texts,
        node=node,
        history=history,
        choices=choices,
        redo_to=redo_stack[-1] if redo_stack else None,
        alternatives=_alternatives(store, story_id, node, history),
    )


def _current(store: Store, story_id: int, node: str) -> str:
    from museforge.errors import UserError
    from museforge.story import cowrite

    try:
        return cowrite.current_text(store, story_id, node)
    except UserError:
        return ""


def _alternatives(store: Store, story_id: int, node: str, history: list) -> dict | None:
    """The latest alternatives written for this node, with their figures."""
    for job in store.list_jobs(limit=200):
        p = job.params
        if job.kind == "story-regenerate" and p.get("story") == story_id and p.get("node") == node:
            if job.state != "done":
                return None
            numbers = job.result.get("versions", [])
            by_number = {v.number: v for v in history}
            versions = [by_number[n] for n in numbers if n in by_number]
            return {"versions": versions, "figures": job.result.get("figures", {})}
    return None


@router.post("/story/new", summary="Start a story from a premise (plan, then prose)")
def start(
    request: Request,
    premise: str = Form(min_length=1, max_length=2000),
    structure: str = Form(STRUCTURES[0], pattern="^(" + "|".join(STRUCTURES) + ")$"),
    seed: int = Form(0, ge=0, le=2**31 - 1),
    words: int = Form(120, ge=50, le=5000),
    characters: int = Form(3, ge=1, le=6),
    prose: bool = Form(False, description="Write the prose now (else only the plan)"),
) -> dict:
    from museforge.story.plan import check_premise

    params = {"premise": check_premise(premise), "structure": structure, "seed": seed}
    params |= {"words": words, "characters": characters, "prose": prose, "model": "smollm2"}
    job = request.app.state.queue.submit("story-new", params, f"story: {premise[:40]}")
    return {"job": job.id}


@router.post("/story/{story_id}/regenerate", summary="N alternatives for one part")
def regenerate_route(
    request: Request,
    story_id: int = StoryId,
    node: str = Form(pattern=NODE_PATTERN),
    n: int = Form(3, ge=1, le=8),
    seed: int = Form(1, ge=0, le=2**31 - 1),
    max_tokens: int = Form(120, ge=16, le=600),
) -> dict:
    from museforge.story import cowrite

    cowrite.nodes(request.app.state.store, story_id)
    params = {"story": story_id, "node": node, "n": n, "seed": seed, "max_tokens": max_tokens}
    params["model"] = "smollm2"
    label = f"story {story_id}: {n} alternatives for {node}"
    job = request.app.state.queue.submit("story-regenerate", params, label)
    return {"job": job.id}


@router.post("/story/{story_id}/accept", summary="Make one version current")
def accept(
    request: Request,
    story_id: int = StoryId,
    node: str = Form(pattern=NODE_PATTERN),
    version: int = Form(ge=1, le=1_000_000),
) -> dict:
    from museforge.story import cowrite

    chosen = cowrite.accept(request.app.state.store, story_id, node, version)
    return {"node": node, "current": chosen.number}


@router.post("/story/{story_id}/undo", summary="Undo the last choice on a part")
def undo(request: Request, story_id: int = StoryId, node: str = Form(pattern=NODE_PATTERN)) -> dict:
    from museforge.story import cowrite

    back = cowrite.undo(request.app.state.store, story_id, node)
    return {"node": node, "current": back.number}


@router.post("/story/{story_id}/edit", summary="Your own text for a part, as a new version")
def edit_route(
    request: Request,
    story_id: int = StoryId,
    node: str = Form(pattern=NODE_PATTERN),
    text: str = Form(min_length=1, max_length=20_000),
) -> dict:
    from museforge.story import cowrite

    version = cowrite.edit(request.app.state.store, story_id, node, text)
    return {"node": node, "current": version.number}


@router.post("/story/{story_id}/continue", summary="More prose at the end of the story (a job)")
def continue_route(
    request: Request,
    story_id: int = StoryId,
    words: int = Form(60, ge=10, le=1000),
    seed: int = Form(0, ge=0, le=2**31 - 1),
    new_scene: bool = Form(False, description="Write it as a new scene"),
) -> dict:
    from museforge.story import cowrite

    cowrite.nodes(request.app.state.store, story_id)
    params = {"story": story_id, "words": words, "seed": seed, "new_scene": new_scene}
    params["model"] = "smollm2"
    label = f"story {story_id}: about {words} more words"
    return {"job": request.app.state.queue.submit("story-continue", params, label).id}


@router.post("/story/{story_id}/rewrite", summary="Rewrite a selection by an instruction (a job)")
def rewrite_route(
    request: Request,
    story_id: int = StoryId,
    node: str = Form(pattern=NODE_PATTERN),
    start: int = Form(ge=0, le=1_000_000),
    end: int = Form(ge=1, le=1_000_000),
    instruction: str = Form(min_length=1, max_length=500),
    seed: int = Form(0, ge=0, le=2**31 - 1),
    max_tokens: int = Form(80, ge=8, le=600),
) -> dict:
    from museforge.story import cowrite
    from museforge.story.cowrite_llm import check_instruction

    text = cowrite.current_text(request.app.state.store, story_id, node)
    if not 0 <= start < end <= len(text):
        raise UserError(f"select some of {node}'s text first ({start}:{end} of {len(text)})")
    params = {"story": story_id, "node": node, "start": start, "end": end, "seed": seed}
    params |= {"instruction": check_instruction(instruction), "max_tokens": max_tokens}
    params["model"] = "smollm2"
    label = f"story {story_id}: rewrite {node} ({instruction[:30]})"
    return {"job": request.app.state.queue.submit("story-rewrite", params, label).id}


@router.post("/story/{story_id}/redo", summary="Redo the last choice undone on a part")
def redo_route(
    request: Request, story_id: int = StoryId, node: str = Form(pattern=NODE_PATTERN)
) -> dict:
    return {"node": node, "current": redo(request.app.state.store, story_id, node)}
