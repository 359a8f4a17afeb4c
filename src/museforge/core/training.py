"""The one training loop every museforge model uses.

Read ``train`` top to bottom, as you would nanoGPT's train.py: seed, build batches, step
AdamW with gradient clipping, keep an EMA of the weights, log JSON lines, checkpoint
atomically, resume exactly, stop cleanly on Ctrl-C, and run under ``torchrun`` with
DistributedDataParallel.

Exactness is the point: the batch at step k is a pure function of (seed, k), and a
checkpoint holds the model, optimizer, EMA and RNG state, so a run that is killed and
resumed ends with the same weights, bit for bit on the CPU, as one that never stopped.
"""

from __future__ import annotations

import json
import math
import random
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import TensorDataset, default_collate

import museforge
from museforge.core import distributed
from museforge.core.atomic import atomic_write_text
from museforge.core.checkpoint_set import LATEST, CheckpointSet
from museforge.core.checkpoints import flatten_state, load_state, unflatten_state
from museforge.core.progress import training_bar
from museforge.core.run_identity import data_fingerprint, mismatches, shaping_config
from museforge.core.runlock import RunFolderBusy, StaleRunLock, run_lock
from museforge.errors import UserError

CHECKPOINT_FILE = LATEST
BEST_FILE = "best.json"
METRICS_FILE = "metrics.jsonl"
MODEL_DIR = "model"

# loss_fn(model, batch, step): the step (1-based) lets a loss anneal, e.g. a VAE's KL weight.
LossFn = Callable[[nn.Module, Any, int], "Tensor | tuple[Tensor, dict[str, Any]]"]
LR_SCHEDULES = ("constant", "cosine", "exponential")


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 64  # GLOBAL batch; under DDP each rank takes batch_size // world_size
    lr: float = 1e-3
    weight_decay: float = 0.0  # AdamW decay, applied to matrices only (as nanoGPT)
    grad_clip: float | None = 1.0  # max gradient norm; None turns clipping off
    ema_decay: float | None = None  # e.g. 0.999; EMA weights are what gets exported when set
    checkpoint_every: int = 100
    log_every: int = 10
    seed: int = 0
    warmup_steps: int = 0  # linear warm-up from 0 to lr
    lr_schedule: str = "constant"  # constant | cosine (to min_lr at the last step) | exponential
    lr_decay_rate: float = 0.9999  # exponential: lr decays by this factor a step (MusicVAE)
    min_lr: float = 0.0  # the floor that cosine and exponential decay towards


@dataclass
class RunOptions:
    """How a run behaves, not what it learns: none of these changes the weights."""

    keep: int = 3  # checkpoints kept (the newest ones; the best is kept as well)
    skip_nonfinite: int = 0  # steps with a NaN/inf loss or gradient skipped before stopping
    force: bool = False  # take over a run folder whose lock a dead run left behind
    allow_config_change: bool = False  # resume with other data or settings, on purpose


def lr_at(step: int, config: TrainConfig) -> float:
    """The learning rate for ``step`` (1-based): warm-up, then the configured decay."""
    if step <= config.warmup_steps:
        return config.lr * step / config.warmup_steps
    since = step - config.warmup_steps
    if config.lr_schedule == "cosine":
        span = max(1, config.steps - config.warmup_steps)
        return config.min_lr + (config.lr - config.min_lr) * 0.5 * (
            1 + math.cos(math.pi * since / span)
        )
    if config.lr_schedule == "exponential":
        return config.min_lr + (config.lr - config.min_lr) * config.lr_decay_rate**since
    return config.lr


@dataclass
class TrainResult:
    steps: int  # the last step done
    final_loss: float
    wall_time: float  # seconds this call took
    checkpoint: Path
    model_dir: Path | None  # None when the model has no save_pretrained


