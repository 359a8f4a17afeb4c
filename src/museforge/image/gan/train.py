"""Train a DCGAN or a StyleGAN2 (with ADA) through museforge's one training loop.

The loop steps one optimizer on one loss; a GAN has two players. They fit because each
player's loss touches only its own weights, so one Adam with two parameter groups (G's
and D's) and one backward per step on ``d_loss + g_loss`` update both at once. This is
simultaneous gradient descent: G and D both step from the weights of the step before,
where the papers alternate (D steps, then G steps against the new D).

- ``d_loss`` (Goodfellow et al. 2014, logistic) scores augmented reals and *detached*
  fakes, so none of its gradient reaches G. Every ``r1_interval``-th step it also carries
  the R1 penalty (Mescheder et al. 2018) weighted by the interval, as StyleGAN2's lazy
  regularisation does; since the penalty rides on an ordinary step rather than taking a
  step of its own, Adam's settings need no ``lazy_adam`` correction.
- ``g_loss`` (non-saturating) scores the same augmented fakes through a copy of D whose
  weights are detached (``torch.func.functional_call``), so its gradient reaches G
  through the images and never D's weights.

StyleGAN2 extras, as in Karras et al. 2020: style mixing regularisation (``mixing_prob``),
the ``w_avg`` of the truncation trick updated by each G pass, and ``G_ema``, the moving
average of G's weights that sampling uses. ``G_ema`` is updated inside the step, before
the optimizer moves G, so it trails G by one step (and misses the last one). ADA
(Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data") tunes
the augmentation probability ``p`` from D's logits on the reals; ``p`` and the rest of
ADA's state are buffers of the model the loop trains, so a checkpoint holds them and a
resumed run goes on exactly where it stopped.

Transfer (``core/transfer.py``, the recipe every medium shares): ``init`` starts from a
trained model, ``GANTransfer.freeze`` keeps named parts as they are (the model's
``transfer_parts()``: G, StyleGAN's mapping and synthesis networks, D, D's layers ``D.0``
.. from the image inwards; Freeze-D is the first few of those), ``lr_scale`` gives parts
their own learning rates, and ``adapt_from`` adds adversarial feature alignment on D
(DANN, Ganin et al. 2016): a small domain classifier tells D's features of real source
images (the data the ``init`` model learnt) from those of real target images, and a
gradient reversal layer, weighted by DANN's lambda_p over the run, makes D's features
learn to fool it, on every step D trains; the target needs no labels. The domain term's
loss and the classifier's batch accuracy are logged as ``domain_loss`` and ``domain_acc``.

Randomness: the latents, style mixing, mirroring and augmentations of step k come from
a generator seeded by (seed, k); StyleGAN's per-pixel noise uses torch's global RNG,
which the loop checkpoints. A run that is stopped and resumed ends bit for bit where an
uninterrupted one does (on the CPU).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.utils.data import TensorDataset

from museforge.core.atomic import atomic_write_text
from museforge.core.training import CHECKPOINT_FILE, RunOptions, TrainConfig, TrainResult, train
from museforge.core.transfer import (
    DomainClassifier,
    dann_lambda,
    domain_adversarial_loss,
    freeze,
    hold,
    lr_scales,
)
from museforge.errors import UserError
from museforge.image.data import RESOLUTIONS, load_image_dataset, mirror_batch, to_float_pixels
from museforge.image.gan import losses
from museforge.image.gan.augment import AdaConfig, AdaptiveAugment
from museforge.image.gan.dcgan import DCGAN, DCGANConfig, DCGANDiscriminator
from museforge.image.gan.generate import load_gan
from museforge.image.gan.projected import ProjectedDiscriminator
from museforge.image.gan.stylegan import (
    DISCRIMINATORS,
    StyleGAN,
    StyleGANConfig,
    StyleGANDiscriminator,
)

ARCHS = ("dcgan", "stylegan")
GAN = DCGAN | StyleGAN


@dataclass
class GANTrainConfig:
    """A GAN training recipe; ``default_config`` gives each architecture's paper settings."""

    arch: str = "stylegan"  # dcgan | stylegan
    res: int = 32  # image side; the model config's own ``res`` is set from this
    model: DCGANConfig | StyleGANConfig = field(default_factory=StyleGANConfig)
    # 32 px, batch 16, one busy CPU thread: StyleGAN ~3.6 s a step (5 h), DCGAN ~0.2 s (17 min)
    steps: int = 5000
    batch_size: int = 16  # small batches: CPUs, and the small data sets ADA is made for
    lr: float = 0.002  # StyleGAN2 (config F); ADA's small-data settings use 0.0025
    betas: tuple[float, float] = (0.0, 0.99)  # StyleGAN2: no momentum
    r1_gamma: float | None = None  # None: ADA's rule, losses.r1_gamma(res, batch_size); 0: off
    r1_interval: int = losses.R1_INTERVAL  # lazy R1 every 16 steps (StyleGAN2)
    ada: bool = True  # adaptive augmentation of everything D sees
    ada_config: AdaConfig = field(default_factory=AdaConfig)
    ema_decay: float = 0.999  # StyleGAN only: G_ema per step; ~ a 10k-image half-life at 16
    ema_rampup: float | None = 0.05  # StyleGAN2-ADA: half-life at most 5 % of images seen
    mixing_prob: float = 0.9  # StyleGAN only: style mixing regularisation (Karras et al.)
    # alternate: odd steps update D alone, even steps G alone against the D just updated,
    # as the papers do; False: both at once from the same weights (simultaneous)
    alternate: bool = False
    conditional: bool = False  # G and D take the sub-folder of each image as its class
    checkpoint_every: int = 500
    log_every: int = 50
    seed: int = 0


