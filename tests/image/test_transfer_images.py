"""The transfer flags (``core/transfer.py``) on a GAN and on a fast style network, end to end
through the CLI on tiny folders: frozen parts stay bit for bit, learning-rate scales reach
the optimizer, the domain-adversarial term is trained and logged, and bad parts or flags
fail in one line with exit 2."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from museforge.cli import run
from museforge.core.checkpoints import load_state
from museforge.image.gan.dcgan import DCGAN, DCGANConfig
from museforge.image.gan.stylegan import StyleGAN, StyleGANConfig
from museforge.image.gan.train import (
    GANTraining,
    default_config,
    gan_optimizer,
    train_gan,
)
from museforge.image.style.fast import FastStyleConfig, TransformNet

TINY = StyleGANConfig(
    res=32, z_dim=16, w_dim=16, mapping_layers=2, channel_base=512, channel_max=16
)


def _folder(root: Path, colour: tuple[int, int, int], n: int = 4) -> Path:
    """``n`` 36 px pictures: stripes of ``colour`` on black, a few pixels wider each."""
    root.mkdir(parents=True)
    for i in range(n):
        pixels = np.zeros((36, 36, 3), np.uint8)
        pixels[:, : 6 + 4 * i] = colour
        Image.fromarray(pixels).save(root / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def gan_runs(tmp_path_factory) -> dict[str, Path]:
    """A tiny StyleGAN and DCGAN saved as source models, and source and target folders."""
    root = tmp_path_factory.mktemp("transfer")
    torch.manual_seed(0)
    StyleGAN(TINY).save_pretrained(root / "stylegan")
    DCGAN(DCGANConfig(res=32, z_dim=16, width=4)).save_pretrained(root / "dcgan")
    return {
        "stylegan": root / "stylegan",
        "dcgan": root / "dcgan",
        "source": _folder(root / "source", (200, 40, 30)),
        "target": _folder(root / "target", (30, 60, 210)),
    }


def _train(arch: str, runs: dict[str, Path], out: Path, *flags: str) -> int:
    args = ["image", "gan", "train", str(runs["target"]), "--out", str(out), "--arch", arch]
    args += ["--init", str(runs[arch]), "--steps", "3", "--batch-size", "4", *flags]
    return run(args)


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def _metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("arch", ["stylegan", "dcgan"])
def test_gan_fine_tuning_keeps_frozen_parts_and_adapts_adversarially(
    arch, gan_runs, tmp_path, home
):
    freeze = ["D.0", "mapping"] if arch == "stylegan" else ["D.0", "D.1"]
    flags = [f"--freeze={part}" for part in freeze]
    flags += ["--lr-scale", "D=0.5", "--adapt-from", str(gan_runs["source"])]
    flags += ["--domain-adversarial", "0.5"]
    assert _train(arch, gan_runs, tmp_path / "run", *flags) == 0
    before, after = _weights(gan_runs[arch]), _weights(tmp_path / "run" / "model")
    same = {k for k in before if torch.equal(before[k], after[k])}
    if arch == "stylegan":  # D's first layer and the mapping network, G_ema's mapping too
        prefixes = ("D.from_rgb.", "G.mapping.", "G_ema.mapping.net.")
        kept = {k for k in before if k.startswith(prefixes)}  # w_avg, its centre, too
        moved = {"D.out.weight", "G.synthesis.const", "G_ema.synthesis.const"}
    else:
        kept = {k for k in before if k.startswith(("D.features.0.", "D.features.2."))}
        kept |= {k for k in before if k.startswith("D.features.3.")}  # D.1's batch norm
        assert "D.features.3.running_mean" in kept  # its statistics as learnt, too
        moved = {"D.out.weight", "G.net.0.weight"}
    assert kept and kept <= same
    assert not moved & same
    assert (tmp_path / "run" / "source-images-32px.npz").is_file()
    logged = _metrics(tmp_path / "run")
    assert all({"domain_loss", "domain_acc", "domain_lambda"} <= row.keys() for row in logged)
    assert 0 < logged[-1]["domain_loss"] < 5 and logged[-1]["domain_lambda"] > 0
    # the domain classifier is trained: it is in the checkpoint and its weights moved
    state = load_state(tmp_path / "run" / "checkpoint.safetensors")[0]
    domain = {k: v for k, v in state.items() if k.startswith("model/domain.")}
    assert domain
    assert any(not torch.equal(v, state[k]) for k, v in _fresh_domain(arch, gan_runs).items())


def _fresh_domain(arch: str, runs: dict[str, Path]) -> dict[str, torch.Tensor]:
    from museforge.image.gan.generate import load_gan

    images = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    training = GANTraining(
        load_gan(runs[arch]), default_config(arch, 32), mirror=False, source=images
    )
    return {f"model/domain.{k}": v for k, v in training.domain.state_dict().items()}


def test_lr_scales_give_parts_their_own_learning_rate():
    torch.manual_seed(0)
    gan = StyleGAN(TINY)
    from museforge.core.transfer import lr_scales

    training = GANTraining(gan, default_config("stylegan", 32), mirror=False)
    scales = lr_scales(gan, {"D": 0.25, "mapping": 0.1})
    params = [p for p in training.parameters() if p.requires_grad]
    from museforge.core.training import TrainConfig

    optimizer = gan_optimizer(training, default_config("stylegan", 32), scales)(
        params, TrainConfig(lr=0.002)
    )
    by_group = {(g["name"], g["lr_scale"]): g for g in optimizer.param_groups}
    assert set(by_group) == {("G", 1.0), ("G", 0.1), ("D", 0.25)}
    mapping = {id(p) for p in gan.G.mapping.parameters()}
    assert {id(p) for p in by_group["G", 0.1]["params"]} == mapping
    assert by_group["D", 0.25]["lr"] == pytest.approx(0.0005)


def test_freeze_d_is_freezing_d_layers_by_name(gan_runs, tmp_path, home):
    target = gan_runs["target"]
    assert _train("dcgan", gan_runs, tmp_path / "a", "--freeze-d", "2") == 0
    assert _train("dcgan", gan_runs, tmp_path / "b", "--freeze", "D.0", "--freeze", "D.1") == 0
    a, b = _weights(tmp_path / "a" / "model"), _weights(tmp_path / "b" / "model")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert target.is_dir()


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--freeze", "encoder"], "no part 'encoder' (its parts: G, mapping, synthesis, D, D.0"),
        (["--lr-scale", "D"], "--lr-scale wants PART=NUMBER"),
        (["--lr-scale", "D=0"], "must be above 0"),
        (["--adapt-from", "/nonexistent/source-pictures"], "no such image folder"),
        (["--domain-adversarial", "0.5"], "needs --adapt-from"),
    ],
)
def test_bad_transfer_flags_fail_in_one_line(flags, words, gan_runs, tmp_path, capsys, home):
    assert _train("stylegan", gan_runs, tmp_path / "run", *flags) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1 and words in err, err
    assert not (tmp_path / "run").exists()  # a run that never started leaves nothing


def test_freezing_or_adapting_needs_a_model_to_start_from(gan_runs, tmp_path, capsys):
    args = ["image", "gan", "train", str(gan_runs["target"]), "--out", str(tmp_path / "r")]
    for flags in (["--freeze", "D.0"], ["--adapt-from", str(gan_runs["source"])]):
        assert run([*args, *flags]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "needs --init" in err and len(err.splitlines()) == 1


def test_a_projected_discriminator_cannot_be_adapted(gan_runs, tmp_path):
    from museforge.errors import UserError
    from museforge.image.data import build_image_dataset

    projected = replace(TINY, discriminator="projected", projected_res=32)
    with pytest.raises(UserError, match="stylegan or dcgan discriminator"):
        GANTraining(
            StyleGAN(projected),
            default_config("stylegan", 32, "projected"),
            mirror=False,
            source=torch.zeros(2, 3, 32, 32, dtype=torch.uint8),
        )
    cache = build_image_dataset(gan_runs["target"], tmp_path / "t.npz", 32, progress=False)
    with pytest.raises(UserError, match="need init"):
        train_gan(cache, tmp_path / "x", default_config("dcgan", 32), progress=False, **_adapt())


def _adapt() -> dict:
    from museforge.image.gan.train import GANTransfer

    return {"transfer": GANTransfer(adapt_from="unused.npz")}


# --- fast style ---------------------------------------------------------------------------


STYLE_ARGS = ["--steps", "2", "--batch-size", "1", "--crop", "32"]
STYLE_ARGS += ["--features", "random-multiscale", "--content", "skimage:astronaut"]


@pytest.mark.parametrize("init", ["style-gravel", "folder"])
def test_fast_style_fine_tuning_keeps_frozen_parts(init, tmp_path, home):
    if init == "folder":
        torch.manual_seed(0)
        TransformNet(FastStyleConfig(width=4, res_blocks=1)).save_pretrained(tmp_path / "src")
        init = str(tmp_path / "src")
    out = tmp_path / "run"
    args = ["image", "style", "train", "skimage:brick", "--out", str(out), "--init", init]
    assert run([*args, "--freeze", "down", "--lr-scale", "residual=0.5", *STYLE_ARGS]) == 0
    from museforge.core.checkpoints import resolve_model_dir

    source = resolve_model_dir(init)
    before, after = _weights(source), _weights(out / "model")
    config = json.loads((out / "model" / "config.json").read_text())
    assert config["config"]["style"] == "skimage:brick"
    assert config["model_type"] == json.loads((source / "config.json").read_text())["model_type"]
    down = "convs.0." if config["model_type"] == "arbitrary-style" else "net.0."
    kept = {k for k in before if k.startswith(down)}
    assert kept and all(torch.equal(before[k].float(), after[k].float()) for k in kept)
    if config["model_type"] == "arbitrary-style":  # the preset's code: the new picture's now
        assert not torch.equal(before["code"].float(), after["code"].float())
        assert torch.equal(before["predict.weight"].float(), after["predict.weight"].float())
        moved = "to_norms.weight"
    else:
        moved = "net.9.body.0.1.weight"  # the residual block's first convolution
    assert not torch.equal(before[moved].float(), after[moved].float())


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--init", "style-gravel", "--freeze", "decoder"], "no part 'decoder'"),
        (["--adapt-from", "skimage:gravel"], "no source data set"),
        (["--init", "style-gravel", "--domain-adversarial", "0.5"], "no source data set"),
        (["--freeze", "down"], "needs --init"),
    ],
)
def test_bad_fast_style_transfer_flags_fail_in_one_line(flags, words, tmp_path, capsys, home):
    args = ["image", "style", "train", "skimage:brick", "--out", str(tmp_path / "run")]
    assert run([*args, *flags, *STYLE_ARGS]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1 and words in err, err
