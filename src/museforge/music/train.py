"""Fit a melody VAE (MusicVAE, Roberts et al. 2018, "A Hierarchical Latent Vector Model for
Learning Long-Term Structure in Music") through museforge's one training loop.

The loss is MusicVAE's: reconstruction cross-entropy summed over steps plus
beta(step) * max(KL(q(z|x) || N(0, I)) - free bits, 0), averaged over the batch, where
beta rises towards ``max_beta`` as ``max_beta * (1 - beta_rate^step)``. The decoder trains
with scheduled sampling: its true previous event is fed with probability
tau(step) = k / (k + exp(step / k)) (inverse sigmoid), else its own sample. Each batch
is transposed at random, seeded by the step, so a resumed run sees the same batches.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from museforge.core.checkpoints import read_config
from museforge.core.distributed import is_main_process
from museforge.core.progress import track
from museforge.core.training import RunOptions, TrainConfig, TrainResult, train, unwrap
from museforge.core.transfer import freeze, lr_scales, scaled_adamw
from museforge.errors import UserError
from museforge.music.adapt import Adaptation, AdaptingVAE, domain_term, load_source
from museforge.music.augment import random_transpose, transpose
from museforge.music.data import load_dataset
from museforge.music.evaluate import reconstruction_accuracy
from museforge.music.model import MelodyVAE, MelodyVAEConfig, kl_divergence
from museforge.music.stacked import (
    StackedMelodyVAE,
    StackedMelodyVAEConfig,
    seam_repeats,
    seam_ties,
)

BEST_METRIC = "recon_acc_greedy"  # held-out accuracy of melodies rebuilt from their mean codes
EVAL_FILE = "eval.jsonl"
EVAL_WINDOWS = 1000  # held-out windows scored at each checkpoint: a quick estimate


@dataclass(frozen=True)
class TransferOptions:
    """How a run carries a trained model to new tunes (``core/transfer.py``)."""

    freeze: tuple[str, ...] = ()  # parts of the model kept as they are
    lr_scale: dict[str, float] = field(default_factory=dict)  # part -> learning-rate factor
    adapt_from: str | Path | None = None  # a source melody cache for adversarial adaptation
    domain_adversarial: float = 0.1  # the domain term's weight W


@dataclass
class MelodyTrainConfig:
    bars: int = 2  # window length; the model config's own ``bars`` is set from this
    model: MelodyVAEConfig = field(default_factory=MelodyVAEConfig)
    steps: int = 9000  # 2-bar default: ~65 minutes at 2.3 steps/s on one busy CPU core
    batch_size: int = 128  # MusicVAE: 512; smaller steps more often on a CPU
    lr: float = 1e-3  # MusicVAE
    min_lr: float = 1e-5  # MusicVAE's floor
    # MusicVAE decays lr by 0.9999 a step over ~10x more steps than we take; cosine reaches
    # min_lr at our last step instead. "exponential" (with lr_decay) is MusicVAE's schedule.
    lr_schedule: str = "cosine"
    lr_decay: float = 0.9999  # exponential only: lr = min_lr + (lr - min_lr) * lr_decay^step
    max_beta: float = 0.2  # MusicVAE: 0.5 cat-mel_2bar_big, 0.2 hierdec-mel_16bar
    beta_rate: float = 0.9995  # MusicVAE 0.99999 over ~10x more steps; ramps within our run
    # Bits of KL left unpenalised, so the code can carry a melody's detail (MusicVAE: 0 for
    # cat-mel_2bar_big, 48 for its small 2-bar configs, 256 for hierdec-mel_16bar; its code
    # multiplies by ln 2 to get nats). With 48 nats the KL sat at 49 nats and a 2-bar model
    # rebuilt training and held-out windows equally badly (0.90 teacher-forced on both): the
    # code, not the decoder, was too small. 185 bits = 128 nats, what melody-2bar trained with.
    free_bits: float = 185.0
    sampling_rate: float = 1000.0  # k of the inverse-sigmoid schedule tau(step); MusicVAE 1000
    transpose: int = 5  # random shift up to +-5 semitones per window, so any key is seen
    grad_clip: float = 1.0  # MusicVAE clips the gradient norm at 1
    checkpoint_every: int = 200
    log_every: int = 20
    seed: int = 0


def default_config(bars: int) -> MelodyTrainConfig:
    """MusicVAE's flat set-up for short windows; 16-bar models stack (``StackedTrainConfig``)."""
    if bars > 4:
        raise ValueError(f"{bars}-bar models stack on a 2-bar model: use StackedTrainConfig")
    return MelodyTrainConfig(bars=bars)


def beta(step: int, config: MelodyTrainConfig) -> float:
    """KL weight at ``step``: rises from 0 towards ``max_beta`` (MusicVAE's annealing)."""
    return config.max_beta * (1.0 - config.beta_rate**step)