def default_config(arch: str, res: int, discriminator: str = "stylegan") -> GANTrainConfig:
    """The recipe of each paper: StyleGAN2 with ADA and R1, or Radford et al.'s DCGAN.

    ``discriminator`` "projected" gives the StyleGAN a Projected GAN's D (Sauer et al.
    2021, ``projected.py``), without R1, as in that paper: its D is smooth by spectral
    normalisation, and a gradient penalty through the feature network costs a second
    backward pass through it.
    """
    _check_arch(arch)
    if res not in RESOLUTIONS:
        raise UserError(f"res must be one of {', '.join(map(str, RESOLUTIONS))}, not {res}")
    if discriminator not in DISCRIMINATORS:
        raise UserError(
            f"discriminator must be one of {', '.join(DISCRIMINATORS)}, not {discriminator!r}"
        )
    if discriminator != "stylegan" and arch != "stylegan":
        raise UserError(f"the {discriminator} discriminator trains a stylegan, not a {arch}")
    if arch == "stylegan":
        model = StyleGANConfig(res=res, discriminator=discriminator)
        r1 = 0.0 if discriminator == "projected" else None
        return GANTrainConfig(arch=arch, res=res, model=model, r1_gamma=r1)
    return GANTrainConfig(
        arch=arch,
        res=res,
        model=DCGANConfig(res=res),
        lr=0.0002,  # Radford et al.
        betas=(0.5, 0.999),  # Radford et al.: beta1 0.9 made training oscillate
        r1_gamma=0.0,  # Radford et al. use no gradient penalty
        ada=False,  # DCGAN trains on clean images
        mixing_prob=0.0,  # no styles to mix
    )


@dataclass
class GANTransfer:
    """How a run carries a trained GAN to new images (see the module docstring)."""

    freeze: tuple[str, ...] = ()  # parts of the model kept as they are
    lr_scale: dict[str, float] = field(default_factory=dict)  # part -> learning-rate factor
    adapt_from: str | Path | None = None  # an image cache of the source images
    domain_adversarial: float = 0.1  # the domain term's weight W


SOURCE_STREAM = 7  # keeps the source batches' draws apart from the step's other draws


TRAIN_FACES = 90  # portrait-32 learns lfw_subset's faces 0-89; 90-99 stay new for transfer
PORTRAIT_CHANNELS = 64  # 0.4 M weights in G: ~0.23 s a step of 16 images on one CPU thread


