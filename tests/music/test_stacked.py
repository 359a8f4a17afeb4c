"""The stacked long-melody VAE: segments, shapes, prefixes, training of the top level only,
and the generating functions working on it as on a flat model."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file
from test_music_model import FOUR_TUNES_ABC, TINY, melody_windows

from museforge.errors import BadInputFile
from museforge.music.data import build_dataset, load_dataset
from museforge.music.evaluate import reconstruction_accuracy
from museforge.music.generate import continue_melody, interpolate, sample, vary
from museforge.music.melody import FIRST_NOTE_ON, NO_EVENT, NOTE_OFF, last_event
from museforge.music.model import MelodyVAE
from museforge.music.stacked import (
    StackedMelodyVAE,
    StackedMelodyVAEConfig,
    carry_seams,
    load_melody_vae,
    seam_repeats,
    seam_ties,
    split_segments,
)
from museforge.music.train import StackedTrainConfig, segment_posterior_table, train_stacked_vae

TINY_STACKED = StackedMelodyVAEConfig(
    bars=4, segment=TINY, z_dim=8, enc_hidden=16, conductor_hidden=16
)
C4 = FIRST_NOTE_ON + 60 - 21


def tiny_model() -> StackedMelodyVAE:
    torch.manual_seed(0)
    return StackedMelodyVAE(TINY_STACKED).eval()


def test_a_segment_that_starts_on_a_held_note_starts_with_its_note_on():
    x = torch.full((1, 64), NO_EVENT)
    x[0, 30] = C4  # held over the line into the second segment
    x[0, 40] = NOTE_OFF  # silence over the line into the third
    segments = split_segments(x, 32)
    assert segments.shape == (1, 2, 32)
    assert segments[0, 1, 0] == C4  # the held C4 is played again
    assert torch.equal(segments[0, 1, 1:], x[0, 33:])
    assert torch.equal(segments[0, 0], x[0, :32])
    rest = torch.full((1, 96), NO_EVENT)
    rest[0, 10], rest[0, 40] = C4, NOTE_OFF
    assert split_segments(rest, 32)[0, 2, 0] == NO_EVENT  # a rest stays a rest
    with pytest.raises(ValueError, match="whole segments"):
        split_segments(torch.zeros(1, 40, dtype=torch.long), 32)


def test_a_note_held_over_a_seam_is_carried_where_a_tie_is_marked():
    x = torch.full((1, 96), NO_EVENT)
    x[0, 30] = C4  # held over the first line
    x[0, 40], x[0, 60], x[0, 70] = NOTE_OFF, C4, NOTE_OFF  # struck again on the second line
    x[0, 64] = C4
    ties = seam_ties(x, 32)
    assert ties.tolist() == [[0.0, 1.0, 0.0]]
    played = split_segments(x, 32).reshape(1, 96)  # what the 2-bar decoder learnt to play
    assert played[0, 32] == C4 and played[0, 64] == C4
    assert torch.equal(carry_seams(played, 32, ties.bool()), x)  # the tie held, the strike kept
    slipped = played.clone()
    slipped[0, 32] = C4 + 2  # another pitch where the tie is: the tie is trusted
    assert torch.equal(carry_seams(slipped, 32, ties.bool()), x)
    rest = played.clone()
    rest[0, 32] = NOTE_OFF  # a rest on the seam is kept
    assert carry_seams(rest, 32, ties.bool())[0, 32] == NOTE_OFF
    silent = torch.full((1, 64), NO_EVENT)
    silent[0, 0], silent[0, 10], silent[0, 32] = C4, NOTE_OFF, C4  # nothing sounds at the seam
    assert torch.equal(carry_seams(silent, 32, torch.tensor([[False, True]])), silent)


def test_the_seams_a_tie_would_change_are_those_that_begin_with_the_sounding_pitch():
    x = torch.full((1, 128), NO_EVENT)
    x[0, 30] = C4  # held over the first line: a tie
    x[0, 64] = C4  # struck again on the second: the same pitch, no tie
    x[0, 90], x[0, 96] = C4 + 2, C4  # another pitch on the third line
    assert seam_ties(x, 32).tolist() == [[0.0, 1.0, 0.0, 0.0]]
    assert seam_repeats(x, 32).tolist() == [[0.0, 1.0, 1.0, 0.0]]
    rests = torch.full((1, 64), NO_EVENT)
    rests[0, 0], rests[0, 10] = C4, NOTE_OFF  # silence over the line
    assert seam_repeats(rests, 32).tolist() == [[0.0, 0.0]]


def c4_player() -> StackedMelodyVAE:
    """A tiny stacked model with ties whose segment decoder plays C4 at every step and whose
    tie head answers its bias alone."""
    torch.manual_seed(0)
    model = StackedMelodyVAE(replace(TINY_STACKED, seam_ties=True)).eval()
    with torch.no_grad():
        model.segment.head.weight.zero_()
        model.segment.head.bias.fill_(-10.0)
        model.segment.head.bias[C4] = 10.0
        model.to_tie.weight.zero_()
    return model


def test_decoding_holds_a_note_over_a_seam_where_it_predicts_a_tie():
    model = c4_player()
    z = torch.zeros(2, TINY_STACKED.z_dim)
    seams = torch.arange(0, model.steps) % model.segment_steps == 0
    for tie, seam_event in ((10.0, NO_EVENT), (-10.0, C4)):
        with torch.no_grad():
            model.to_tie.bias.fill_(tie)
        events = model.decode(z, temperature=0.0)
        assert (events[:, seams][:, 1:] == seam_event).all()
        assert (events[:, ~seams] == C4).all() and (events[:, 0] == C4).all()


def test_evaluation_scores_the_seams_a_note_is_tied_over():
    model = c4_player()
    held = torch.full((1, model.steps), NO_EVENT)
    held[0, 0] = C4  # one C4 held over the seam
    struck = torch.full((1, model.steps), C4)  # C4 struck again at every step, the seam too
    for tie, held_share, false_share in ((10.0, 1.0, 1.0), (-10.0, 0.0, 0.0)):
        with torch.no_grad():
            model.to_tie.bias.fill_(tie)
        scores = reconstruction_accuracy(model, torch.cat([held, struck]))
        assert scores["seam_ties_held"] == held_share
        assert scores["seam_ties_false"] == false_share
    assert "seam_ties_held" not in reconstruction_accuracy(tiny_model(), struck)


def test_the_encoder_reads_the_ties():
    torch.manual_seed(0)
    model = StackedMelodyVAE(replace(TINY_STACKED, seam_ties=True)).eval()
    x = torch.full((1, 64), NO_EVENT)
    x[0, 30], x[0, 40] = C4, NOTE_OFF
    restruck = x.clone()
    restruck[0, 32] = C4
    with torch.no_grad():
        assert not torch.allclose(model.encode(x)[0], model.encode(restruck)[0])


def test_config_needs_whole_segments_of_a_flat_model():
    with pytest.raises(ValueError, match="whole number"):
        StackedMelodyVAEConfig(bars=5, segment=TINY)


def test_shapes_of_encode_forward_and_decode():
    model = tiny_model()
    x = torch.from_numpy(melody_windows(3, 64, seed=1))
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, 8)
    assert model(x, mu).shape == (3, 64, 90)
    # a prefix of any length: the last segment is padded, and the padding does not leak back
    assert torch.equal(model(x[:, :40], mu), model(x, mu)[:, :40])
    assert model.decode(mu, temperature=0.0).shape == (3, 64)
    assert model.decode(mu, steps=48, temperature=0.0).shape == (3, 48)


def test_decode_plays_a_given_prefix_and_repeats_for_a_seed():
    model = tiny_model()
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(3))
    prefix = torch.from_numpy(melody_windows(1, 40, seed=2))[0]

    def play(seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        return model.decode(z, temperature=1.0, generator=generator, prefix=prefix)

    out = play(5)
    assert torch.equal(out[:, :40], prefix.expand(2, -1))
    assert torch.equal(out, play(5))
    assert not torch.equal(out, play(6))


def test_training_fits_the_top_level_only_and_the_result_loads_and_generates(tmp_path):
    folder = tmp_path / "tunes"
    folder.mkdir()
    (folder / "tunes.abc").write_text(FOUR_TUNES_ABC)
    cache = build_dataset(folder, tmp_path / "melodies.npz", jobs=1, progress=False)
    torch.manual_seed(1)
    MelodyVAE(TINY).save_pretrained(tmp_path / "short")
    short = load_file(tmp_path / "short" / "model.safetensors")
    config = StackedTrainConfig(
        bars=4,
        model=replace(TINY_STACKED, seam_ties=True),
        segment_model=str(tmp_path / "short"),
        steps=4,
        batch_size=4,
        transpose=1,
        checkpoint_every=2,
        log_every=1,
    )
    result = train_stacked_vae(cache, tmp_path / "run", config, progress=False)
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert [r["step"] for r in logged] == [1, 2, 3, 4]
    assert {"recon", "kl", "tie_nll"} <= logged[0].keys()
    weights = load_file(result.model_dir / "model.safetensors")
    assert all(torch.equal(weights[f"segment.{k}"], v) for k, v in short.items())
    model = load_melody_vae(result.model_dir)
    assert isinstance(model, StackedMelodyVAE) and model.config.bars == 4
    torch.manual_seed(0)  # the seed training started from
    fresh = StackedMelodyVAE(model.config).state_dict()
    assert not torch.equal(weights["to_code.weight"], fresh["to_code.weight"])
    assert not torch.equal(weights["prior_scale"], torch.eye(8))  # fitted after training
    assert json.loads((result.model_dir / "config.json").read_text())["steps"] == 4

    # every generating function takes it as it takes a flat model
    assert sample(model, n=2, seed=0).shape == (2, 64)
    a, b = melody_windows(2, 64, seed=7)
    path = interpolate(model, a, b, steps=3)
    assert path.shape == (3, 64)
    assert vary(model, a, amount=0.5, n=2, seed=0).shape == (2, 64)
    assert continue_melody(model, a[:32], bars=2, seed=0).shape == (1, 64)
    scores = reconstruction_accuracy(model, load_dataset(cache).windows(4, "train"))
    assert 0.0 <= scores["recon_acc_sampled"] <= 1.0

    # fine-tuning goes on from a stacked model; a flat one is refused in words
    tuned = train_stacked_vae(
        cache, tmp_path / "tuned", config, init=result.model_dir, progress=False
    )
    assert load_melody_vae(tuned.model_dir).config == model.config
    with pytest.raises(BadInputFile, match="melody-vae"):
        train_stacked_vae(cache, tmp_path / "bad", config, init=tmp_path / "short", progress=False)


def test_the_posterior_table_holds_every_key_and_the_means_of_the_segments():
    model = tiny_model()
    windows = torch.from_numpy(melody_windows(5, 64, seed=3))
    table = segment_posterior_table(model, windows, transpose_max=2, progress=False)
    assert table.shape == (5, 5, 2, 2 * TINY.z_dim + 2)
    mu, logvar = model.segment_posteriors(windows)
    flags = torch.stack([seam_ties(windows, 32), seam_repeats(windows, 32)], dim=-1)
    assert torch.allclose(table[:, 2], torch.cat([mu, logvar, flags], -1))  # the middle key
    assert not torch.allclose(table[:, 0], table[:, 2])
    assert torch.equal(table[:, 0, :, -2:], flags)  # a tie is a tie in any key


def test_loading_refuses_a_model_that_is_not_a_melody_model(tmp_path):
    from museforge.image.style.fast import TransformNet

    TransformNet().save_pretrained(tmp_path / "style")
    with pytest.raises(BadInputFile, match="not a melody model"):
        load_melody_vae(tmp_path / "style")


@pytest.mark.parametrize("kind", ["stacked", "flat"])
def test_the_fitted_prior_draws_codes_with_the_mean_and_spread_of_real_ones(kind):
    torch.manual_seed(0)
    model = tiny_model() if kind == "stacked" else MelodyVAE(TINY).eval()
    windows = torch.from_numpy(melody_windows(400, model.steps, seed=5))
    codes = model.encode(windows)[0].detach().double()
    mean, cov = codes.mean(0), torch.cov(codes.T)

    def error(drawn: torch.Tensor) -> tuple[float, float]:
        drawn = drawn.double()
        return (
            float((drawn.mean(0) - mean).norm() / mean.norm()),
            float((torch.cov(drawn.T) - cov).norm() / cov.norm()),
        )

    unfitted = error(model.draw_codes(20_000, torch.Generator().manual_seed(0)))
    model.fit_prior(windows)
    fitted = error(model.draw_codes(20_000, torch.Generator().manual_seed(0)))
    assert unfitted[1] > 0.5  # N(0, I) is not where these codes lie
    assert fitted[0] < 0.05 and fitted[1] < 0.05
    again = model.draw_codes(5, torch.Generator().manual_seed(1))
    assert torch.equal(again, model.draw_codes(5, torch.Generator().manual_seed(1)))


def test_the_shipped_16_bar_model_holds_its_notes_over_the_seams_where_a_tie_is_predicted():
    model = load_melody_vae("melody-16bar")
    assert model.config.seam_ties
    z = model.draw_codes(24, torch.Generator().manual_seed(0))
    length = model.segment_steps
    segments = model.steps // length
    seams = list(range(length, model.steps, length))
    with torch.no_grad():
        codes = model.codes(z, segments)
        played = torch.cat(  # each segment as the 2-bar decoder plays it on its own
            [model.segment.decode(codes[:, s], length, temperature=0.0) for s in range(segments)],
            dim=1,
        )
    for tie_bias in (None, 20.0):  # the model's own tie predictions, then a tie at every seam
        if tie_bias is not None:
            with torch.no_grad():
                model.to_tie.bias.fill_(tie_bias)
        ties = model.ties(z, segments)[:, 1:]
        events = model.decode(z, temperature=0.0)
        before = torch.from_numpy(last_event(events.numpy()))[:, [seam - 1 for seam in seams]]
        restruck = (events[:, seams] == before) & (before >= FIRST_NOTE_ON)
        assert not (restruck & ties).any()  # no note struck again where a tie is predicted
        held = ties & (played[:, seams] >= FIRST_NOTE_ON) & (before >= FIRST_NOTE_ON)
        assert (events[:, seams][held] == NO_EVENT).all()
        assert torch.equal(events[:, seams][~held], played[:, seams][~held])
    assert held.sum() >= 3  # the 2-bar decoder alone plays a note-on at these


# A folk tune held out of the shipped models' training (music21's corpus), 16 bars in
# sixteenths; its G in bar 15 is held over the line between bars 14 and 15.
TIED_TUNE_ABC = """X:1
T:A held-out tune with a note tied over a 2-bar line
M:4/4
L:1/16
K:C
c4 e4 d4 ^F4 G12 B4 B4 B4 c4 c4 B12 B4 d4 c4 B4 A4 d12 G4 E6 ^F2 G4 G4 G8 A4 B4 c4 e4 d4 ^F4
G12 B4 B4 B4 c4 c4 B12 B4 A4 e4 d4 ^F4 G12 G16 A4 B12
"""


def test_the_shipped_16_bar_model_rebuilds_a_tune_holding_its_note_over_the_line(tmp_path):
    from museforge.music.melody_file import read_melody

    path = tmp_path / "tune.abc"
    path.write_text(TIED_TUNE_ABC)
    model = load_melody_vae("melody-16bar")
    x = torch.from_numpy(read_melody(path, steps=model.steps)).long()[None]
    seam = 7 * model.segment_steps
    assert seam_ties(x, model.segment_steps)[0].tolist() == [0.0] * 7 + [1.0]
    with torch.no_grad():
        rebuilt = model.decode(model.encode(x)[0], temperature=0.0)
    assert rebuilt[0, seam] == NO_EVENT  # held on, not struck again
    assert rebuilt[0, seam - 1] == x[0, seam - 1] and torch.equal(rebuilt[0, -32:], x[0, -32:])
    assert (rebuilt == x).float().mean() > 0.95


def test_the_prior_spans_the_directions_in_which_the_encoder_writes_the_ties(monkeypatch):
    import museforge.music.stacked as stacked

    monkeypatch.setattr(stacked, "TIE_DIRECTIONS", 3)
    torch.manual_seed(0)
    model = StackedMelodyVAE(replace(TINY_STACKED, seam_ties=True)).eval()
    windows = torch.from_numpy(melody_windows(200, model.steps, seed=4))
    windows[::3, 32] = NO_EVENT  # a third of them hold a note over the seam
    with torch.no_grad():
        extra = model.prior_directions(windows, 64).double()
        codes = model.encode(windows)[0].double()
    assert extra.shape == (3, TINY_STACKED.z_dim)
    assert torch.allclose(extra @ extra.T, torch.eye(3, dtype=extra.dtype), atol=1e-6)
    model.fit_prior(windows, dims=2)  # the 2 principal directions and the ties' 3
    drawn = model.draw_codes(2000, torch.Generator().manual_seed(0)).double()
    assert torch.linalg.matrix_rank(drawn - drawn.mean(0), rtol=1e-5).item() == 5
    ratio = (drawn @ extra.T).std(dim=0) / (codes @ extra.T).std(dim=0)
    assert ((ratio > 0.5) & (ratio < 1.5)).all(), ratio  # drawn as the codes vary there
    assert StackedMelodyVAE(TINY_STACKED).prior_directions(windows, 64) is None
