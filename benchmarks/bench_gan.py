"""GAN figures (issue acceptance), on the 100 faces of scikit-image's ``lfw_subset``.

1. Training speed: images per second of a training step at 32 and 64 px, for DCGAN and
   StyleGAN, each with its ``default_config`` model and batch size. A step is what the
   training loop does: ``gan_loss`` (D's and G's losses, ADA, G_ema), one backward and
   one Adam step over ``gan_optimizer``'s two parameter groups. Each figure is the best of
   a few steps after a warm-up step. StyleGAN's lazy R1 runs every ``r1_interval``-th
   step, so one R1 step is timed apart and ``step_s`` is the average over an interval.
   Beside them, in the same process, a textbook DCGAN step written here (pytorch/examples'
   G and D at our 32 px sizes, non-saturating loss, Adam, one D step then one G step),
   its steps taking turns with ours: ``ratio_vs_reference`` is our 32 px DCGAN step over
   it (1.0 = our path costs nothing; below 1, ours is faster).
2. Transfer to 10 new faces, faces 90-99 of ``lfw_subset`` (new only to a source model
   trained without them, e.g. on faces 0-89): trained on for the same number of steps
   from scratch and from ``--init`` with Freeze-D; each run's samples are scored by SWD
   against the 10 faces, beside the real-against-real floor. Lower is better; the issue
   asks for fine-tuning to beat scratch. ``--new-faces`` takes another folder of images
   (faces a model trained on all 100 has not seen). Without the default model the section
   says so.
3. Discriminators at equal CPU time: portrait-32's recipe (``train.portrait_config``)
   trained from scratch on faces 0-89 with StyleGAN2-ADA's own D and with the projected
   D (Sauer et al. 2021, ``projected.py``), each for ``--compare-minutes`` of this
   process's CPU time, then measured as ``image gan evaluate`` measures: KID +- its
   standard error beside real-vs-real, MS-SSIM beside the real faces', SWD beside its
   floor. ``--only discriminators`` runs this section alone; ``--runs`` keeps the runs.

``--quick`` times one step of each after the warm-up and trains 4 transfer steps, to
check the script. The full run's transfer costs ``2 x --transfer-steps`` steps of the
source's architecture: a 32 px StyleGAN takes seconds a step on a CPU, so the default
300 steps take tens of minutes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from museforge.core.checkpoints import shipped_models
from museforge.core.training import TrainConfig
from museforge.errors import UserError
from museforge.image.data import (
    LFW_SOURCE,
    build_image_dataset,
    load_image_dataset,
    to_float_pixels,
)
from museforge.image.gan import losses
from museforge.image.gan.dcgan import DCGAN, DCGANConfig
from museforge.image.gan.explore import evaluate
from museforge.image.gan.generate import load_gan, sample
from museforge.image.gan.metrics import sliced_wasserstein_distance
from museforge.image.gan.stylegan import StyleGAN
from museforge.image.gan.train import (
    DISCRIMINATORS,
    TRAIN_FACES,
    GANTraining,
    default_config,
    gan_loss,
    gan_optimizer,
    portrait_config,
    train_for_cpu_time,
    train_gan,
)

SPEED_RESOLUTIONS = (32, 64)
DEFAULT_INIT = "portrait-32"
NEW_FACES = range(90, 100)  # the last 10 of lfw_subset's 100 faces (the rest are not faces)
FREEZE_D = 2  # Mo et al. freeze D's first, high-resolution layers; with 10 images, two
SEED = 0
COMPARED = ("kid", "kid_std", "kid_real", "ms_ssim", "ms_ssim_real", "swd", "swd_floor", "nn_ratio")


@dataclass
class Settings:
    quick: bool
    repeats: int  # timed steps per figure, after one warm-up step
    transfer_steps: int
    samples: int  # generated images scored by SWD
    compare_minutes: float  # CPU minutes of each discriminator's run
    compare_chunk: int  # steps between checks of the CPU time spent
    compare_samples: int  # samples each discriminator's run is measured on


def settings(quick: bool, transfer_steps: int | None, minutes: float | None) -> Settings:
    if quick:
        return Settings(quick, 1, transfer_steps or 4, 40, minutes or 0.001, 2, 20)
    return Settings(quick, 5, transfer_steps or 300, 200, minutes or 10.0, 100, 100)


# --- 1. training speed --------------------------------------------------------------------


# name -> (architecture, StyleGAN channel_max or None for the recipe's own): the paper-sized
# StyleGAN and the narrow one portrait-32 is trained as (scripts/train_gan_models.py)
VARIANTS = {
    "dcgan": ("dcgan", None),
    "stylegan": ("stylegan", None),
    "stylegan-c64": ("stylegan", 64),
}
QUICK_VARIANTS = ("dcgan", "stylegan-c64")


def our_step(variant: str, res: int, faces: Tensor) -> tuple[Callable[[int], None], int, int]:
    """One training step of the loop's own path as ``step(k)``, its batch size and R1 interval
    (0 when the recipe has no R1)."""
    arch, channels = VARIANTS[variant]
    config = default_config(arch, res)
    if channels is not None:
        config = replace(config, model=replace(config.model, channel_max=channels))
    torch.manual_seed(SEED)
    gan = StyleGAN(config.model) if arch == "stylegan" else DCGAN(config.model)
    training = GANTraining(gan, config, mirror=True)
    trainable = [p for p in training.parameters() if p.requires_grad]
    optimizer = gan_optimizer(training, config)(trainable, TrainConfig(lr=config.lr))
    batch = faces[: config.batch_size]

    def step(k: int) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss, _ = gan_loss(training, batch, k)
        loss.backward()
        optimizer.step()

    gamma = losses.r1_gamma(res, config.batch_size) if config.r1_gamma is None else config.r1_gamma
    return step, config.batch_size, config.r1_interval if gamma > 0 else 0


def seconds(step: Callable[[int], None], k: int) -> float:
    start = time.perf_counter()
    step(k)
    return time.perf_counter() - start


def time_steps(steps: list[Callable[[int], None]], repeats: int) -> list[float]:
    """The best of ``repeats`` plain steps of each, after a warm-up step.

    The steps take turns, so a busy moment on a shared machine falls on all of them alike
    and their ratio holds even when their absolute times do not.
    """
    for step in steps:
        step(1)  # step 1 is never an R1 step
    best = [float("inf")] * len(steps)
    for k in range(2, repeats + 2):
        best = [min(b, seconds(step, k)) for b, step in zip(best, steps, strict=True)]
    return best


def reference_dcgan(z_dim: int, width: int) -> tuple[nn.Module, nn.Module]:
    """pytorch/examples' DCGAN G and D, one stage shorter for 32 px: the widths of ours."""

    def up(c_in: int, c_out: int, stride: int = 2, pad: int = 1) -> list[nn.Module]:
        return [
            nn.ConvTranspose2d(c_in, c_out, 4, stride, pad, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(True),
        ]

    def down(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out)]

    G = nn.Sequential(
        *up(z_dim, width * 8, 1, 0),  # 4 x 4
        *up(width * 8, width * 4),
        *up(width * 4, width * 2),
        nn.ConvTranspose2d(width * 2, 3, 4, 2, 1, bias=False),  # 32 x 32
        nn.Tanh(),
    )
    D = nn.Sequential(
        nn.Conv2d(3, width * 2, 4, 2, 1, bias=False),  # 16 x 16
        nn.LeakyReLU(0.2, True),
        *down(width * 2, width * 4),
        nn.LeakyReLU(0.2, True),
        *down(width * 4, width * 8),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(width * 8, 1, 4, 1, 0, bias=False),  # one logit
        nn.Flatten(0),
    )
    for module in (*G.modules(), *D.modules()):  # pytorch/examples' weights_init
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(module.weight, 0.0, 0.02)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, 0.02)
            nn.init.zeros_(module.bias)
    return G, D


