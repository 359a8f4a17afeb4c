"""The one progress bar: for loops over files and for training steps, on stderr.

``--no-progress`` and ``--quiet`` (or ``MUSEFORGE_NO_PROGRESS=1``) turn every bar off, for
logs and scripts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

T = TypeVar("T")

OFF_VARIABLE = "MUSEFORGE_NO_PROGRESS"


def bars_enabled() -> bool:
    """False when the person asked for no progress bars."""
    return os.environ.get(OFF_VARIABLE, "") not in ("1", "true", "yes")


def track(items: Iterable[T], total: int, label: str, enabled: bool = True) -> Iterator[T]:
    """Yield ``items`` while a bar on stderr counts them towards ``total``."""
    with counter(total, label, enabled) as show:
        for done, item in enumerate(items, start=1):
            yield item
            show(done)


class _SpeedColumn(ProgressColumn):
    def render(self, task: Any) -> Text:
        return Text("? it/s" if task.speed is None else f"{task.speed:.1f} it/s")


@contextmanager
def training_bar(enabled: bool, start: int, steps: int) -> Iterator[Callable[[int, float], None]]:
    """A bar for training steps (loss, it/s, ETA); yields ``show(step, loss)``."""
    if not (enabled and bars_enabled()):
        yield lambda step, loss: None
        return
    columns = (
        TextColumn("train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        _SpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("train", total=steps, completed=start, loss="?")
        yield lambda step, loss: bar.update(task, completed=step, loss=f"{loss:.4g}")


@contextmanager
def counter(total: int, label: str, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A bar for work that reports how far it got: call the yielded function with the count
    done so far (a painter calls it after each stroke; ``track`` after each item)."""
    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    shown = enabled and bars_enabled()
    with Progress(*columns, console=Console(stderr=True), disable=not shown) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)
