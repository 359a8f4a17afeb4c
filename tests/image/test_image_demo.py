"""The image part of the demo gallery: content, style sources and results that resolve,
each result in the store with the content as its parent."""

from __future__ import annotations

import re

import torch
from PIL import Image

from museforge.cli.demo import run_demo
from museforge.core.store import Store
from museforge.image import demo
from museforge.image.style.arbitrary import ArbitraryStyleConfig, ArbitraryStyleNet
from museforge.image.style.fast import FastStyleConfig, TransformNet


def test_image_section_shows_content_styles_and_results(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MUSEFORGE_DB_URL", raising=False)
    torch.manual_seed(0)
    models = []
    for name, source in (("tiny-a", "skimage:brick"), ("tiny-b", "skimage:gravel")):
        net = TransformNet(FastStyleConfig(width=4, res_blocks=1, style=source))
        torch.nn.init.normal_(net.net[-1][1].weight, std=0.05)  # not the identity it starts as
        models.append(str(net.save_pretrained(tmp_path / name)))
    arbitrary = ArbitraryStyleNet(
        ArbitraryStyleConfig(width=4, res_blocks=1, style="skimage:grass")
    )
    torch.nn.init.normal_(arbitrary.out[1].weight, std=0.05)
    models.append(str(arbitrary.save_pretrained(tmp_path / "tiny-any")))
    monkeypatch.setattr(demo, "STYLES", models)
    monkeypatch.setattr(demo, "SIZE", 64)
    monkeypatch.setattr(demo, "OPTIMISED", demo.StyleConfig(size=64, steps=3))

    index = run_demo(tmp_path / "gallery", seed=0, demos=["museforge.image.demo:demo_section"])
    page = index.read_text()
    pictures = re.findall(r'src="(files/[^"]+\.png)"', page)
    # the content, then per style: its source picture, the result, the result keeping
    # colours; the unseen style and the arbitrary network's result; the optimised result
    assert len(pictures) == 1 + 3 * 3 + 2 + 1, pictures
    for link in pictures:
        with Image.open(index.parent / link) as img:
            assert max(img.size) == 64
    with Store() as store:
        results = store.list_artifacts(kind="image")
        made = [a for a in results if a.params and a.params.get("command") == "stylize"]
        assert len(made) == 8
        fast = [a for a in made if "fast" in a.params and not a.params.get("styles")]
        assert {a.model_id.split("@")[0] for a in fast} == {"tiny-a", "tiny-b", "tiny-any"}
        assert all(len(store.parents(a.id)) == 1 for a in fast)
        (unseen,) = [a for a in made if "fast" in a.params and a.params.get("styles")]
        assert len(store.parents(unseen.id)) == 2  # the content and the unseen style
        (optimised,) = [a for a in made if "fast" not in a.params]
        assert len(store.parents(optimised.id)) == 2  # the content and the style
