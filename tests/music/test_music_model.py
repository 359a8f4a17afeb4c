"""The melody VAE: shapes, the KL and free-bits math, saving, determinism, learning, resume."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch.distributions import Normal
from torch.distributions import kl_divergence as torch_kl

from museforge.core.training import CHECKPOINT_FILE
from museforge.music.data import build_dataset, load_dataset
from museforge.music.evaluate import reconstruction_accuracy
from museforge.music.melody import FIRST_NOTE_ON, NOTE_OFF, NUM_CLASSES
from museforge.music.model import MelodyVAE, MelodyVAEConfig, kl_divergence
from museforge.music.train import (
    MelodyTrainConfig,
    beta,
    kl_cost,
    melody_loss,
    teacher_forcing_prob,
    train_melody_vae,
)

TINY = MelodyVAEConfig(embed_dim=16, enc_hidden=32, z_dim=16, dec_hidden=64, dec_layers=1)
FOUR_TUNES_ABC = "".join(
    f"X:{i}\nT:Tune {i}\nM:4/4\nL:1/8\nK:{key}\n{body}\n\n"
    for i, (key, body) in enumerate(
        [
            ("G", "GABc d2B2|c2A2 B2G2|A2F2 G4|D2G2 B2d2|c2A2 F2D2|G8|]"),
            ("D", "DEFG A2F2|G2E2 F2D2|A2d2 c2A2|B2G2 E4|F2A2 d2c2|d8|]"),
            ("C", "cBAG F2E2|D2C2 E2G2|c2e2 g2e2|f2d2 B4|A2F2 D2B,2|C8|]"),
            ("F", "FGAB c2A2|B2G2 A2F2|G2E2 C4|F2A2 c2f2|e2c2 G2E2|F8|]"),
        ],
        start=1,
    )
)


def melody_windows(n: int, steps: int, seed: int) -> np.ndarray:
    """Plausible melody windows: notes of 1 to 4 sixteenths, a few rests."""
    rng = np.random.default_rng(seed)
    windows = np.zeros((n, steps), dtype=np.int64)
    for row in windows:
        t = 0
        while t < steps:
            row[t] = NOTE_OFF if rng.random() < 0.1 else FIRST_NOTE_ON + rng.integers(39, 60)
            t += int(rng.choice([1, 2, 2, 4]))
    return windows


def overfit(config: MelodyVAEConfig, windows: np.ndarray, steps: int) -> MelodyVAE:
    """A model fitted to ``windows`` with the real loss, teacher-forced throughout."""
    torch.manual_seed(0)
    model = MelodyVAE(config)
    # free nats in proportion to the code, one per dimension as the shipped 2-bar model has
    train_config = MelodyTrainConfig(
        bars=config.bars,
        model=config,
        sampling_rate=1e9,
        lr=1e-2,
        transpose=0,
        free_bits=float(config.z_dim),
    )
    loss_fn = melody_loss(train_config)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_config.lr)
    x = torch.from_numpy(windows)
    for step in range(1, steps + 1):
        loss, _ = loss_fn(model, x, step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_encode_forward_decode_shapes():
    config = TINY
    model = MelodyVAE(config)
    x = torch.from_numpy(melody_windows(3, model.steps, seed=1))
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, config.z_dim)
    assert model(x, mu).shape == (3, model.steps, NUM_CLASSES)
    assert model(x, mu, teacher_forcing_prob=0.5).shape == (3, model.steps, NUM_CLASSES)
    events = model.decode(mu, temperature=1.0, generator=torch.Generator().manual_seed(0))
    assert events.shape == (3, model.steps)
    assert events.dtype == torch.long and events.min() >= 0 and events.max() < NUM_CLASSES


def test_a_folder_saved_with_the_retired_hierarchical_fields_still_loads(tmp_path):
    MelodyVAE(TINY).save_pretrained(tmp_path / "m")
    config_file = tmp_path / "m" / "config.json"
    saved = json.loads(config_file.read_text())
    saved["config"] |= {"hierarchical": False, "conductor_hidden": 256, "conductor_layers": 2}
    config_file.write_text(json.dumps(saved))
    assert MelodyVAE.from_pretrained(tmp_path / "m").config == TINY
    saved["config"]["hierarchical"] = True
    config_file.write_text(json.dumps(saved))
    with pytest.raises(Exception, match="hierarchical"):
        MelodyVAE.from_pretrained(tmp_path / "m")


def test_kl_matches_torch_distributions():
    mu, logvar = torch.randn(5, 7), torch.randn(5, 7)
    expected = torch_kl(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(dim=-1)
    torch.testing.assert_close(kl_divergence(mu, logvar), expected)
    assert torch.all(kl_divergence(torch.zeros(2, 3), torch.zeros(2, 3)) == 0)


def test_free_bits_leave_small_kl_unpenalised():
    kl = torch.tensor([10.0, 48.0, 60.0])
    free = 48.0 / math.log(2.0)  # 48 nats, given in bits
    torch.testing.assert_close(kl_cost(kl, beta=0.5, free_bits=free), torch.tensor([0.0, 0.0, 6.0]))
    torch.testing.assert_close(kl_cost(kl, beta=0.5, free_bits=0.0), 0.5 * kl)


def test_beta_rises_to_its_maximum_and_teacher_forcing_falls_to_zero():
    config = MelodyTrainConfig(max_beta=0.2, beta_rate=0.999, sampling_rate=100.0)
    betas = [beta(s, config) for s in (0, 100, 1000, 100_000)]
    assert betas[0] == 0 and betas == sorted(betas) and betas[-1] == pytest.approx(0.2)
    taus = [teacher_forcing_prob(s, config) for s in (0, 500, 1000, 10_000)]
    assert taus[0] == pytest.approx(1.0, abs=0.01) and taus == sorted(taus, reverse=True)
    assert taus[-1] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("dtype", [None, torch.float16])
def test_save_and_from_pretrained_round_trip(tmp_path, dtype):
    model = MelodyVAE(TINY).eval()
    model.attribute_vectors.normal_()
    model.save_pretrained(tmp_path / "m", dtype=dtype)
    assert "attribute_vectors" in load_file(tmp_path / "m" / "model.safetensors")
    loaded = MelodyVAE.from_pretrained(tmp_path / "m")
    assert loaded.config == model.config
    x = torch.from_numpy(melody_windows(2, model.steps, seed=2))
    atol = 0 if dtype is None else 1e-2
    torch.testing.assert_close(loaded.encode(x)[0], model.encode(x)[0], atol=atol, rtol=atol)
    torch.testing.assert_close(loaded.attribute_vectors, model.attribute_vectors, atol=atol, rtol=0)


def test_decoding_is_deterministic_for_a_seed():
    model = MelodyVAE(TINY).eval()
    z = torch.randn(4, TINY.z_dim)
    runs = [
        model.decode(z, temperature=1.0, generator=torch.Generator().manual_seed(seed))
        for seed in (7, 7, 8)
    ]
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_decode_keeps_a_prefix():
    model = MelodyVAE(TINY).eval()
    prefix = torch.from_numpy(melody_windows(1, 16, seed=3)[0])
    events = model.decode(torch.randn(2, TINY.z_dim), temperature=1.0, prefix=prefix)
    assert torch.equal(events[:, :16], prefix.expand(2, -1))


def test_tiny_model_overfits_eight_windows():
    windows = melody_windows(8, 32, seed=4)
    model = overfit(TINY, windows, steps=250)
    scores = reconstruction_accuracy(model, windows)
    assert scores["recon_acc_teacher_forced"] >= 0.95
    assert scores["recon_acc_greedy"] >= 0.9
    assert 0.5 <= scores["recon_acc_sampled"] <= scores["recon_acc_teacher_forced"] + 0.05


def test_training_through_the_core_loop_resumes_exactly(tmp_path):
    folder = tmp_path / "tunes"
    folder.mkdir()
    (folder / "tunes.abc").write_text(FOUR_TUNES_ABC)
    cache = build_dataset(folder, tmp_path / "melodies.npz", jobs=1, progress=False)
    assert len(load_dataset(cache).windows(2, "train")) >= 8
    config = MelodyTrainConfig(
        model=TINY,
        steps=6,
        batch_size=4,
        checkpoint_every=3,
        log_every=1,
        sampling_rate=2.0,
        lr_schedule="exponential",  # cosine would depend on the steps of each call
    )
    whole = train_melody_vae(cache, tmp_path / "whole", config, progress=False)
    first = train_melody_vae(
        cache, tmp_path / "split", MelodyTrainConfig(**{**vars(config), "steps": 3}), progress=False
    )
    assert first.steps == 3 and (tmp_path / "split" / CHECKPOINT_FILE).is_file()
    resumed = train_melody_vae(cache, tmp_path / "split", config, resume=True, progress=False)
    assert resumed.steps == whole.steps == 6
    a = load_file(whole.model_dir / "model.safetensors")
    b = load_file(resumed.model_dir / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_fine_tuning_from_a_model_can_keep_its_encoder_frozen(tmp_path):
    folder = tmp_path / "tunes"
    folder.mkdir()
    (folder / "tunes.abc").write_text(FOUR_TUNES_ABC)
    cache = build_dataset(folder, tmp_path / "melodies.npz", jobs=1, progress=False)
    MelodyVAE(TINY).save_pretrained(tmp_path / "base")
    base = load_file(tmp_path / "base" / "model.safetensors")
    config = MelodyTrainConfig(model=MelodyVAEConfig(), steps=2, batch_size=4, log_every=1)
    result = train_melody_vae(
        cache,
        tmp_path / "tuned",
        config,
        init=tmp_path / "base",
        freeze_encoder=True,
        progress=False,
    )
    tuned = load_file(result.model_dir / "model.safetensors")
    assert MelodyVAE.from_pretrained(result.model_dir).config == TINY  # the base's config wins
    assert all(torch.equal(tuned[k], base[k]) for k in base if k.startswith(("enc", "to_")))
    assert not torch.equal(tuned["head.weight"], base["head.weight"])
