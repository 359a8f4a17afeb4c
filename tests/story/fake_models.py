"""Language models for tests that need no weights: each answers a chat with a function of
its last message."""

from __future__ import annotations

from collections.abc import Callable

from museforge.story.llm import Generation, LanguageModel


class Scripted(LanguageModel):
    """A model whose answer is ``answer(prompt)``, the prompt being the chat's last
    message; every prompt is kept, in order."""

    name = "scripted"

    def __init__(self, answer: Callable[[str], str]) -> None:
        self.answer = answer
        self.prompts: list[str] = []

    def _stream(self, messages: list[dict[str, str]], settings: Generation):
        self.prompts.append(messages[-1]["content"])
        yield self.answer(messages[-1]["content"])
        return "stop"


def canned(answer: str) -> Scripted:
    """A model that gives the same answer to every prompt."""
    return Scripted(lambda prompt: answer)
