"""``paint train`` stopped halfway and resumed ends with the weights of a run that never stopped."""

from __future__ import annotations

from pathlib import Path

import pytest
from safetensors.torch import load_file

from museforge.cli import run


@pytest.mark.parametrize("algo", ["ddpg", "dqn"])
def test_a_resumed_run_repeats_an_uninterrupted_one_bit_for_bit(
    tmp_path: Path, home: Path, algo: str
) -> None:
    args = ["paint", "train", "--algo", algo, "--batch-size", "2", "--pictures", "4"]
    args += ["--memory", "6", "--width", "4", "--episode", "3", "--seed", "3"]
    straight, halves = tmp_path / "straight", tmp_path / "halves"
    assert run([*args, "--out", str(straight), "--steps", "6"]) == 0
    assert run([*args, "--out", str(halves), "--steps", "3"]) == 0
    assert run([*args, "--out", str(halves), "--steps", "6", "--resume"]) == 0
    one = load_file(straight / "model" / "model.safetensors")
    two = load_file(halves / "model" / "model.safetensors")
    assert one.keys() == two.keys()
    assert all((one[k] == two[k]).all() for k in one)
    assert (straight / "metrics.jsonl").read_text() != ""
