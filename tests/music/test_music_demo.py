"""The music part of the demo gallery: players, piano rolls and MIDI links that resolve."""

from __future__ import annotations

import re

import torch

from museforge.cli.demo import run_demo
from museforge.core.store import Store
from museforge.music import demo
from museforge.music.model import MelodyVAE, MelodyVAEConfig
from museforge.music.stacked import StackedMelodyVAE, StackedMelodyVAEConfig


def test_music_section_has_players_piano_rolls_and_lineage(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MUSEFORGE_DB_URL", raising=False)
    torch.manual_seed(0)
    model = tmp_path / "melody-tiny"
    MelodyVAE(
        MelodyVAEConfig(embed_dim=16, enc_hidden=32, z_dim=16, dec_hidden=48, dec_layers=1)
    ).save_pretrained(model)
    monkeypatch.setattr(demo, "MODEL", str(model))
    long = tmp_path / "melody-long-tiny"
    StackedMelodyVAE(
        StackedMelodyVAEConfig(
            bars=4,
            segment=MelodyVAE.from_pretrained(model).config,
            z_dim=8,
            enc_hidden=16,
            conductor_hidden=16,
        )
    ).save_pretrained(long)
    monkeypatch.setattr(demo, "LONG_MODEL", str(long))

    index = run_demo(tmp_path / "gallery", seed=1, demos=["museforge.music.demo:demo_section"])
    page = index.read_text()
    assert page.count("<audio") == 10  # four samples, five interpolation steps, one long
    assert "A 16-bar melody" in page
    links = re.findall(r'(?:src|href)="(files/[^"]+)"', page)
    assert len([link for link in links if link.endswith(".png")]) == 10
    assert len([link for link in links if link.endswith(".mid")]) == 10
    for link in links:
        assert (index.parent / link).is_file(), link
    with Store() as store:
        morphs = [
            m for m in store.list_artifacts(kind="melody") if m.params["command"] == "interpolate"
        ]
        assert len(morphs) == 5
        assert all(len(store.parents(m.id)) == 2 for m in morphs)
