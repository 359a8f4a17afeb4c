"""Feature extraction a person can use: `music embed` writes each tune's features, `map`
draws them on an offline page, and a linear probe says what the features know."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from test_music_cli import music, tunes  # noqa: F401 (a module-scoped fixture)
from test_music_model import TINY

from museforge.cli import run
from museforge.core.feature_map import (
    FeatureItem,
    linear_probe,
    map_html,
    read_features,
    write_features,
)
from museforge.music.model import MelodyVAE
from museforge.music.origins import origin


@pytest.fixture
def model_dir(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "tiny"
    MelodyVAE(TINY).save_pretrained(path)
    return path


def _dots(page: str) -> list[dict]:
    data = re.search(r'<script type="application/json" id="dots">(.*?)</script>', page, re.S)
    return json.loads(data.group(1))


def test_embed_then_map_draws_every_tune_with_its_notes(model_dir, tunes, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path / "home"))
    out = tmp_path / "features"
    folder = str(tunes[0].parent)
    assert music("embed", folder, "--out", out, "--model", model_dir) == 0
    features, items = read_features(out)
    assert features.shape == (len(tunes), TINY.z_dim) and torch.isfinite(features).all()
    assert {item.id for item in items} == {f"{p.name}#1" for p in tunes}
    assert all(item.notes for item in items)  # an opening to play
    assert not (out / "probe.json").exists()  # a person's folder has no origins to probe
    page = tmp_path / "map.html"
    assert run(["map", str(out), "--out", str(page)]) == 0
    dots = _dots(page.read_text(encoding="utf-8"))
    assert len(dots) == len(tunes)
    assert all(0 <= d["x"] <= 1 and 0 <= d["y"] <= 1 for d in dots)
    assert len({(d["x"], d["y"]) for d in dots}) > len(tunes) // 2  # spread out, not a heap
    assert "http" not in page.read_text(encoding="utf-8").replace("http://www.w3.org", "")


def test_map_of_a_folder_without_features_is_one_clear_error(tmp_path, capsys):
    assert run(["map", str(tmp_path), "--out", str(tmp_path / "m.html")]) == 2
    assert "features.safetensors" in capsys.readouterr().err
    assert not (tmp_path / "m.html").exists()


def test_a_title_cannot_close_the_pages_script(tmp_path):
    items = [FeatureItem(str(i), f"</script><script>alert({i})</script>") for i in range(3)]
    page = map_html(torch.randn(3, 4), items, "t")
    assert "</script><script>alert" not in page
    assert [d["title"] for d in _dots(page)] == [item.title for item in items]


def test_features_round_trip_through_their_files(tmp_path):
    items = [FeatureItem("a", "A", "China", [(60, 0.0, 0.5)]), FeatureItem("b", "B")]
    write_features(tmp_path / "f", torch.tensor([[1.0, 2.0], [3.0, 4.0]]), items)
    features, back = read_features(tmp_path / "f")
    assert torch.equal(features, torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert back == items


def test_probe_reads_groups_that_the_features_hold_and_not_ones_they_do_not():
    rng = np.random.default_rng(0)
    groups = ["China"] * 40 + ["Germany"] * 60
    separable = rng.normal(size=(100, 8)) + np.array([[3.0] + [0.0] * 7]) * (
        np.array(groups)[:, None] == "China"
    )
    found = linear_probe(separable, groups)
    assert found["accuracy"] >= 0.95 and found["majority_baseline"] == pytest.approx(0.6)
    noise = linear_probe(rng.normal(size=(100, 8)), groups)
    assert noise["accuracy"] <= 0.75
    with pytest.raises(Exception, match="at least 2 groups"):
        linear_probe(separable, ["China"] * 100)


def test_corpus_files_name_their_origins():
    assert origin("essenFolksong/han1.abc") == "China"
    assert origin("essenFolksong/erk20.abc") == "Germany"
    assert origin("essenFolksong/lux.abc") == "Luxembourg"
    assert origin("oneills1850/0001-0050.abc") == "Ireland"
    assert origin("bach/bwv269.mxl") == "Bach chorales"
    assert origin("my/own/tune.mid") == ""
