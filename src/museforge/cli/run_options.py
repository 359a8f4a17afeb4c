"""The options every ``train`` command shares: how a run behaves, never what it learns."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated

import typer

from museforge.core import distributed
from museforge.core.runlock import run_lock
from museforge.core.training import RunOptions
from museforge.errors import make_out_dir

KeepOpt = Annotated[
    int, typer.Option(min=1, help="Checkpoints to keep (the newest; the best is kept too).")
]
SkipNonfiniteOpt = Annotated[
    int,
    typer.Option(
        min=0, help="Skip up to this many steps whose loss or gradient is NaN/inf, then stop."
    ),
]
ForceOpt = Annotated[
    bool,
    typer.Option(help="Take over a run folder whose lock a killed run left behind."),
]
AllowChangeOpt = Annotated[
    bool,
    typer.Option(
        help="With --resume: go on with other data or settings on purpose (it is recorded)."
    ),
]


def run_options(keep: int, skip_nonfinite: int, force: bool, allow_change: bool) -> RunOptions:
    return RunOptions(
        keep=keep, skip_nonfinite=skip_nonfinite, force=force, allow_config_change=allow_change
    )


@contextmanager
def run_folder(out: Path, options: RunOptions) -> Iterator[Path]:
    """The run folder, created and locked, inside torchrun's process group when launched by
    it: a command prepares its data in there (rank 0 first, see
    ``distributed.main_process_first``) before the training loop takes over."""
    with ExitStack() as stack:
        stack.enter_context(distributed.session())
        folder = make_out_dir(out) if distributed.is_main_process() else Path(out)
        if distributed.is_main_process():
            stack.enter_context(run_lock(folder, force=options.force))
        yield folder


def keep_trained_model(
    model_dir: Path,
    data: list[Path] | None = None,
    init: str | None = None,
    note: str | None = None,
) -> None:
    """Record a freshly trained model in the store (``trained-from`` its data and its
    ``--init`` model) and say so; under torchrun only rank 0 does."""
    from rich.console import Console

    from museforge.core.model_records import record_trained_model
    from museforge.core.store import Store

    if not distributed.is_main_process():
        return
    with Store() as store:
        kept = record_trained_model(store, model_dir, data=data or [], init=init, note=note)
    Console().print(f"model kept in the store as {kept.id[:12]}")
