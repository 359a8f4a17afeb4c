"""How new melodies are drawn: the Gaussian-mixture prior over codes (ex-post density
estimation) and nucleus sampling of each step."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from test_music_model import TINY, melody_windows

from museforge.errors import UserError
from museforge.music.generate import sample
from museforge.music.model import MelodyVAE, nucleus
from museforge.music.prior import MIXTURE_COMPONENTS


def test_the_nucleus_keeps_the_fewest_likeliest_events_and_renormalises():
    probs = torch.tensor([[0.05, 0.5, 0.15, 0.3]])
    assert torch.allclose(nucleus(probs, 0.8), torch.tensor([[0.0, 0.625, 0.0, 0.375]]))
    assert torch.equal(nucleus(probs, 0.5), torch.tensor([[0.0, 1.0, 0.0, 0.0]]))
    assert torch.allclose(nucleus(probs, 1.0), probs)
    with pytest.raises(ValueError, match="top_p"):
        nucleus(probs, 0.0)


def test_a_tiny_nucleus_decodes_as_greedy_and_a_bad_one_is_a_user_error():
    torch.manual_seed(0)
    model = MelodyVAE(TINY).eval()
    z = torch.randn(6, TINY.z_dim)
    greedy = model.decode(z, temperature=0.0)
    assert torch.equal(model.decode(z, temperature=1.0, top_p=1e-6), greedy)
    assert not torch.equal(model.decode(z, temperature=1.0), greedy)
    with pytest.raises(UserError, match="top-p"):
        sample(model, 2, top_p=1.5)


def test_the_mixture_prior_is_saved_and_a_folder_without_it_draws_from_the_gaussian(tmp_path):
    torch.manual_seed(0)
    model = MelodyVAE(TINY).eval()
    model.fit_prior(torch.from_numpy(melody_windows(400, model.steps, seed=5)))
    weights = model.prior_mixture_weights
    assert model.prior_is_mixture and len(weights) == MIXTURE_COMPONENTS
    assert weights.sum().item() == pytest.approx(1.0) and (weights > 0).sum() > 1
    model.save_pretrained(tmp_path / "new")
    loaded = MelodyVAE.from_pretrained(tmp_path / "new")
    drawn = loaded.draw_codes(5, torch.Generator().manual_seed(1))
    assert torch.equal(drawn, model.draw_codes(5, torch.Generator().manual_seed(1)))

    # a folder saved before the mixture: the single Gaussian, as it was
    (tmp_path / "old").mkdir()
    for name in ("config.json", "MODEL_CARD.md"):
        (tmp_path / "old" / name).write_bytes((tmp_path / "new" / name).read_bytes())
    tensors = load_file(tmp_path / "new" / "model.safetensors")
    old = {k: v for k, v in tensors.items() if not k.startswith("prior_mixture")}
    save_file(old, tmp_path / "old" / "model.safetensors", metadata={"format": "pt"})
    record = json.loads((tmp_path / "old" / "config.json").read_text())
    record.pop("weights_sha256")  # the file is another one now
    (tmp_path / "old" / "config.json").write_text(json.dumps(record))
    before = MelodyVAE.from_pretrained(tmp_path / "old")
    assert not before.prior_is_mixture
    noise = torch.randn(5, TINY.z_dim, generator=torch.Generator().manual_seed(1))
    gaussian = model.prior_mean + noise @ model.prior_scale.T
    assert torch.allclose(before.draw_codes(5, torch.Generator().manual_seed(1)), gaussian)


def test_the_mixture_lies_in_the_codes_leading_principal_directions():
    torch.manual_seed(0)
    model = MelodyVAE(TINY).eval()
    windows = torch.from_numpy(melody_windows(400, model.steps, seed=5))
    codes = model.encode(windows)[0].double()
    centred = codes - codes.mean(dim=0)
    leading = torch.linalg.svd(centred, full_matrices=False)[2][:3]  # [3, z_dim]
    model.fit_prior(windows, dims=3)
    drawn = model.draw_codes(2000, torch.Generator().manual_seed(0)).double() - codes.mean(dim=0)
    outside = drawn - (drawn @ leading.T) @ leading  # what lies off the 3 directions
    assert outside.norm(dim=1).max() < 1e-4 * drawn.norm(dim=1).mean()
    # along them the draws spread as the codes do
    ratio = (drawn @ leading.T).std(dim=0) / (centred @ leading.T).std(dim=0)
    assert ((ratio > 0.85) & (ratio < 1.15)).all(), ratio
    model.fit_prior(windows, dims=None)  # every direction
    drawn = model.draw_codes(2000, torch.Generator().manual_seed(0)).double() - codes.mean(dim=0)
    outside = drawn - (drawn @ leading.T) @ leading
    assert outside.norm(dim=1).mean() > 0.3 * drawn.norm(dim=1).mean()
