"""``torchrun -m museforge paint train``: two processes train, rank 0 alone writes files."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file
from torchrun_launch import run_museforge


def test_two_ranks_train_and_only_rank_0_writes(tmp_path: Path, home: Path) -> None:
    out = tmp_path / "run"
    output = run_museforge(
        home,
        *("paint", "train", "--out", str(out), "--steps", "2", "--batch-size", "2"),
        *("--pictures", "4", "--memory", "4", "--width", "4", "--episode", "2"),
    )
    assert output.count("model kept in the store") == 1, output
    assert output.count("trained 2 steps") == 1, output
    files = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert files == [
        "checkpoint-00000002.safetensors",
        "checkpoint.safetensors",
        "metrics.jsonl",
        "model",
        "pictures-4-64-0.safetensors",
    ], files
    assert any(k.startswith("loss/") for k in load_file(out / "checkpoint.safetensors"))
    assert (out / "model" / "model.safetensors").is_file()