def reference_step(faces: Tensor) -> tuple[Callable[[int], None], int]:
    """A textbook DCGAN step at 32 px: D on reals and detached fakes, then G through D."""
    config = default_config("dcgan", 32)
    model: DCGANConfig = config.model
    torch.manual_seed(SEED)
    G, D = reference_dcgan(model.z_dim, model.width)
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr, betas=config.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr, betas=config.betas)
    real = to_float_pixels(faces[: config.batch_size])
    ones, zeros = torch.ones(real.shape[0]), torch.zeros(real.shape[0])

    def step(_: int) -> None:
        fake = G(torch.randn(real.shape[0], model.z_dim, 1, 1))
        opt_d.zero_grad(set_to_none=True)
        d_loss = F.binary_cross_entropy_with_logits(D(real), ones)
        d_loss = d_loss + F.binary_cross_entropy_with_logits(D(fake.detach()), zeros)
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        F.binary_cross_entropy_with_logits(D(fake), ones).backward()  # non-saturating
        opt_g.step()

    return step, config.batch_size


def speed(s: Settings, tmp: Path) -> dict:
    faces = {
        res: load_image_dataset(
            build_image_dataset(LFW_SOURCE, tmp / f"faces-{res}.npz", res, progress=False)
        ).images
        for res in SPEED_RESOLUTIONS
    }
    variants = QUICK_VARIANTS if s.quick else tuple(VARIANTS)
    figures: dict = {"speed": {variant: {} for variant in variants}}
    for arch, res in itertools.product(variants, SPEED_RESOLUTIONS):
        step, batch, r1_interval = our_step(arch, res, faces[res])
        if (arch, res) == ("dcgan", 32):
            reference, reference_batch = reference_step(faces[32])
            step_s, reference_s = time_steps([step, reference], s.repeats)
            figures["reference_dcgan_32"] = {
                "batch": reference_batch,
                "images_per_s": round(reference_batch / reference_s, 1),
                "step_s": round(reference_s, 4),
            }
            figures["ratio_vs_reference"] = round(step_s / reference_s, 3)
        else:
            (step_s,) = time_steps([step], s.repeats)
        timing = {"step_s": step_s}
        if r1_interval:  # lazy R1: one step in r1_interval carries it
            r1_s = seconds(step, r1_interval)
            mean_s = (step_s * (r1_interval - 1) + r1_s) / r1_interval
            timing = {"step_s": mean_s, "plain_step_s": step_s, "r1_step_s": r1_s}
        figures["speed"][arch][str(res)] = {
            "batch": batch,
            "images_per_s": round(batch / timing["step_s"], 1),
        } | {name: round(t, 4) for name, t in timing.items()}
    return figures