class TrainingInterrupted(Exception):
    """Ctrl-C or SIGTERM stopped training after a checkpoint was written; the CLI exits 130."""

    exit_code = 130

    def __init__(self, step: int, checkpoint: Path | None) -> None:
        where = f"checkpoint at {checkpoint}" if checkpoint else "no checkpoint yet"
        super().__init__(f"training stopped after step {step}; {where} (continue with --resume)")
        self.step = step
        self.checkpoint = checkpoint


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (loss_fn receives the wrapper)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def adamw(params: list[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW that decays matrices but not biases or norm gains (as nanoGPT)."""
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=config.lr)


def train(
    model: nn.Module,
    dataset: Any,
    loss_fn: LossFn,
    config: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    command: str | None = None,
    progress: bool = True,
    make_optimizer: Callable[[list[nn.Parameter], TrainConfig], torch.optim.Optimizer]
    | None = None,
    on_checkpoint: Callable[[int, Path], dict[str, float] | None] | None = None,
    best_metric: str | None = None,
    best_mode: str = "max",
    options: RunOptions | None = None,
) -> TrainResult:
    """Fit ``model`` to ``dataset`` by minimising ``loss_fn(model, batch, step)``.

    ``dataset`` is a tensor, a TensorDataset, or anything with ``len`` and ``[i]`` (its items
    are collated). ``loss_fn`` returns a loss or ``(loss, {name: number})``; under DDP it
    receives the DistributedDataParallel wrapper (see ``unwrap``). A loss that keeps state
    between steps (a replay memory, episodes under way) exposes it as ``state_dict()`` (a
    dict of tensors) and ``load_state_dict(state)``: checkpoints hold rank 0's, and a
    resume gives it back to every rank. Everything is written to
    ``out_dir``: ``metrics.jsonl``, the last ``options.keep`` checkpoints with
    ``checkpoint.safetensors`` the newest (see ``checkpoint_set``) and, when the model has
    ``save_pretrained``, the model folder ``model/`` (EMA weights when EMA is on; the model
    also holds them on return). ``on_checkpoint(step, path)`` runs on rank 0 after each
    checkpoint; it may use the RNG without changing the training that follows, and may
    return validation figures: the one named ``best_metric`` (higher is better, or lower
    with ``best_mode="min"``) marks ``checkpoint-best.safetensors``.

    Every step's loss and gradient norm are checked before the optimizer steps: a
    non-finite one stops training (or, up to ``options.skip_nonfinite`` times, skips the
    step) and no checkpoint ever holds a non-finite weight. ``resume`` refuses a checkpoint
    made with other data or settings, naming the field, unless
    ``options.allow_config_change`` (then the change is recorded). The folder is locked
    for the run (``runlock``); ``options.force`` takes over a lock a dead run left.

    A Ctrl-C or SIGTERM finishes the current step, checkpoints it and raises
    ``TrainingInterrupted``. A KeyboardInterrupt raised inside a step (a second Ctrl-C, or
    one from ``loss_fn``) abandons that step: the checkpoint is of the step before it.
    """
    if best_mode not in ("max", "min"):
        raise ValueError(f"best_mode is 'max' or 'min', not {best_mode!r}")
    out_dir = Path(out_dir)
    command = shlex.join(sys.argv) if command is None else command
    make_optimizer = make_optimizer or adamw
    options = options or RunOptions()
    with ExitStack() as stack:
        rank, world, dev = stack.enter_context(distributed.session())
        _check(config, options, dataset, world)
        if rank == 0:
            stack.enter_context(_locked(out_dir, options.force, world, dev))
        elif distributed.any_rank(False, world, dev):
            raise UserError(f"{out_dir}: rank 0 could not take the run folder")
        t0 = time.perf_counter()
        ckpts = CheckpointSet(out_dir, options.keep)
        metrics_path = out_dir / METRICS_FILE
        model.to(dev)
        net = (
            model
            if world == 1
            else DistributedDataParallel(
                model, device_ids=[dev.index] if dev.type == "cuda" else None
            )
        )
        optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad], config)
        ema = _ema_init(model) if config.ema_decay is not None else None
        identity = {"data": data_fingerprint(dataset), "config": shaping_config(config)}

        # Start fresh, or pick up everything a checkpoint holds.
        start, loss_value, elapsed, commands = 0, math.nan, 0.0, [command]
        changes: list[dict[str, Any]] = []
        skipped = 0
        best = None
        if resume:
            if not ckpts.latest.is_file():
                raise UserError(f"{ckpts.latest}: no checkpoint to resume (train without --resume)")
            tensors, meta = load_state(ckpts.latest)
            changes = _same_run(meta, identity, options.allow_config_change, ckpts.latest)
            ema = _restore(model, optimizer, ema, tensors, meta, ckpts.latest, dev)
            loss_state = _under(tensors, "loss/")
            if loss_state and hasattr(loss_fn, "load_state_dict"):
                loss_fn.load_state_dict(loss_state)
            start, loss_value, elapsed = meta["step"], meta["loss"], meta["train_seconds"]
            commands = [*meta["commands"], command]
            skipped = meta.get("skipped_steps", 0)
            _set_rng_state(_rank_rng(meta, tensors, rank, world, config.seed))
            best = _read_best(out_dir, start)
            if best is not None:
                ckpts.best_step = best["step"]
        else:
            if ckpts.latest.exists():
                raise UserError(
                    f"{ckpts.latest}: a checkpoint is already there "
                    "(continue it with --resume, or train into another folder)"
                )
            _seed_everything(config.seed + rank)
        if rank == 0:
            ckpts.remove_stale_temp_files()
            _trim_metrics(metrics_path, start)
        batches = _Batches(dataset, config.batch_size, config.seed, rank, world)
        saved = start

        def seconds() -> float:
            return elapsed + time.perf_counter() - t0

        def write(step: int, rngs: list[dict[str, Any]]) -> None:
            nonlocal saved
            if not _all_finite(model, ema):
                raise NonFiniteTraining(step, "weights", ckpts.latest, saved)
            if rank == 0:
                state = _checkpoint(
                    model, optimizer, ema, rngs, config, step, loss_value, seconds(), commands
                )
                state[1].update(identity=identity, changes=changes, skipped_steps=skipped)
                if hasattr(loss_fn, "state_dict"):
                    state[0].update({f"loss/{k}": v for k, v in loss_fn.state_dict().items()})
                ckpts.write(step, *state)
            saved = step

        def checkpoint(step: int, rng: dict[str, Any]) -> None:
            nonlocal best
            write(step, distributed.gather_to_main(rng, world))
            if world > 1:
                dist.barrier()
            if rank == 0 and on_checkpoint is not None:
                with _rng_kept():
                    scores = on_checkpoint(step, ckpts.latest)
                value = (scores or {}).get(best_metric) if best_metric else None
                if value is not None and _better(value, best, best_mode):
                    best = {"step": step, "metric": best_metric, "value": value}
                    ckpts.mark_best(step)
                    atomic_write_text(out_dir / BEST_FILE, json.dumps(best) + "\n")

        done, rng_done, updating = start, _rng_state(), False
        stop = stack.enter_context(_StopOnSignal(escalate=world == 1))
        show = stack.enter_context(training_bar(progress and rank == 0, start, config.steps))
        log = stack.enter_context(_open_metrics(metrics_path, rank))
        try:
            for step in range(start + 1, config.steps + 1):
                batch = _to_device(batches(step), dev)
                for group in optimizer.param_groups:  # a group may scale it ("lr_scale")
                    group["lr"] = lr_at(step, config) * group.get("lr_scale", 1.0)
                optimizer.zero_grad(set_to_none=True)
                out = loss_fn(net, batch, step)
                loss, metrics = out if isinstance(out, tuple) else (out, {})
                loss.backward()
                norm = _grad_norm(model, config.grad_clip)
                finite = math.isfinite(loss.item()) and math.isfinite(norm)
                if distributed.any_rank(not finite, world, dev):
                    # Never step on a non-finite gradient: the weights stay as they were.
                    skipped += 1
                    if skipped > options.skip_nonfinite:
                        raise NonFiniteTraining(step, "loss or gradient", ckpts.latest, saved)
                    optimizer.zero_grad(set_to_none=True)
                    log({"step": step, "skipped": "non-finite loss or gradient"})
                    done, rng_done = step, _rng_state()
                else:
                    updating = True  # until rng_done is taken the state is half a step
                    optimizer.step()
                    if ema is not None:
                        _ema_update(ema, model, config.ema_decay)
                    done, rng_done, updating = step, _rng_state(), False
                    if step % config.log_every == 0 or step == config.steps:
                        loss_value, metrics = distributed.mean_over_ranks(loss, metrics, world)
                        lr = lr_at(step, config)  # the run's: a group may be scaled
                        log(
                            {
                                "step": step,
                                "loss": loss_value,
                                "lr": lr,
                                "time": round(seconds(), 3),
                            }
                            | metrics
                        )
                show(step, loss_value)
                if step % config.checkpoint_every == 0:
                    checkpoint(step, rng_done)
                if distributed.any_rank(stop.requested, world, dev):
                    if saved != step:
                        checkpoint(step, rng_done)
                    raise TrainingInterrupted(step, ckpts.latest)
        except KeyboardInterrupt:
            # Interrupted inside a step: keep the last whole step, unless the weights were
            # half updated; then the previous checkpoint is the last good state. Under DDP
            # the other ranks cannot join a checkpoint now: the previous one stands.
            if not updating and done != saved and world == 1:
                write(done, [rng_done])
            latest = ckpts.latest if ckpts.latest.exists() else None
            raise TrainingInterrupted(saved, latest) from None

        if saved != done:
            checkpoint(done, rng_done)
        if ema is not None:
            model.load_state_dict(ema)
        model_dir = None
        if hasattr(model, "save_pretrained"):
            model_dir = out_dir / MODEL_DIR
            if rank == 0:
                extra = {
                    "command": commands[0],
                    "resumed_with": commands[1:],
                    "steps": done,
                    "final_loss": loss_value,
                    "train_seconds": round(seconds(), 3),
                    "ema": ema is not None,
                    "train_config": asdict(config),
                    "data": identity["data"],
                }
                if changes:
                    extra["config_changes"] = changes
                if skipped:
                    extra["skipped_steps"] = skipped
                model.save_pretrained(model_dir, extra=extra)
            if world > 1:
                dist.barrier()
        return TrainResult(done, loss_value, time.perf_counter() - t0, ckpts.latest, model_dir)


class NonFiniteTraining(UserError):
    """A NaN or infinity in the loss, the gradients or the weights: training stops before it
    can reach a checkpoint, and the message names the last checkpoint that is good."""

    def __init__(self, step: int, what: str, latest: Path, saved: int) -> None:
        good = (
            f"the last good checkpoint is {latest} (step {saved})"
            if saved
            else "no checkpoint was written yet"
        )
        super().__init__(
            f"the {what} became NaN or infinite at step {step}; {good} "
            "(try a lower --lr, or --skip-nonfinite N to skip up to N such steps)"
        )
        self.step = step


@contextmanager
def _locked(out_dir: Path, force: bool, world: int, dev: torch.device) -> Iterator[None]:
    """Rank 0 holds the run folder's lock; the other ranks learn whether it could."""
    try:
        with run_lock(out_dir, force=force):
            distributed.any_rank(False, world, dev)
            yield
    except (RunFolderBusy, StaleRunLock):
        distributed.any_rank(True, world, dev)
        raise


def _same_run(
    meta: dict[str, Any], identity: dict[str, Any], allow_change: bool, path: Path
) -> list[dict[str, Any]]:
    """The change records of a resume: refused with one line unless ``allow_change``."""
    saved = meta.get("identity")
    changes = list(meta.get("changes", []))
    if saved is None:  # a checkpoint from before identities were recorded
        return changes
    found = [
        (f"data {k}" if part == "data" else k, old, new)
        for part in ("data", "config")
        for k, old, new in mismatches(saved[part], identity[part])
    ]
    if not found:
        return changes
    if not allow_change:
        name, old, new = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise UserError(
            f"{path}: the run was trained with {name} {old}, not {new}{more}; resume with the "
            "same data and settings, or pass --allow-config-change to continue on purpose"
        )
    step = meta["step"]
    return changes + [{"step": step, "field": k, "was": old, "now": new} for k, old, new in found]


def _check(config: TrainConfig, options: RunOptions, dataset: Any, world: int) -> None:
    """Settings come from the command line: reject bad ones in words a person can act on."""
    for name in ("steps", "batch_size", "checkpoint_every", "log_every"):
        if getattr(config, name) < 1:
            raise UserError(f"{name} must be at least 1, got {getattr(config, name)}")
    if options.keep < 1:
        raise UserError(f"keep must be at least 1, got {options.keep}")
    if options.skip_nonfinite < 0:
        raise UserError(f"skip_nonfinite must be 0 or more, got {options.skip_nonfinite}")
    if config.batch_size % world:
        raise UserError(
            f"batch_size {config.batch_size} does not split evenly over {world} processes"
        )
    if config.ema_decay is not None and not 0.0 < config.ema_decay < 1.0:
        raise UserError(f"ema_decay must be between 0 and 1, got {config.ema_decay}")
    if config.lr_schedule not in LR_SCHEDULES:
        raise UserError(
            f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {config.lr_schedule!r}"
        )
    if config.warmup_steps < 0:
        raise UserError(f"warmup_steps must be 0 or more, got {config.warmup_steps}")
    if len(dataset) == 0:
        raise UserError("the training data is empty")


def _grad_norm(model: nn.Module, clip: float | None) -> float:
    """The gradients' total norm, clipping them to ``clip`` when it is set."""
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return 0.0
    return float(nn.utils.clip_grad_norm_(params, clip if clip is not None else math.inf))


def _all_finite(model: nn.Module, ema: dict[str, Tensor] | None) -> bool:
    tensors = [*model.state_dict().values(), *(ema or {}).values()]
    return all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point())


def _better(value: float, best: dict[str, Any] | None, mode: str) -> bool:
    if best is None:
        return True
    return value > best["value"] if mode == "max" else value < best["value"]


def _read_best(out_dir: Path, step: int) -> dict[str, Any] | None:
    path = out_dir / BEST_FILE
    try:
        best = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return best if isinstance(best, dict) and best.get("step", step + 1) <= step else None


# --- batches -------------------------------------------------------------------------


class _Batches:
    """The global batch at step k is a pure function of (seed, k).

    The data is an endless stream of epochs; epoch e visits the samples in the order of a
    permutation drawn from a generator seeded by (seed, e), and step k takes the k-th
    ``batch_size`` slice of the stream. Resume therefore needs no data-loader state. Under
    DDP every rank builds the same global batch and takes its own contiguous slice of it.
    """

    def __init__(self, dataset: Any, batch_size: int, seed: int, rank: int, world: int) -> None:
        self.dataset, self.n, self.batch_size, self.seed = dataset, len(dataset), batch_size, seed
        self.local = slice(rank * batch_size // world, (rank + 1) * batch_size // world)
        self.epoch, self.order = -1, torch.empty(0, dtype=torch.long)

    def indices(self, step: int) -> Tensor:
        parts, pos, end = [], (step - 1) * self.batch_size, step * self.batch_size
        while pos < end:
            epoch, offset = divmod(pos, self.n)
            if epoch != self.epoch:
                gen = torch.Generator().manual_seed(_mix(self.seed, epoch))
                self.epoch, self.order = epoch, torch.randperm(self.n, generator=gen)
            take = min(self.n - offset, end - pos)
            parts.append(self.order[offset : offset + take])
            pos += take
        return torch.cat(parts)[self.local]

    def __call__(self, step: int) -> Any:
        idx = self.indices(step)
        if isinstance(self.dataset, Tensor | TensorDataset):
            return self.dataset[idx]
        return default_collate([self.dataset[i] for i in idx.tolist()])


def _to_device(batch: Any, dev: torch.device) -> Any:
    if isinstance(batch, Tensor):
        return batch.to(dev)
    if isinstance(batch, tuple | list):
        return type(batch)(_to_device(b, dev) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, dev) for k, v in batch.items()}
    return batch


# --- randomness ----------------------------------------------------------------------


def _mix(*numbers: int) -> int:
    """One well-mixed 63-bit seed from several integers (seed, epoch, rank, ...)."""
    return int(np.random.SeedSequence(list(numbers)).generate_state(1, np.uint64)[0] >> 1)


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _rng_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "python": random.getstate(),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    random.setstate(state["python"])


@contextmanager
def _rng_kept() -> Iterator[None]:
    """Let a callback draw random numbers without changing the training that follows."""
    state = _rng_state()
    try:
        yield
    finally:
        _set_rng_state(state)


# --- EMA -----------------------------------------------------------------------------


def _ema_init(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@torch.no_grad()
def _ema_update(ema: dict[str, Tensor], model: nn.Module, decay: float) -> None:
    """ema = decay * ema + (1 - decay) * weights; integer buffers are copied."""
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            ema[k].lerp_(v, 1.0 - decay)
        else:
            ema[k].copy_(v)


# --- checkpoints ---------------------------------------------------------------------


def _checkpoint(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    ema: dict[str, Tensor] | None,
    rngs: list[dict[str, Any]],
    config: TrainConfig,
    step: int,
    loss: float,
    train_seconds: float,
    commands: list[str],
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Everything a resume needs, as tensors plus JSON meta (see checkpoints.save_state).

    ``rngs`` holds every rank's RNG state, rank 0's first: each rank resumes its own.
    """
    opt_tensors, opt_meta = flatten_state(optimizer.state_dict(), "optimizer")
    rng_tensors, rng_meta = flatten_state(rngs[0], "rng")
    ranks_meta = []
    for r, state in enumerate(rngs[1:], start=1):
        more, skeleton = flatten_state(state, f"rng{r}")
        rng_tensors |= more
        ranks_meta.append(skeleton)
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    if ema is not None:
        tensors |= {f"ema/{k}": v for k, v in ema.items()}
    meta = {
        "step": step,
        "loss": loss,
        "train_seconds": round(train_seconds, 3),
        "commands": commands,
        "train_config": asdict(config),
        "model_type": getattr(model, "model_type", type(model).__name__),
        "model_config": _model_config(model),
        "museforge_version": museforge.__version__,
        "optimizer": opt_meta,
        "rng": rng_meta,
        "rng_ranks": ranks_meta,
    }
    return tensors | opt_tensors | rng_tensors, meta


def _rank_rng(
    meta: dict[str, Any], tensors: dict[str, Tensor], rank: int, world: int, seed: int
) -> dict[str, Any]:
    """This rank's saved RNG state. A checkpoint from another number of processes (or
    from before every rank's state was kept) gives the other ranks fresh, reproducible
    streams instead."""
    if rank == 0:
        return unflatten_state(meta["rng"], tensors)
    ranks = meta.get("rng_ranks", [])
    if len(ranks) == world - 1:
        return unflatten_state(ranks[rank - 1], tensors)
    with _rng_kept():
        _seed_everything(_mix(seed, rank, meta["step"]))
        return _rng_state()


def _model_config(model: nn.Module) -> Any:
    config = getattr(model, "config", None)
    return json.loads(json.dumps(asdict(config))) if is_dataclass(config) else None


def _restore(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    ema: dict[str, Tensor] | None,
    tensors: dict[str, Tensor],
    meta: dict[str, Any],
    path: Path,
    dev: torch.device,
) -> dict[str, Tensor] | None:
    """Load weights, optimizer and EMA state from a checkpoint; returns the EMA weights."""
    ours, theirs = _model_config(model) or {}, meta["model_config"] or {}
    if ours != theirs:
        changed = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
        raise UserError(
            f"{path}: the checkpoint is of a model with another config "
            f"(differs in {', '.join(changed)}); train into another folder or match it"
        )
    try:
        model.load_state_dict(_under(tensors, "model/"), strict=True)
        optimizer.load_state_dict(unflatten_state(meta["optimizer"], tensors))
    except (RuntimeError, ValueError, KeyError) as err:
        raise UserError(
            f"{path}: the checkpoint does not fit this model ({str(err)[:300]})"
        ) from None
    if ema is None:
        return None
    saved = _under(tensors, "ema/")
    return {k: v.to(dev) for k, v in saved.items()} if saved else _ema_init(model)


def _under(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}


# --- metrics and progress ------------------------------------------------------------


def _trim_metrics(path: Path, step: int) -> None:
    """Keep only lines up to ``step`` so a resumed run never writes a step twice.

    A line cut short by a kill is not valid JSON and goes too.
    """
    if not path.exists():
        return
    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line)["step"] <= step:
                keep.append(line + "\n")
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    atomic_write_text(path, "".join(keep))


@contextmanager
def _open_metrics(path: Path, rank: int) -> Iterator[Callable[[dict[str, Any]], None]]:
    if rank != 0:
        yield lambda record: None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:

        def log(record: dict[str, Any]) -> None:
            f.write(json.dumps(record) + "\n")
            f.flush()

        yield log


class _StopOnSignal:
    """Turn Ctrl-C and SIGTERM into a request to stop after the current step.

    A second signal raises KeyboardInterrupt at once, for the impatient; not under DDP,
    where torchrun passes each signal on and ranks must stop at the same step.
    """

    def __init__(self, escalate: bool) -> None:
        self.escalate = escalate
        self.requested = False
        self.previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and self.escalate:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