def portrait_config(discriminator: str = "stylegan") -> GANTrainConfig:
    """portrait-32's recipe: the 32 px StyleGAN2-ADA, 64 channels a layer, for 90 faces."""
    config = default_config("stylegan", 32, discriminator)
    return replace(config, model=replace(config.model, channel_max=PORTRAIT_CHANNELS))


class GANTraining(nn.Module):
    """The model the loop trains: a GAN plus ADA's state; ``forward`` is one step's losses.

    ``forward(batch, step)`` returns ``(d_loss, g_loss, metrics)``: each loss reaches only
    its own network's weights (see the module docstring). The losses live in ``forward``
    rather than in the loss function so that under DistributedDataParallel the whole step
    runs through the wrapper's forward. ``save_pretrained`` writes the GAN alone, so the
    exported folder loads with ``StyleGAN.from_pretrained`` or ``DCGAN.from_pretrained``.
    """

    def __init__(
        self,
        gan: GAN,
        config: GANTrainConfig,
        *,
        mirror: bool,
        source: Tensor | None = None,
        domain_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.gan = gan
        self.train_config = config
        self.mirror = mirror  # x-flip half the reals, as the cache asks
        # adversarial adaptation: uint8 source images (not a buffer: checkpoints stay small)
        self.source, self.domain_weight = source, domain_weight
        self.domain = None
        if source is not None:
            with torch.no_grad(), torch.random.fork_rng():
                torch.manual_seed(config.seed)  # the classifier's start is part of the seed
                width = discriminator_features(gan.D, to_float_pixels(source[:2])).shape[1]
                self.domain = DomainClassifier(width)
        self.ada = AdaptiveAugment(config.ada_config)  # its state lives in the buffers below
        self.register_buffer("ada_p", torch.zeros(()))
        self.register_buffer("ada_signs", torch.zeros(()))  # sum of sign(D(real)) since a move
        self.register_buffer("ada_count", torch.zeros((), dtype=torch.long))
        self.register_buffer("ada_calls", torch.zeros((), dtype=torch.long))
        self.register_buffer("r1_last", torch.zeros(()))  # the last R1 penalty, for the logs

    @property
    def config(self) -> DCGANConfig | StyleGANConfig:
        """The GAN's config: the loop records it and checks it on resume."""
        return self.gan.config

    @property
    def model_type(self) -> str:
        return self.gan.model_type

    def save_pretrained(
        self, directory: str | Path, *, extra: dict[str, Any] | None = None
    ) -> Path:
        recipe = {"gan_train_config": asdict(self.train_config)}
        return self.gan.save_pretrained(directory, extra=(extra or {}) | recipe)

    def forward(
        self, batch: Tensor | tuple[Tensor, Tensor], step: int
    ) -> tuple[Tensor, Tensor, dict[str, Any]]:
        """One step's losses for a batch of uint8 images, or of (images, class labels)
        when the GAN is conditional; fakes then get classes drawn at random."""
        c, D = self.train_config, self.gan.D
        gen = torch.Generator().manual_seed(_step_seed(c.seed, step))
        images, real_labels = batch if isinstance(batch, tuple | list) else (batch, None)
        real = to_float_pixels(images)
        if self.mirror:
            real = mirror_batch(real, gen)
        classes = self.gan.config.num_classes
        fake_labels = None
        if classes:
            fake_labels = torch.randint(classes, (real.shape[0],), generator=gen).to(real.device)
        # alternating: odd steps train D on fakes drawn without a graph, even steps train G
        train_d = not c.alternate or step % 2 == 1
        train_g = not c.alternate or step % 2 == 0
        with torch.set_grad_enabled(train_g and torch.is_grad_enabled()):
            fake = self._generate(real.shape[0], gen, real.device, fake_labels)
        self._load_ada()
        fake_seen = None
        zero = real.new_zeros(())
        d_total, g_loss, metrics = zero, zero, {}

        if train_d:  # augmented reals against detached fakes, plus the lazy R1 penalty
            d_step = (step + 1) // 2 if c.alternate else step
            gamma = losses.r1_gamma(c.res, c.batch_size) if c.r1_gamma is None else c.r1_gamma
            regularise = gamma > 0 and d_step % c.r1_interval == 0
            real = real.detach().requires_grad_(regularise)
            real_logits = D(self.ada(real, gen), real_labels)
            fake_seen = self.ada(fake, gen)
            fake_logits = D(fake_seen.detach(), fake_labels)
            d_loss = losses.d_loss(real_logits, fake_logits)
            d_total = d_loss
            if regularise:
                penalty = losses.r1_penalty(real, real_logits)
                d_total = d_total + penalty * (gamma / 2 * c.r1_interval)  # as losses.r1_loss
                self.r1_last.copy_(penalty.detach())
            if self.domain is not None:
                term, logged = self._domain_term(real.detach(), step)
                d_total = d_total + term
                metrics |= logged
            if c.ada:
                self.ada.update(real_logits)
                self._store_ada()
            metrics |= {
                "d_loss": d_loss.detach(),
                "real_logits": real_logits.detach().mean(),
                "fake_logits": fake_logits.detach().mean(),
                "r_t": real_logits.detach().sign().mean(),  # ADA's overfitting measure
            }

        if train_g:  # the same fakes through D's weights detached, so only G learns
            fake_seen = self.ada(fake, gen) if fake_seen is None else fake_seen
            frozen = {name: p.detach() for name, p in D.named_parameters()}
            g_logits = functional_call(
                D, frozen | dict(D.named_buffers()), (fake_seen, fake_labels)
            )
            g_loss = losses.g_loss(g_logits)
            metrics["g_loss"] = g_loss.detach()
            if isinstance(self.gan, StyleGAN):
                self.gan.update_ema(self._ema_decay(step))
        return d_total, g_loss, metrics | {"r1": self.r1_last.clone(), "ada_p": self.ada.p}

    def _domain_term(self, target: Tensor, step: int) -> tuple[Tensor, dict[str, Any]]:
        """W * the domain classifier's loss on D's features of real source and target
        images, seen through a gradient reversal of DANN's lambda_p at this step."""
        c = self.train_config
        mixed = np.random.SeedSequence([c.seed, step, SOURCE_STREAM]).generate_state(1)[0]
        gen = torch.Generator().manual_seed(int(mixed))
        rows = torch.randint(len(self.source), (target.shape[0],), generator=gen)
        source = to_float_pixels(self.source[rows]).to(target.device)
        if self.mirror:
            source = mirror_batch(source, gen)
        D = self.gan.D
        reversal = dann_lambda(step / c.steps)
        loss, accuracy = domain_adversarial_loss(
            self.domain,
            discriminator_features(D, source),
            discriminator_features(D, target),
            reversal,
        )
        logged = {"domain_loss": loss.detach(), "domain_acc": accuracy, "domain_lambda": reversal}
        return self.domain_weight * loss, logged

    def _generate(
        self, n: int, gen: torch.Generator, device: torch.device, labels: Tensor | None
    ) -> Tensor:
        """A batch of fakes; StyleGAN's G moves ``w_avg`` and mixes styles as it goes."""
        G, c = self.gan.G, self.gan.config
        z = torch.randn(n, c.z_dim, generator=gen).to(device)
        if isinstance(self.gan, DCGAN):
            return G(z, labels)
        ws = G.mapping(z, labels, update_w_avg=True)
        if torch.rand((), generator=gen) < self.train_config.mixing_prob:
            # StyleGAN2: layers from a random cut-off on take a second latent's w
            cutoff = int(torch.randint(1, G.num_ws, (), generator=gen))
            z2 = torch.randn(n, c.z_dim, generator=gen).to(device)
            ws = torch.cat([ws[:, :cutoff], G.mapping(z2, labels)[:, cutoff:]], dim=1)
        return G.synthesis(ws, noise_mode="random")

    def _ema_decay(self, step: int) -> float:
        """StyleGAN2-ADA's ramp-up: early on, G_ema's half-life is a fraction of the images
        seen so far, so a short run's G_ema is not stuck near the random start."""
        c = self.train_config
        if c.ema_rampup is None:
            return c.ema_decay
        return min(c.ema_decay, 0.5 ** (1.0 / (c.ema_rampup * step)))

    def _load_ada(self) -> None:
        self.ada.load_state_dict(
            {
                "p": float(self.ada_p),
                "r_t": None,
                "sign_sum": float(self.ada_signs),
                "count": int(self.ada_count),
                "calls": int(self.ada_calls),
            }
        )

    def _store_ada(self) -> None:
        state = self.ada.state_dict()
        self.ada_p.fill_(state["p"])
        self.ada_signs.fill_(state["sign_sum"])
        self.ada_count.fill_(state["count"])
        self.ada_calls.fill_(state["calls"])


def gan_loss(net: nn.Module, batch: Tensor, step: int) -> tuple[Tensor, dict[str, Any]]:
    """The loss the loop minimises: ``d_loss + g_loss``, whose parts touch disjoint weights."""
    d_loss, g_loss, metrics = net(batch, step)
    return d_loss + g_loss, metrics


def gan_optimizer(
    training: GANTraining, config: GANTrainConfig, scales: dict[int, float] | None = None
) -> Callable[[list[nn.Parameter], TrainConfig], torch.optim.Optimizer]:
    """``make_optimizer`` for the loop: one Adam, parameter groups for G, for D and for the
    domain classifier when there is one, each split by learning-rate scale
    (``{id(parameter): scale}``, ``core.transfer.lr_scales``).

    G_ema takes no gradient and frozen parts (Freeze-D, ``--freeze``) none either; neither
    is in it.
    """
    scales = scales or {}

    def make(params: list[nn.Parameter], train_config: TrainConfig) -> torch.optim.Optimizer:
        trainable = {id(p) for p in params}
        nets = [("G", training.gan.G), ("D", training.gan.D)]
        if training.domain is not None:
            nets.append(("domain", training.domain))
        groups = []
        for name, net in nets:
            by_scale: dict[float, list[nn.Parameter]] = {}
            for p in net.parameters():
                if id(p) in trainable:
                    by_scale.setdefault(scales.get(id(p), 1.0), []).append(p)
            groups += [
                {"name": name, "params": ps, "lr": train_config.lr * scale, "lr_scale": scale}
                for scale, ps in sorted(by_scale.items(), key=lambda kv: (kv[0] != 1.0, kv[0]))
            ]
        if sum(len(g["params"]) for g in groups) != len(params):
            raise ValueError("a trainable parameter belongs to neither G nor D")
        return torch.optim.Adam(groups, lr=train_config.lr, betas=config.betas)

    return make


def discriminator_layers(D: nn.Module) -> list[nn.Module]:
    """D's layers from the image inwards: what Freeze-D freezes the first of."""
    if isinstance(D, StyleGANDiscriminator | DCGANDiscriminator):
        return D.layers()
    raise TypeError(f"not a museforge discriminator: {type(D).__name__}")


def discriminator_features(D: nn.Module, images: Tensor) -> Tensor:
    """``[N, F]``: the features D's last layer reads, for images in -1..1."""
    if isinstance(D, StyleGANDiscriminator | DCGANDiscriminator):
        return D.features(images)
    raise UserError(
        "adversarial adaptation needs the stylegan or dcgan discriminator; a projected D's "
        "features come from a frozen ImageNet network"
    )


def freeze_discriminator(gan: GAN, layers: int) -> None:
    """Freeze-D (Mo, Cho & Shin 2020, "Freeze the Discriminator: a Simple Baseline for
    Fine-Tuning GANs"): keep D's first ``layers`` layers, which see the pixels, as the
    source model learnt them, and fine-tune the rest."""
    if layers and isinstance(gan.D, ProjectedDiscriminator):
        raise UserError(
            "Freeze-D needs the stylegan discriminator; a projected D has no pixel layers"
        )
    if not layers:
        return
    stack = discriminator_layers(gan.D)
    if not 0 <= layers < len(stack):
        raise UserError(
            f"freeze_d must lie in 0..{len(stack) - 1} (this D has {len(stack)} layers), "
            f"not {layers}"
        )
    for layer in stack[:layers]:
        hold(layer)


def train_gan(
    dataset_path: str | Path,
    out_dir: str | Path,
    config: GANTrainConfig,
    resume: bool = False,
    init: str | Path | None = None,
    freeze_d: int = 0,
    progress: bool = True,
    command: str | None = None,
    options: RunOptions | None = None,
    transfer: GANTransfer | None = None,
) -> TrainResult:
    """Train on an image cache (``image.data.build_image_dataset``); write ``out_dir``.

    ``init`` is a model folder to start from (transfer learning; its config replaces
    ``config.model``) and ``freeze_d`` the number of D's first layers it keeps frozen
    (the same as ``transfer.freeze`` of ``D.0`` .. ``D.{freeze_d - 1}``). ``transfer``
    also freezes other parts, scales parts' learning rates and adapts adversarially from
    an image cache of the source images (see the module docstring).
    ``out_dir/model`` loads with ``load_gan``. With ``config.conditional`` the cache's
    labels (its sub-folders) become the classes of G and D. ``command`` is recorded in the checkpoint (default: this process's
    argv).
    """
    _check_config(config)
    transfer = transfer or GANTransfer()
    data = load_image_dataset(dataset_path)
    if config.conditional and len(data.label_names) < 2:
        raise UserError(
            f"{dataset_path}: conditional training needs images in at least 2 sub-folders "
            f"(one per class); found {len(data.label_names)} class"
        )
    if data.res != config.res:
        raise UserError(
            f"{dataset_path}: its images are {data.res} px, not {config.res} "
            f"(train with res {data.res}, or build a {config.res} px cache)"
        )
    if init is not None:
        gan = load_gan(init).train()
        if gan.model_type != config.arch or gan.config.res != config.res:
            raise UserError(
                f"{init}: a {gan.config.res} px {gan.model_type} model cannot start a "
                f"{config.res} px {config.arch} run"
            )
        config = replace(config, model=gan.config)
        if config.conditional and gan.config.num_classes != len(data.label_names):
            raise UserError(
                f"{init}: a model of {gan.config.num_classes} classes cannot be fine-tuned "
                f"on {len(data.label_names)} classes"
            )
    else:
        if freeze_d:
            raise UserError("freeze_d needs init: a trained model whose D layers to keep")
        if transfer.freeze or transfer.adapt_from is not None:
            raise UserError("freeze and adapt_from need init: the trained model to carry over")
        torch.manual_seed(config.seed)  # the initial weights are part of what a seed fixes
        classes = len(data.label_names) if config.conditional else 0
        model_config = replace(config.model, res=config.res, num_classes=classes)
        gan = StyleGAN(model_config) if config.arch == "stylegan" else DCGAN(model_config)
    freeze_discriminator(gan, freeze_d)
    freeze(gan, list(transfer.freeze))
    scales = lr_scales(gan, transfer.lr_scale)
    source = None
    if transfer.adapt_from is not None:
        source = _source_images(transfer.adapt_from, config.res)
    training = GANTraining(
        gan, config, mirror=data.mirror, source=source, domain_weight=transfer.domain_adversarial
    )

    train_config = TrainConfig(
        steps=config.steps,
        batch_size=config.batch_size,
        lr=config.lr,
        grad_clip=None,  # neither paper clips; a joint norm would tie G's step to D's
        checkpoint_every=config.checkpoint_every,
        log_every=config.log_every,
        seed=config.seed,
    )
    images = data.images  # uint8 batches; forward makes them float
    return train(
        training,
        TensorDataset(images, data.labels) if config.conditional else images,
        gan_loss,
        train_config,
        out_dir,
        resume=resume,
        command=command,
        progress=progress,
        make_optimizer=gan_optimizer(training, config, scales),
        options=options,
    )


def _source_images(path: str | Path, res: int) -> Tensor:
    """The uint8 images of a source image cache, at the run's size."""
    source = load_image_dataset(path)
    if source.res != res:
        raise UserError(f"{path}: its images are {source.res} px, not {res}")
    if len(source.images) < 2:
        raise UserError(f"{path}: adapting needs at least 2 source images")
    return source.images


CPU_FILE = "cpu_seconds.json"


def train_for_cpu_time(
    dataset_path: str | Path,
    out_dir: str | Path,
    config: GANTrainConfig,
    seconds: float,
    *,
    chunk: int = 100,
    init: str | Path | None = None,
    command: str | None = None,
) -> dict[str, float]:
    """Train until ``seconds`` of this process's CPU time are spent on it, in chunks of
    ``chunk`` steps that resume exactly; ``{"steps", "cpu_seconds"}``.

    CPU time rather than wall time, so that runs compared on a shared machine get the
    same work whatever else runs beside them. ``out_dir/cpu_seconds.json`` keeps the
    count, so a run stopped in ``out_dir`` goes on from where it was. ``init`` starts the
    first chunk from a model folder, as ``train_gan``'s does.
    """
    if chunk < 1 or seconds <= 0:
        raise UserError(f"chunk must be at least 1 and seconds positive, got {chunk}, {seconds}")
    out_dir = Path(out_dir)
    if init is not None:  # every chunk after the first resumes with the model's own config
        config = replace(config, model=load_gan(init).config)
    done_file = out_dir / CPU_FILE
    spent = json.loads(done_file.read_text()) if done_file.is_file() else {}
    cpu, steps = spent.get("cpu_seconds", 0.0), spent.get("steps", 0)
    while cpu < seconds:
        start = time.process_time()
        steps += chunk
        resume = (out_dir / CHECKPOINT_FILE).is_file()
        train_gan(
            dataset_path,
            out_dir,
            replace(config, steps=steps),
            resume=resume,
            init=None if resume else init,
            progress=False,
            command=command,
        )
        cpu += time.process_time() - start
        atomic_write_text(done_file, json.dumps({"steps": steps, "cpu_seconds": cpu}) + "\n")
    return {"steps": steps, "cpu_seconds": cpu}


def _check_arch(arch: str) -> None:
    if arch not in ARCHS:
        raise UserError(f"arch must be one of {', '.join(ARCHS)}, not {arch!r}")


def _check_config(config: GANTrainConfig) -> None:
    """Reject settings that cannot train, in words a person can act on."""
    _check_arch(config.arch)
    expected = StyleGANConfig if config.arch == "stylegan" else DCGANConfig
    if not isinstance(config.model, expected):
        raise UserError(f"a {config.arch} run needs a {expected.__name__} as its model config")
    if config.res not in RESOLUTIONS:
        raise UserError(f"res must be one of {', '.join(map(str, RESOLUTIONS))}, not {config.res}")
    if not config.lr > 0 or not all(0 <= b < 1 for b in config.betas):
        raise UserError(f"lr must be positive and betas in [0, 1), got {config.lr}, {config.betas}")
    if config.r1_gamma is not None and config.r1_gamma < 0:
        raise UserError(f"r1_gamma must be 0 or more, got {config.r1_gamma}")
    if config.r1_interval < 1:
        raise UserError(f"r1_interval must be at least 1, got {config.r1_interval}")
    if not 0 < config.ema_decay < 1 or (config.ema_rampup is not None and config.ema_rampup <= 0):
        raise UserError("ema_decay must lie in (0, 1) and ema_rampup be positive or None")
    if not 0 <= config.mixing_prob <= 1:
        raise UserError(f"mixing_prob must lie in [0, 1], got {config.mixing_prob}")


def _step_seed(seed: int, step: int) -> int:
    """One well-mixed seed for (run seed, step): the random draws of that step."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])
