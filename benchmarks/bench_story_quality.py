"""Story quality over 8 premises: the planner's stories against one prompt to the same model.

For each premise (four from the shipped ``premise`` grammar, seeds 0 to 3, and four written
here) and each way of writing ("planner": ``plan_story`` then ``write_story`` with drafts
reranked; "one prompt": the model asked once for the whole story, the baseline), one story
at seed 0, with these figures:

- words; rep-4 (the share of word 4-grams already seen earlier in the story; lower is less
  looping) and distinct-2 (distinct word pairs over all; higher is more varied);
- premise coverage: the share of the premise's content words the story uses;
- fallbacks: plan parts the model did not write (stock text), planner only;
- characters named: the share of the plan's characters the prose names, planner only, in
  the whole story ("characters_named") and in the words the model wrote
  ("characters_named_by_model"): the code itself starts each scene with a character's name
  and opens a paragraph with the name of one a draft left out, so the first figure
  measures the code as much as the model, the second only the model;
- the protagonist: named in every scene, and "hero_pronoun_slips", sentences that name
  only the protagonist with a he/she that is not theirs (the name itself is the plan's
  and cannot change; the pronoun can);
- pronoun slips: sentences naming one character with a he/she that is not theirs;
- seconds per story, on this machine's threads for llama.cpp.

"plan-only" (``--only plan-only``) makes the plans alone and counts their fallbacks: the
cheap way to see whether a model writes its own plans.

``python benchmarks/bench_story_quality.py [--model SPEC] [--words N] [--premises K]
[--first I] [--drafts N] [--max-drafts N] [--no-small-model] [--out DIR]`` prints one JSON
object per story and then a summary line; run it alone (two llama.cpp processes slow each
other down many times over).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from museforge.core.creativity import distinct_n
from museforge.story.grammar import load_grammar
from museforge.story.levels import plan_story
from museforge.story.llm import LanguageModel, load_language_model
from museforge.story.metrics import repeated_ngram_share
from museforge.story.plan import Plan
from museforge.story.premise import premise_coverage
from museforge.story.prose import DRAFTS, MAX_DRAFTS, names, opening, pronoun_slips, write_story
from museforge.story.render import plan_markdown, story_markdown
from museforge.story.small_model import ON

OWN_PREMISES = (
    "A cartographer discovers that her maps redraw themselves at night",
    "A lighthouse keeper finds a mechanical bird",
    "A retired captain named Zoë McAllister hears the sea call her back",
    "A boy who repairs clocks finds one that runs backwards, and his town grows younger",
)
STRUCTURE = "three-acts"
SEED = 0


def premises(count: int) -> list[str]:
    grammar = load_grammar("premise")
    shipped = [grammar.expand("#origin#", seed=s) for s in range(4)]
    return (shipped + list(OWN_PREMISES))[:count]


def _figures(premise: str, text: str, seconds: float) -> dict:
    return {
        "words": len(text.split()),
        "rep4": round(repeated_ngram_share(text), 4),
        "distinct2": round(distinct_n([text], 2), 4),
        "premise_coverage": round(premise_coverage(premise, text), 3),
        "seconds": round(seconds, 1),
    }


def planned(model: LanguageModel, premise: str, words: int, args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    profile = ON if args.small_model else None
    plan = plan_story(model, premise, STRUCTURE, seed=SEED, profile=profile)
    write_story(model, plan, words, drafts=args.drafts, max_drafts=args.max_drafts)
    if args.out:
        (args.out / f"planner-{args.index}.json").write_text(
            json.dumps(plan.to_dict(), ensure_ascii=False), encoding="utf-8"
        )
    text = plan.text()
    if args.out:
        (args.out / f"planner-{args.index}.md").write_text(story_markdown(plan), encoding="utf-8")
        (args.out / f"planner-{args.index}.plan.md").write_text(plan_markdown(plan), "utf-8")
    hero = plan.characters[0]
    own = model_written(plan)
    return _figures(premise, text, time.perf_counter() - start) | {
        "fallbacks": sum("stock text" in note for note in plan.notes),
        "characters_named": _share_named(plan, text),
        "characters_named_by_model": _share_named(plan, own),
        "hero": f"{hero.name} ({hero.pronoun})",
        "hero_in_every_scene": all(names(s.prose, hero.name) for s in plan.scenes),
        "hero_pronoun_slips": pronoun_slips(plan, text, hero.name),
        "pronoun_slips": pronoun_slips(plan, text),
        "title": plan.title,
    }


def _share_named(plan: Plan, text: str) -> float:
    return round(sum(names(text, c.name) for c in plan.characters) / len(plan.characters), 3)


def model_written(plan: Plan) -> str:
    """The story without the words the code puts in, not the model: each scene's opening
    words ("At the harbour wall, Mara Quillby") and the name that opens a paragraph for a
    character a draft left out."""
    texts = []
    for i, scene in enumerate(plan.scenes):
        prose = scene.prose.removeprefix(opening(plan, i))
        for note in plan.notes:
            found = re.match(rf"scene {i + 1}: a paragraph opened with (.+)'s name$", note)
            if found:
                prose = prose.replace(f"\n\n{found.group(1)}", "\n\n", 1)
        texts.append(prose)
    return "\n\n".join(texts)


def one_prompt(model: LanguageModel, premise: str, words: int, args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    chat = [
        {"role": "system", "content": "You are a novelist."},
        {"role": "user", "content": f"Write a story of about {words} words about this: {premise}"},
    ]
    text = model.complete(chat, max_tokens=min(4096, int(words * 1.6)), temperature=0.8, seed=SEED)
    plan = Plan(premise, STRUCTURE)
    if args.out:
        (args.out / f"one-prompt-{args.index}.md").write_text(text, encoding="utf-8")
    return _figures(premise, text, time.perf_counter() - start) | {
        "pronoun_slips": pronoun_slips(plan, text)
    }


def plan_only(model: LanguageModel, premise: str, words: int, args: argparse.Namespace) -> dict:
    """The plan alone (no prose): how many of its parts fell back to stock text."""
    start = time.perf_counter()
    profile = ON if args.small_model else None
    plan = plan_story(model, premise, STRUCTURE, seed=SEED, profile=profile)
    if args.out:
        (args.out / f"plan-{args.index}.plan.md").write_text(plan_markdown(plan), "utf-8")
    hero = plan.characters[0]
    return {
        "fallbacks": sum("stock text" in note for note in plan.notes),
        "hero": f"{hero.name} ({hero.pronoun})",
        "title": plan.title,
        "seconds": round(time.perf_counter() - start, 1),
    }


def _mean(rows: list[dict], key: str) -> float:
    values = [row[key] for row in rows if key in row]
    return round(sum(values) / len(values), 4) if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--words", type=int, default=800)
    parser.add_argument("--premises", type=int, default=8)
    parser.add_argument("--first", type=int, default=0, help="Start at this premise (from 0).")
    parser.add_argument("--only", choices=("planner", "one-prompt", "plan-only"), default=None)
    parser.add_argument("--drafts", type=int, default=DRAFTS, help="Drafts per scene (planner).")
    parser.add_argument("--max-drafts", type=int, default=MAX_DRAFTS, help="See write_story.")
    parser.add_argument(
        "--small-model",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="The small-model guards on plan answers (planner).",
    )
    parser.add_argument("--out", type=Path, default=None, help="Write each story here.")
    args = parser.parse_args()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    model = load_language_model(args.model)
    ways = {"planner": planned, "one-prompt": one_prompt, "plan-only": plan_only}
    rows: dict[str, list[dict]] = {way: [] for way in ways}
    for way, write in ways.items():
        if way != (args.only or way) or (not args.only and way == "plan-only"):
            continue  # plan-only runs only when asked
        for i, premise in enumerate(premises(args.premises)):
            if i < args.first:
                continue
            args.index = i
            row = {"way": way, "premise": i, **write(model, premise, args.words, args)}
            rows[way].append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
    summary = {
        way: {
            key: _mean(found, key)
            for key in ("words", "rep4", "distinct2", "premise_coverage", "seconds", "fallbacks")
        }
        | {
            "min_words": min((r.get("words", 0) for r in found), default=0),
            "max_rep4": max((r.get("rep4", 0) for r in found), default=0),
        }
        for way, found in rows.items()
        if found
    }
    print(json.dumps({"benchmark": "story_quality", "model": model.name, "summary": summary}))


if __name__ == "__main__":
    sys.exit(main())