# --- 2. transfer --------------------------------------------------------------------------


def new_faces_cache(tmp: Path, res: int, folder: Path | None) -> Path:
    """An image cache of ``folder``, or of ``lfw_subset``'s faces 90-99."""
    target = tmp / f"new-faces-{res}.npz"
    if folder is None:
        select = slice(NEW_FACES.start, NEW_FACES.stop)
        return build_image_dataset(LFW_SOURCE, target, res, progress=False, select=select)
    return build_image_dataset(folder, target, res, progress=False)


def tiled(images: Tensor, n: int) -> Tensor:
    """``images`` and their mirror images, repeated to ``n`` images.

    SWD compares sets of one size and draws 128 patches per image, so 10 faces against
    hundreds of samples must be repeated; each copy gets patches at other places, so the
    copies add patches of the same faces, not weight on a few. The mirrors are there
    because training mirrors the reals too (the cache's ``mirror``): they are part of the
    distribution the model learns.
    """
    both = torch.cat([images, images.flip(-1)])
    return both.repeat(-(-n // both.shape[0]), 1, 1, 1)[:n]


def swd(fake: Tensor, real: Tensor) -> dict[str, float]:
    return {k: round(v, 2) for k, v in sliced_wasserstein_distance(fake, real, seed=SEED).items()}


def transfer(init: str, s: Settings, tmp: Path, freeze_d: int, new_faces: Path | None) -> dict:
    source = load_gan(init)
    arch, res = source.model_type, source.config.res
    cache = new_faces_cache(tmp, res, new_faces)
    steps = s.transfer_steps
    # the scratch run trains the source's architecture, so only the start differs
    config = replace(
        default_config(arch, res),
        model=source.config,
        steps=steps,
        checkpoint_every=steps,
        log_every=steps,
        seed=SEED,
    )
    runs = {  # fine-tuning first: a bad --freeze-d fails before the scratch run
        "fine_tuned": train_gan(
            cache, tmp / "fine-tuned", config, init=init, freeze_d=freeze_d, progress=False
        ),
        "scratch": train_gan(cache, tmp / "scratch", config, progress=False),
    }
    real = load_image_dataset(cache).images
    reference = tiled(real, s.samples)
    figures: dict = {
        "init": str(init),
        "arch": arch,
        "res": res,
        "steps": steps,
        "freeze_d": freeze_d,
        "new_faces": str(new_faces or f"lfw_subset faces {NEW_FACES[0]}-{NEW_FACES[-1]}"),
        "new_face_count": len(real),
        "samples": s.samples,
    }
    for name, run in runs.items():
        fake = torch.from_numpy(sample(load_gan(run.model_dir), s.samples, seed=SEED))
        figures[f"{name}_swd"] = swd(fake.permute(0, 3, 1, 2), reference)
        figures[f"{name}_train_s"] = round(run.wall_time, 1)
    # swd_floor splits its input at random, which would put copies of one face on both
    # sides of a tiled set; split the 10 faces first and tile each half instead
    half = real.shape[0] // 2
    figures["floor_swd"] = swd(tiled(real[:half], s.samples), tiled(real[half:], s.samples))
    figures["fine_tuned_beats_scratch"] = (
        figures["fine_tuned_swd"]["mean"] < figures["scratch_swd"]["mean"]
    )
    return figures


# --- 3. discriminators at equal CPU time ----------------------------------------------------


def discriminators(s: Settings, tmp: Path, runs: Path | None) -> dict:
    """portrait-32's recipe trained from scratch on faces 0-89 with each discriminator for
    the same CPU time of this process, measured as ``image gan evaluate`` measures."""
    cache = build_image_dataset(
        LFW_SOURCE, tmp / "train-faces.npz", 32, progress=False, select=slice(0, TRAIN_FACES)
    )
    figures: dict = {"cpu_minutes_each": s.compare_minutes, "samples": s.compare_samples}
    for name in DISCRIMINATORS:
        config = portrait_config(name)
        run = (runs or tmp) / f"gan-{name}-32"  # as scripts/train_gan_models.py names them
        spent = train_for_cpu_time(
            cache, run, config, s.compare_minutes * 60, chunk=s.compare_chunk
        )
        scores = evaluate(load_gan(run / "model"), cache, s.compare_samples, seed=SEED)
        figures[name] = {
            "steps": spent["steps"],
            "cpu_minutes": round(spent["cpu_seconds"] / 60, 2),
        } | {k: round(scores[k], 4) for k in COMPARED}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps of each, to check")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--init",
        default=DEFAULT_INIT,
        help=f"the model to fine-tune: a shipped name or a model folder (default {DEFAULT_INIT})",
    )
    parser.add_argument(
        "--new-faces",
        type=Path,
        help="a folder of the images to transfer to (default: lfw_subset faces 90-99)",
    )
    parser.add_argument("--freeze-d", type=int, default=FREEZE_D, help="D layers kept frozen")
    parser.add_argument(
        "--transfer-steps", type=int, help="steps of each transfer run (default 300, quick 4)"
    )
    parser.add_argument(
        "--compare-minutes",
        type=float,
        help="CPU minutes of each discriminator's training run (default 10)",
    )
    parser.add_argument(
        "--runs", type=Path, help="keep the discriminators' runs here (and go on with them)"
    )
    parser.add_argument(
        "--only", choices=("all", "discriminators"), default="all", help="which sections"
    )
    args = parser.parse_args()
    if args.threads < 1 or (args.transfer_steps is not None and args.transfer_steps < 1):
        parser.error("--threads and --transfer-steps must be at least 1")
    if args.compare_minutes is not None and args.compare_minutes <= 0:
        parser.error("--compare-minutes must be positive")
    torch.set_num_threads(args.threads)
    s = settings(args.quick, args.transfer_steps, args.compare_minutes)
    figures: dict = {"benchmark": "gan", "quick": args.quick, "threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        if args.only == "discriminators":
            figures["discriminators"] = discriminators(s, Path(tmp), args.runs)
            print(json.dumps(figures))
            return
        # transfer first, so that a bad --init or --freeze-d fails before minutes of timing
        if args.init == DEFAULT_INIT and DEFAULT_INIT not in shipped_models():
            transfer_figures = {"skipped": f"no model {DEFAULT_INIT}"}
        else:
            try:
                transfer_figures = transfer(args.init, s, Path(tmp), args.freeze_d, args.new_faces)
            except UserError as err:
                parser.error(str(err))
        figures |= speed(s, Path(tmp))
        figures["discriminators"] = discriminators(s, Path(tmp), args.runs)
    figures["transfer"] = transfer_figures
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
