"""``museforge paint evaluate --json``: one object with every method's figures, and a plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from museforge.cli import run
from museforge.paint.ddpg import AgentConfig, PaintAgent


def test_evaluate_prints_one_json_object_and_draws_the_plot(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture
) -> None:
    model = PaintAgent(AgentConfig(size=32, bundle=2, steps=5, width=8, hidden=16))
    model.save_pretrained(tmp_path / "agent")
    plot = tmp_path / "l2.png"
    args = ["paint", "evaluate", "--model", str(tmp_path / "agent"), "--methods"]
    args += ["agent,painterly", "--images", "2", "--strokes", "10", "--json", "--plot", str(plot)]
    assert run(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 2
    for method in ("agent", "painterly"):
        assert 0 < report[f"{method}.l2_10"] < 1
        assert report[f"{method}.seconds_per_image"] > 0
        assert len(report["curves"][method]) == 11
        assert report["curves"][method][10] == pytest.approx(report[f"{method}.l2_10"], abs=1e-6)
    assert Image.open(plot).size == (720, 440)