def kl_cost(kl: Tensor, beta: float, free_bits: float) -> Tensor:
    """beta * max(KL - free bits, 0) per example: KL (in nats) up to ``free_bits`` bits,
    i.e. ``free_bits * ln 2`` nats, is free, as MusicVAE counts it."""
    return beta * (kl - free_bits * math.log(2.0)).clamp(min=0.0)


def teacher_forcing_prob(step: int, config: MelodyTrainConfig) -> float:
    """tau(step) = k / (k + exp(step / k)): 1 at first, then falling to 0 (inverse sigmoid)."""
    k = config.sampling_rate
    return k / (k + math.exp(min(step / k, 700.0)))


def melody_loss(
    config: MelodyTrainConfig, adaptation: Adaptation | None = None
) -> Callable[[nn.Module, Tensor, int], tuple[Tensor, dict[str, Any]]]:
    """The loss function ``train`` calls as ``loss_fn(model, batch, step)``; with an
    ``adaptation`` the domain-adversarial term of ``adapt.py`` is added."""

    def loss_fn(net: nn.Module, batch: Tensor, step: int) -> tuple[Tensor, dict[str, Any]]:
        vae = unwrap(net)
        shift = torch.Generator().manual_seed(_step_seed(config.seed, step))
        x = random_transpose(batch.cpu(), config.transpose, shift).to(batch.device)
        mu, logvar = vae.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()  # reparameterisation trick
        tau = teacher_forcing_prob(step, config)
        logits = net(x, z, tau)
        recon = F.cross_entropy(logits.transpose(1, 2), x, reduction="none").sum(dim=1)
        kl = kl_divergence(mu, logvar)
        b = beta(step, config)
        loss = (recon + kl_cost(kl, b, config.free_bits)).mean()
        metrics = {
            "recon": recon.mean().detach(),
            "kl": kl.mean().detach(),
            "beta": b,
            "tau": tau,
            "accuracy": (logits.argmax(dim=-1) == x).float().mean().detach(),
        }
        if adaptation is not None:
            term, logged = domain_term(vae, adaptation, mu, step, config.seed)
            loss, metrics = loss + term, metrics | logged
        return loss, metrics

    return loss_fn


def train_melody_vae(
    dataset_path: str | Path,
    out_dir: str | Path,
    config: MelodyTrainConfig,
    resume: bool = False,
    init: str | Path | None = None,
    freeze_encoder: bool = False,
    progress: bool = True,
    command: str | None = None,
    options: RunOptions | None = None,
    transfer: TransferOptions | None = None,
) -> TrainResult:
    """Train on the ``config.bars``-bar windows of a melody cache; write ``out_dir``.

    ``init`` is a shipped model name or a model folder to start from (transfer learning;
    its config replaces ``config.model``); ``freeze_encoder`` then trains the decoder only
    (the same as ``transfer.freeze=["encoder"]``). ``transfer`` also scales parts'
    learning rates and adapts adversarially from a source cache (``adapt.py``).
    Held-out accuracy is appended to ``out_dir/eval.jsonl`` at each checkpoint. ``command``
    is recorded in the checkpoint and the model's config (default: this process's argv).
    """
    transfer = transfer or TransferOptions()
    windows, held_out = _training_windows(dataset_path, config.bars)
    if init is not None:
        model = MelodyVAE.from_pretrained(init).train()
        if model.config.bars != config.bars:
            raise UserError(
                f"{init}: a {model.config.bars}-bar model cannot be trained on "
                f"{config.bars}-bar windows"
            )
        config = replace(config, model=model.config)
    else:
        torch.manual_seed(config.seed)  # the initial weights are part of what a seed fixes
        model = MelodyVAE(replace(config.model, bars=config.bars))
    freeze(model, sorted({*transfer.freeze, *(["encoder"] if freeze_encoder else [])}))
    scales = lr_scales(model, transfer.lr_scale)
    adaptation = None
    if transfer.adapt_from is not None:
        source = load_source(transfer.adapt_from, config.bars)
        adaptation = Adaptation(source, transfer.domain_adversarial, config.steps, config.transpose)
        model = AdaptingVAE(model)

    train_config = TrainConfig(
        steps=config.steps,
        batch_size=config.batch_size,
        lr=config.lr,
        lr_schedule=config.lr_schedule,
        lr_decay_rate=config.lr_decay,
        min_lr=config.min_lr,
        grad_clip=config.grad_clip,
        checkpoint_every=config.checkpoint_every,
        log_every=config.log_every,
        seed=config.seed,
    )
    result = train(
        model,
        windows,
        melody_loss(config, adaptation),
        train_config,
        out_dir,
        resume=resume,
        progress=progress,
        command=command,
        make_optimizer=scaled_adamw(scales),
        on_checkpoint=_held_out_scorer(getattr(model, "vae", model), held_out, Path(out_dir)),
        best_metric=BEST_METRIC,
        options=options,
    )
    _export_with_prior(getattr(model, "vae", model), windows, result)
    return result


