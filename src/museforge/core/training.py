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

import importlib
import json
import math
import os
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
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import TensorDataset, default_collate

import museforge
from museforge.core.atomic import atomic_write_text
from museforge.core.checkpoints import flatten_state, load_state, save_state, unflatten_state
from museforge.errors import UserError

CHECKPOINT_FILE = "checkpoint.safetensors"
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


def device() -> torch.device:
    """Where to train: ``$MUSEFORGE_DEVICE`` when set (``cpu`` leaves a busy GPU alone),
    else CUDA, then Apple's MPS, then the CPU."""
    if os.environ.get("MUSEFORGE_DEVICE"):
        return torch.device(os.environ["MUSEFORGE_DEVICE"])
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


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
    on_checkpoint: Callable[[int, Path], None] | None = None,
) -> TrainResult:
    """Fit ``model`` to ``dataset`` by minimising ``loss_fn(model, batch, step)``.

    ``dataset`` is a tensor, a TensorDataset, or anything with ``len`` and ``[i]`` (its items
    are collated). ``loss_fn`` returns a loss or ``(loss, {name: number})``; under DDP it
    receives the DistributedDataParallel wrapper (see ``unwrap``). Everything is written to
    ``out_dir``: ``metrics.jsonl``, ``checkpoint.safetensors`` and, when the model has
    ``save_pretrained``, the model folder ``model/`` (EMA weights when EMA is on; the model
    also holds them on return). ``on_checkpoint(step, path)`` runs on rank 0 after each
    checkpoint; it may use the RNG without changing the training that follows.

    A Ctrl-C or SIGTERM finishes the current step, checkpoints it and raises
    ``TrainingInterrupted``. A KeyboardInterrupt raised inside a step (a second Ctrl-C, or
    one from ``loss_fn``) abandons that step: the checkpoint is of the step before it.
    """
    out_dir = Path(out_dir)
    command = shlex.join(sys.argv) if command is None else command
    make_optimizer = make_optimizer or adamw
    with ExitStack() as stack:
        rank, world, dev = stack.enter_context(_distributed())
        _check(config, dataset, world)
        t0 = time.perf_counter()
        ckpt_path = out_dir / CHECKPOINT_FILE
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

        # Start fresh, or pick up everything a checkpoint holds.
        start, loss_value, elapsed, commands = 0, math.nan, 0.0, [command]
        if resume:
            if not ckpt_path.is_file():
                raise UserError(f"{ckpt_path}: no checkpoint to resume (train without --resume)")
            tensors, meta = load_state(ckpt_path)
            ema = _restore(model, optimizer, ema, tensors, meta, ckpt_path, dev)
            start, loss_value, elapsed = meta["step"], meta["loss"], meta["train_seconds"]
            commands = [*meta["commands"], command]
            _set_rng_state(unflatten_state(meta["rng"], tensors))
            if rank:  # rank 0's RNG is stored; the others draw fresh, reproducible streams
                _seed_everything(_mix(config.seed, rank, start))
        else:
            if ckpt_path.exists():
                raise UserError(
                    f"{ckpt_path}: a checkpoint is already there "
                    "(continue it with --resume, or train into another folder)"
                )
            _seed_everything(config.seed + rank)
        if rank == 0:
            _remove_stale_temp_files(out_dir)
            _trim_metrics(metrics_path, start)
        batches = _Batches(dataset, config.batch_size, config.seed, rank, world)
        saved = start

        def seconds() -> float:
            return elapsed + time.perf_counter() - t0

        def write(step: int, rng: dict[str, Any]) -> None:
            nonlocal saved
            if rank == 0:
                state = _checkpoint(
                    model, optimizer, ema, rng, config, step, loss_value, seconds(), commands
                )
                save_state(ckpt_path, *state)
            saved = step

        def checkpoint(step: int, rng: dict[str, Any]) -> None:
            write(step, rng)
            if world > 1:
                dist.barrier()
            if rank == 0 and on_checkpoint is not None:
                with _rng_kept():
                    on_checkpoint(step, ckpt_path)

        done, rng_done, updating = start, _rng_state(), False
        stop = stack.enter_context(_StopOnSignal(escalate=world == 1))
        show = stack.enter_context(_progress(progress and rank == 0, start, config.steps))
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
                if config.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                updating = True  # until rng_done is taken the state is half a step
                optimizer.step()
                if ema is not None:
                    _ema_update(ema, model, config.ema_decay)
                done, rng_done, updating = step, _rng_state(), False

                if step % config.log_every == 0 or step == config.steps:
                    loss_value, metrics = _mean_over_ranks(loss, metrics, world)
                    if not math.isfinite(loss_value):
                        raise UserError(
                            f"loss became {loss_value} at step {step} (try a lower lr; "
                            f"the last good checkpoint is {ckpt_path})"
                        )
                    lr = optimizer.param_groups[0]["lr"]
                    log(
                        {"step": step, "loss": loss_value, "lr": lr, "time": round(seconds(), 3)}
                        | metrics
                    )
                show(step, loss_value)
                if step % config.checkpoint_every == 0:
                    checkpoint(step, rng_done)
                if _any_rank(stop.requested, world, dev):
                    if saved != step:
                        checkpoint(step, rng_done)
                    raise TrainingInterrupted(step, ckpt_path)
        except KeyboardInterrupt:
            # Interrupted inside a step: keep the last whole step, unless the weights were
            # half updated; then the previous checkpoint is the last good state.
            if not updating and done != saved:
                write(done, rng_done)
            raise TrainingInterrupted(saved, ckpt_path if ckpt_path.exists() else None) from None

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
                }
                model.save_pretrained(model_dir, extra=extra)
            if world > 1:
                dist.barrier()
        return TrainResult(done, loss_value, time.perf_counter() - t0, ckpt_path, model_dir)


