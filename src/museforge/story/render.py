"""A plan and its story as text people read: Markdown, and the lines the co-writing store
keeps for the characters and each scene."""

from __future__ import annotations

from museforge.story.plan import STRUCTURES, Character, Plan, Scene


def _heading(plan: Plan, i: int) -> str:
    beats = STRUCTURES.get(plan.structure, ())
    name = beats[i].name if i < len(beats) else f"scene {i + 1}"
    place = plan.scenes[i].place
    return f"## {i + 1}. {name.capitalize()}: {place[0].upper()}{place[1:]}"


def _front(plan: Plan) -> list[str]:
    lines = [f"# {plan.title or 'Untitled'}", "", f"*{plan.logline}*", "", "## Characters", ""]
    lines += [
        f"- **{c.name}**, the {c.role}: wants {c.want}; flaw: {c.flaw}." for c in plan.characters
    ]
    return lines


def plan_markdown(plan: Plan) -> str:
    """The plan as Markdown: premise, characters, beats, scenes and notes."""
    lines = _front(plan) + ["", f"Premise: {plan.premise}", ""]
    lines += [f"Structure: {plan.structure}; seed {plan.seed}; model {plan.model or '?'}", ""]
    lines += ["## Scenes", ""]
    for i, scene in enumerate(plan.scenes):
        lines += [f"{i + 1}. **{scene.place}** ({', '.join(scene.characters)}): {scene.beat}"]
    if plan.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in plan.notes]
    return "\n".join(lines) + "\n"


def story_markdown(plan: Plan) -> str:
    """The story as Markdown: title, logline, characters, then each scene under its heading."""
    lines = _front(plan)
    for i, scene in enumerate(plan.scenes):
        lines += ["", _heading(plan, i), "", scene.prose]
    return "\n".join(lines) + "\n"


def characters_text(characters: list[Character]) -> str:
    """The "characters" part as the store keeps it: a ``Name, the role: wants ...; flaw:
    ...`` line each."""
    return "\n".join(f"{c.name}, the {c.role}: wants {c.want}; flaw: {c.flaw}" for c in characters)


def scene_text(scene: Scene) -> str:
    """A "scene/K" part as the store keeps it: the place, a blank line, the prose."""
    return f"{scene.place}\n\n{scene.prose.strip()}"