def _training_windows(dataset_path: str | Path, bars: int) -> tuple[Tensor, np.ndarray]:
    """The training windows of a melody cache, and a spread of its held-out ones."""
    data = load_dataset(dataset_path)
    windows = torch.from_numpy(data.windows(bars, "train"))
    if len(windows) == 0:
        raise UserError(
            f"{dataset_path}: no {bars}-bar training windows "
            "(melodies in 4/4 or 2/4 of at least that length are needed)"
        )
    held_out = data.windows(bars, "eval")
    # Windows come tune by tune, collection by collection: take a spread, not the first ones.
    if len(held_out) > EVAL_WINDOWS:
        held_out = held_out[np.linspace(0, len(held_out) - 1, EVAL_WINDOWS).astype(int)]
    return windows, held_out


def _held_out_scorer(
    model: nn.Module, held_out: np.ndarray, out_dir: Path
) -> Callable[[int, Path], dict[str, float] | None]:
    """A checkpoint callback appending held-out accuracy to ``out_dir/eval.jsonl``; its
    figures mark the best checkpoint (``BEST_METRIC``)."""

    def score(step: int, path: Path) -> dict[str, float] | None:
        if len(held_out) == 0:
            return None
        was_training = model.training
        scores = reconstruction_accuracy(model.eval(), held_out)
        model.train(was_training)
        with (out_dir / EVAL_FILE).open("a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step} | scores) + "\n")
        return scores

    return score


def _step_seed(seed: int, step: int) -> int:
    """One well-mixed seed for (run seed, step): the transposition of each batch."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])


@dataclass
class StackedTrainConfig:
    """The 16-bar recipe: only the top level of a ``StackedMelodyVAE`` trains."""

    bars: int = 16
    model: StackedMelodyVAEConfig = field(
        default_factory=lambda: StackedMelodyVAEConfig(seam_ties=True)
    )
    segment_model: str = "melody-2bar"  # the trained short model the top level stands on
    steps: int = 15000  # ~0.05 s a step on one CPU core, after the 2-bar codes (~5 min)
    batch_size: int = 64
    lr: float = 1e-3
    min_lr: float = 1e-5
    max_beta: float = 0.2  # MusicVAE hierdec-mel_16bar
    beta_rate: float = 0.9995
    free_bits: float = 370.0  # bits; = 256 nats, what melody-16bar trained with (MusicVAE: 256)
    transpose: int = 5
    grad_clip: float = 1.0
    checkpoint_every: int = 500
    log_every: int = 50
    seed: int = 0
    # The tie term's weight. A window's tie cross-entropy is a fraction of a nat beside a
    # thousand for the codes: at weight 1 the code z did not learn to carry the ties (the
    # head caught 1 of 291 tied seams); at 500 the head gives 19 of the 22 held-out ties
    # even odds or better (ROC AUC 0.996 among the seams a tie would change).
    tie_weight: float = 500.0


def segment_posterior_table(
    model: StackedMelodyVAE, windows: Tensor, transpose_max: int, progress: bool = True
) -> Tensor:
    """Each window's segment posteriors in every key within +-transpose_max semitones,
    whether a note is tied into each segment, and whether the segment begins with the pitch
    that sounds before it.

    [N, 2 * transpose_max + 1, segments, 2 * code + 2] (mu, then log sigma^2, then the flags
    of ``stacked.seam_ties`` and ``stacked.seam_repeats``): the frozen 2-bar encoder runs
    once per window and key here instead of at every training step.
    """
    shifts = range(-transpose_max, transpose_max + 1)
    table = []
    with torch.no_grad():
        for chunk in track(windows.split(256), -(-len(windows) // 256), "2-bar codes", progress):
            flags = [
                seam_ties(chunk, model.segment_steps),
                seam_repeats(chunk, model.segment_steps),
            ]
            flags = torch.stack(flags, dim=-1)
            keys = [
                torch.cat([*model.segment_posteriors(transpose(chunk, k)), flags], -1)
                for k in shifts
            ]
            table.append(torch.stack(keys, dim=1))
    return torch.cat(table)


def stacked_loss(
    config: StackedTrainConfig,
) -> Callable[[nn.Module, Tensor, int], tuple[Tensor, dict[str, Any]]]:
    """Gaussian NLL of the predicted segment codes under the 2-bar posteriors, plus the KL,
    plus (with ``seam_ties``) the cross-entropy of the predicted ties at the seams where the
    segment begins with the pitch that sounds, times ``tie_weight``.

    A batch is rows of ``segment_posterior_table``; each window is read in one key, drawn
    by a generator seeded with the step, so a resumed run sees the same batches.
    """

    def loss_fn(net: nn.Module, batch: Tensor, step: int) -> tuple[Tensor, dict[str, Any]]:
        vae = unwrap(net)
        pick = torch.Generator().manual_seed(_step_seed(config.seed, step))
        key = torch.randint(batch.shape[1], (len(batch),), generator=pick).to(batch.device)
        rows = batch[torch.arange(len(batch), device=batch.device), key]
        seg_mu, seg_logvar = rows[..., :-2].chunk(2, -1)
        ties, repeats = rows[..., -2], rows[..., -1]
        seg_std = (0.5 * seg_logvar).exp()
        # The encoder reads codes drawn from the 2-bar posteriors, not their means, so it
        # learns to read any code the 2-bar model would decode to the same segment.
        mu, logvar = vae.encode_codes(seg_mu + torch.randn_like(seg_mu) * seg_std, ties)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        codes, tie_logits = vae.conduct(z, seg_mu.shape[1])
        recon = (0.5 * ((codes - seg_mu) / seg_std).pow(2)).sum(dim=(1, 2))
        metrics = {}
        if tie_logits is not None:  # the seams a tie would change (``seam_repeats``)
            tied = F.binary_cross_entropy_with_logits(
                tie_logits[:, 1:], ties[:, 1:], reduction="none"
            )
            tied = (tied * repeats[:, 1:]).sum(dim=1)
            recon = recon + config.tie_weight * tied
            metrics["tie_nll"] = tied.mean().detach()
        kl = kl_divergence(mu, logvar)
        b = config.max_beta * (1.0 - config.beta_rate**step)
        loss = (recon + kl_cost(kl, b, config.free_bits)).mean()
        return loss, {"recon": recon.mean().detach(), "kl": kl.mean().detach(), "beta": b} | metrics

    return loss_fn


def train_stacked_vae(
    dataset_path: str | Path,
    out_dir: str | Path,
    config: StackedTrainConfig,
    resume: bool = False,
    init: str | Path | None = None,
    freeze_encoder: bool = False,
    progress: bool = True,
    command: str | None = None,
    options: RunOptions | None = None,
) -> TrainResult:
    """Train the top level of a long-melody model on ``config.bars``-bar windows.

    The segment model (``config.segment_model``, a shipped name or a folder) is loaded,
    frozen and saved inside the new model, so the result stands on its own. ``init`` is a
    stacked model to go on from instead (fine-tuning on a person's tunes); with
    ``freeze_encoder`` only its conductor trains.
    """
    windows, held_out = _training_windows(dataset_path, config.bars)
    if init is not None:
        model = StackedMelodyVAE.from_pretrained(init)
        if model.config.bars != config.bars:
            raise UserError(
                f"{init}: a {model.config.bars}-bar model cannot be trained on "
                f"{config.bars}-bar windows"
            )
    else:
        segment = MelodyVAE.from_pretrained(config.segment_model)
        torch.manual_seed(config.seed)
        model = StackedMelodyVAE(replace(config.model, bars=config.bars, segment=segment.config))
        model.segment.load_state_dict(segment.state_dict())
    model.segment.requires_grad_(False)
    if freeze_encoder:
        for part in (model.encoder, model.to_mu, model.to_logvar):
            part.requires_grad_(False)
    model.train()
    train_config = TrainConfig(
        steps=config.steps,
        batch_size=config.batch_size,
        lr=config.lr,
        lr_schedule="cosine",
        min_lr=config.min_lr,
        grad_clip=config.grad_clip,
        checkpoint_every=config.checkpoint_every,
        log_every=config.log_every,
        seed=config.seed,
    )
    table = segment_posterior_table(model, windows, config.transpose, progress)
    result = train(
        model,
        table,
        stacked_loss(config),
        train_config,
        out_dir,
        resume=resume,
        progress=progress,
        command=command,
        on_checkpoint=_held_out_scorer(model, held_out, Path(out_dir)),
        best_metric=BEST_METRIC,
        options=options,
    )
    _export_with_prior(model, windows, result)
    return result


def _export_with_prior(model: MelodyVAE | StackedMelodyVAE, windows: Tensor, result: TrainResult):
    """Fit the prior to the training windows' codes and save the model folder again, so the
    exported model draws its codes where the training melodies' codes lie (``prior.py``)."""
    model.eval().fit_prior(windows)
    if is_main_process() and result.model_dir is not None:  # rank 0 alone writes the folder
        record = read_config(result.model_dir)
        facts = {k: v for k, v in record.items() if k not in ("model_type", "config")}
        facts.pop("museforge_version", None)
        model.save_pretrained(result.model_dir, extra=facts)