def _check(config: TrainConfig, dataset: Any, world: int) -> None:
    """Settings come from the command line: reject bad ones in words a person can act on."""
    for name in ("steps", "batch_size", "checkpoint_every", "log_every"):
        if getattr(config, name) < 1:
            raise UserError(f"{name} must be at least 1, got {getattr(config, name)}")
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


# --- distributed ---------------------------------------------------------------------


@contextmanager
def _distributed() -> Iterator[tuple[int, int, torch.device]]:
    """(rank, world size, device), joining torchrun's process group when there is one.

    A group this function starts it also ends; one the caller started is left alone.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) < 2:
        yield 0, 1, device()
        return
    # Every rank must pick the same backend: NCCL only when each local rank has a GPU.
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if device().type == "cuda" and torch.cuda.device_count() >= local_world:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
        backend, options = "nccl", {"device_id": dev}
    else:
        dev, backend, options = torch.device("cpu"), "gloo", {}
    owns_group = not dist.is_initialized()
    if owns_group:
        # torch._dynamo, imported by DDP and the optimizers, keeps alive a process group made
        # before its import, and gloo's threads then abort the process at exit.
        importlib.import_module("torch._dynamo")
        dist.init_process_group(backend, **options)
    try:
        yield dist.get_rank(), dist.get_world_size(), dev
    finally:
        if owns_group:
            # A gloo thread frees a finished collective's tensors only once it holds the GIL;
            # hand it over before the threads are joined, or the two wait on each other.
            time.sleep(0.05)
            dist.destroy_process_group()


def _mean_over_ranks(
    loss: Tensor, metrics: dict[str, Any], world: int
) -> tuple[float, dict[str, float]]:
    names = sorted(metrics)
    values = torch.stack(
        [loss.detach().float().reshape(())]
        + [
            torch.as_tensor(metrics[k], dtype=torch.float32).to(loss.device).reshape(())
            for k in names
        ]
    ).detach()
    if world > 1:
        dist.all_reduce(values)  # gloo has no AVG
        values /= world
    loss_value, *rest = values.tolist()
    return loss_value, dict(zip(names, rest, strict=True))


def _any_rank(flag: bool, world: int, dev: torch.device) -> bool:
    """Ranks see a signal at different steps; they must all stop at the same one."""
    if world == 1:
        return flag
    t = torch.tensor([float(flag)], device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


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
    rng: dict[str, Any],
    config: TrainConfig,
    step: int,
    loss: float,
    train_seconds: float,
    commands: list[str],
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Everything a resume needs, as tensors plus JSON meta (see checkpoints.save_state)."""
    opt_tensors, opt_meta = flatten_state(optimizer.state_dict(), "optimizer")
    rng_tensors, rng_meta = flatten_state(rng, "rng")
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
    }
    return tensors | opt_tensors | rng_tensors, meta


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


def _remove_stale_temp_files(out_dir: Path) -> None:
    """A SIGKILL during an atomic write leaves its temporary file behind."""
    for name in (CHECKPOINT_FILE, METRICS_FILE):
        for tmp in out_dir.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)


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


class _SpeedColumn(ProgressColumn):
    def render(self, task: Any) -> Text:
        return Text("? it/s" if task.speed is None else f"{task.speed:.1f} it/s")


@contextmanager
def _progress(enabled: bool, start: int, steps: int) -> Iterator[Callable[[int, float], None]]:
    """A rich progress bar on stderr (loss, it/s, ETA); a no-op when disabled."""
    if not enabled:
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
