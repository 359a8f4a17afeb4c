"""The checkpoints of one run folder: the last K steps, the newest, and the best.

Each checkpoint is written whole to ``checkpoint-<step>.safetensors`` (atomically), then
``checkpoint.safetensors`` is pointed at it (a hard link swapped in by rename) and the
oldest beyond ``keep`` are removed. ``checkpoint-best.safetensors`` points at the step
with the best validation score, which pruning never removes. A kill at any moment leaves
``checkpoint.safetensors`` naming a whole checkpoint: the new one or the one before.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from torch import Tensor

from museforge.core.atomic import atomic_path
from museforge.core.checkpoints import save_state

LATEST = "checkpoint.safetensors"
BEST = "checkpoint-best.safetensors"
_STEP = re.compile(r"checkpoint-(\d{8})\.safetensors")


class CheckpointSet:
    def __init__(self, folder: Path, keep: int) -> None:
        self.folder, self.keep = folder, keep
        self.latest = folder / LATEST
        self.best = folder / BEST
        self.best_step: int | None = None

    def path_for(self, step: int) -> Path:
        return self.folder / f"checkpoint-{step:08d}.safetensors"

    def steps(self) -> list[int]:
        """The steps that have a checkpoint file, oldest first."""
        found = (_STEP.fullmatch(p.name) for p in self.folder.glob("checkpoint-*.safetensors"))
        return sorted(int(m.group(1)) for m in found if m)

    def write(self, step: int, tensors: dict[str, Tensor], meta: dict) -> Path:
        path = self.path_for(step)
        save_state(path, tensors, meta)
        _point(self.latest, path)
        self._prune()
        return path

    def mark_best(self, step: int) -> None:
        self.best_step = step
        _point(self.best, self.path_for(step))

    def remove_stale_temp_files(self) -> None:
        """A SIGKILL during an atomic write leaves its temporary file behind."""
        for tmp in self.folder.glob(".checkpoint*.tmp"):
            tmp.unlink(missing_ok=True)
        for tmp in self.folder.glob(".metrics.jsonl.*.tmp"):
            tmp.unlink(missing_ok=True)

    def _prune(self) -> None:
        steps = self.steps()
        for old in steps[: max(0, len(steps) - self.keep)]:
            if old != self.best_step:
                self.path_for(old).unlink(missing_ok=True)


def _point(link: Path, target: Path) -> None:
    """Make ``link`` the same file as ``target``, atomically (a copy where links fail)."""
    with atomic_path(link) as tmp:
        tmp.unlink()
        try:
            os.link(target, tmp)
        except OSError:
            shutil.copyfile(target, tmp)
