"""The story part of ``museforge demo``: a short story written by the shipped model from a
premise drawn from the shipped grammar, beside the plan it was written from; both are kept
in the store as a co-written story, part by part."""

from __future__ import annotations

from pathlib import Path

from museforge.core.atomic import atomic_write_text
from museforge.core.gallery import Item, Section
from museforge.core.store import Store
from museforge.errors import UserError
from museforge.story.cowrite import keep_plan
from museforge.story.grammar import load_grammar
from museforge.story.levels import plan_story
from museforge.story.llm import load_language_model
from museforge.story.prose import write_story
from museforge.story.render import plan_markdown, story_markdown

MODEL = "smollm2"
STRUCTURE = "kishotenketsu"  # four scenes: the shortest of the structures
WORDS = 400  # a few minutes to read, ~10 s to write on two cores
DRAFTS = 2  # drafts per scene to rerank: the best of two, at twice the writing time


def demo_section(out_dir: Path, seed: int = 0) -> Section:
    """Write the story into ``out_dir/story`` and describe it for the gallery."""
    try:
        model = load_language_model(MODEL)
    except UserError as err:  # the runtime is compiled by `make story-runtime`
        return Section(
            title="A story",
            intro="The story model's runtime is not installed, so no story was written.",
            items=[Item(kind="text", title="How to add it", text=err.message)],
        )
    premise = load_grammar("premise").expand("#origin#", seed=seed)
    plan = plan_story(model, premise, STRUCTURE, seed=seed)
    write_story(model, plan, WORDS, drafts=DRAFTS)
    folder = Path(out_dir) / "story"
    story_md, plan_md = folder / "story.md", folder / "plan.md"
    atomic_write_text(story_md, story_markdown(plan))
    atomic_write_text(plan_md, plan_markdown(plan))
    with Store() as store:
        story_id = keep_plan(store, plan)
    provenance = {"story": story_id, "model": plan.model, "seed": seed}
    return Section(
        title="A story",
        intro=f"A premise drawn from the shipped grammar, planned level by level ({STRUCTURE}: "
        f"four beats) and written scene by scene by the shipped {MODEL} model "
        f"({plan.word_count()} words). The plan lists every part the model could not fill "
        "and what filled it instead.",
        items=[
            Item(
                kind="text",
                title=plan.title,
                path=story_md,
                text=story_md.read_text(encoding="utf-8"),
                provenance=provenance,
            ),
            Item(
                kind="text",
                title="Its plan",
                path=plan_md,
                text=plan_md.read_text(encoding="utf-8"),
                provenance=provenance,
            ),
        ],
    )
