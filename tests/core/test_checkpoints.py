"""Model folders and state files: safetensors plus JSON, exact round trips, clear errors."""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from museforge.core import checkpoints
from museforge.core.checkpoints import (
    Pretrained,
    flatten_state,
    load_state,
    read_config,
    resolve_model_dir,
    save_state,
    shipped_models,
    unflatten_state,
)
from museforge.errors import UserError


@dataclass
class TinyConfig:
    vocab: int = 11
    dim: int = 8
    sizes: tuple[int, ...] = (8, 4)


class TinyLM(Pretrained, nn.Module):
    """Tied input and output embeddings, a buffer and a tuple in the config."""

    config_class = TinyConfig
    model_type = "tiny-lm"

    def __init__(self, config: TinyConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab, config.dim)
        self.hidden = nn.Linear(config.dim, config.dim)
        self.out = nn.Linear(config.dim, config.vocab, bias=False)
        self.out.weight = self.embed.weight
        self.register_buffer("calls", torch.tensor(3, dtype=torch.long))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(self.embed(tokens))))


class OtherModel(TinyLM):
    model_type = "other"


def _saved(tmp_path: Path, **kwargs) -> tuple[TinyLM, Path]:
    torch.manual_seed(0)
    model = TinyLM(TinyConfig())
    return model, model.save_pretrained(tmp_path / "model", **kwargs)


def _one_line(err: pytest.ExceptionInfo, path: Path) -> str:
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_round_trip_gives_identical_outputs(tmp_path):
    model, folder = _saved(tmp_path, extra={"command": "museforge music train", "steps": 3})
    loaded = TinyLM.from_pretrained(folder)
    tokens = torch.arange(11).reshape(1, 11)
    assert torch.equal(model(tokens), loaded(tokens))
    assert not loaded.training
    assert loaded.config == model.config
    assert loaded.config.sizes == (8, 4)
    assert loaded.out.weight is loaded.embed.weight
    assert loaded.calls.item() == 3
    record = read_config(folder)
    assert record["model_type"] == "tiny-lm"
    assert record["command"] == "museforge music train"
    assert "tiny-lm" in (folder / "MODEL_CARD.md").read_text()


def test_float16_storage_loads_back_as_float32(tmp_path):
    model, folder = _saved(tmp_path, dtype=torch.float16, card="# tiny\n")
    loaded = TinyLM.from_pretrained(folder)
    assert loaded.hidden.weight.dtype == torch.float32
    assert torch.equal(loaded.hidden.weight, model.hidden.weight.half().float())
    assert loaded.calls.dtype == torch.long
    assert (folder / "MODEL_CARD.md").read_text() == "# tiny\n"
    half = (folder / "model.safetensors").stat().st_size
    full = TinyLM(TinyConfig()).save_pretrained(tmp_path / "full") / "model.safetensors"
    assert half < full.stat().st_size


def test_no_file_in_a_model_folder_is_a_pickle(tmp_path):
    _, folder = _saved(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == [
        "MODEL_CARD.md",
        "config.json",
        "model.safetensors",
    ]
    data = (folder / "model.safetensors").read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    assert header["__metadata__"]["format"] == "pt"
    assert json.loads(header["__metadata__"]["aliases"]) == {"out.weight": "embed.weight"}
    json.loads((folder / "config.json").read_text())
    for path in folder.iterdir():
        assert not path.read_bytes().startswith(b"\x80"), f"{path} looks like a pickle"


def test_shipped_names_resolve_under_weights_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoints, "WEIGHTS_DIR", tmp_path / "weights")
    assert shipped_models() == []
    model = TinyLM(TinyConfig())
    model.save_pretrained(tmp_path / "weights" / "tiny")
    (tmp_path / "weights" / "not-a-model").mkdir()
    assert shipped_models() == ["tiny"]
    assert resolve_model_dir("tiny") == tmp_path / "weights" / "tiny"
    assert TinyLM.from_pretrained("tiny").config == model.config
    with pytest.raises(UserError, match=r"nope: .*\(shipped: tiny\)"):
        TinyLM.from_pretrained("nope")


def test_missing_folder_is_a_user_error(tmp_path):
    missing = tmp_path / "no" / "model"
    with pytest.raises(UserError) as err:
        TinyLM.from_pretrained(missing)
    assert "no such model folder" in _one_line(err, missing)


def test_folder_without_files_is_a_user_error(tmp_path):
    _, folder = _saved(tmp_path)
    (folder / "model.safetensors").unlink()
    with pytest.raises(UserError) as err:
        TinyLM.from_pretrained(folder)
    assert "has no model.safetensors" in _one_line(err, folder)
    (folder / "config.json").unlink()
    with pytest.raises(UserError) as err:
        TinyLM.from_pretrained(folder)
    assert "has no config.json" in _one_line(err, folder)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_weights_are_a_user_error(tmp_path, damage):
    _, folder = _saved(tmp_path)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(b"\x80\x04 not safetensors" if damage == "garbage" else data[:-10])
    with pytest.raises(UserError) as err:
        TinyLM.from_pretrained(folder)
    assert "not a readable safetensors file" in _one_line(err, weights)


def test_corrupt_config_is_a_user_error(tmp_path):
    _, folder = _saved(tmp_path)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(UserError) as err:
        TinyLM.from_pretrained(folder)
    assert "not valid JSON" in _one_line(err, folder / "config.json")


def test_wrong_model_type_is_a_user_error(tmp_path):
    _, folder = _saved(tmp_path)
    with pytest.raises(UserError) as err:
        OtherModel.from_pretrained(folder)
    assert "holds a 'tiny-lm' model, not 'other'" in _one_line(err, folder)


def test_weights_that_do_not_fit_the_config_are_a_user_error(tmp_path):
    _, folder = _saved(tmp_path)
    record = json.loads((folder / "config.json").read_text())
    record["config"]["dim"] = 5
    (folder / "config.json").write_text(json.dumps(record))
    with pytest.raises(UserError) as err:
        TinyLM.from_pretrained(folder)
    assert "does not fit its config.json" in _one_line(err, folder / "model.safetensors")


def test_optimizer_and_rng_state_round_trip_exactly(tmp_path):
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), betas=(0.8, 0.99))
    for _ in range(2):
        model(torch.randn(4, 3)).square().mean().backward()
        optimizer.step()
    state = {"optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(), "py": (1, None)}
    tensors, skeleton = flatten_state(state, "s")
    save_state(tmp_path / "state.safetensors", tensors, {"skeleton": skeleton, "step": 2})
    loaded, meta = load_state(tmp_path / "state.safetensors")
    back = unflatten_state(meta["skeleton"], loaded)
    assert meta["step"] == 2
    assert back["py"] == (1, None)
    assert torch.equal(back["rng"], state["rng"])
    assert back["optimizer"]["param_groups"] == state["optimizer"]["param_groups"]
    assert back["optimizer"]["state"].keys() == {0, 1}
    for key, values in state["optimizer"]["state"].items():
        for name, value in values.items():
            assert torch.equal(back["optimizer"]["state"][key][name], value)
    fresh = torch.optim.AdamW(nn.Linear(3, 2).parameters())
    fresh.load_state_dict(back["optimizer"])
    assert fresh.param_groups[0]["betas"] == (0.8, 0.99)


def test_state_file_without_museforge_meta_is_a_user_error(tmp_path):
    _, folder = _saved(tmp_path)
    weights = folder / "model.safetensors"
    with pytest.raises(UserError) as err:
        load_state(weights)
    assert "holds no training state" in _one_line(err, weights)


def test_saved_files_get_the_usual_mode_not_a_temp_files_0600(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    _, folder = _saved(tmp_path)
    for name in ("model.safetensors", "config.json", "MODEL_CARD.md"):
        assert (folder / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_a_config_asking_for_a_huge_model_is_refused_before_allocation(tmp_path):
    _, folder = _saved(tmp_path)
    record = json.loads((folder / "config.json").read_text())
    record["config"]["dim"] = 40_000  # a 40,000 x 40,000 layer: 1.6 G numbers
    (folder / "config.json").write_text(json.dumps(record))
    with pytest.raises(UserError, match="more than the 1,000,000,000 museforge loads"):
        TinyLM.from_pretrained(folder)
    record["config"]["sizes"] = [8, 10**12]
    (folder / "config.json").write_text(json.dumps(record))
    with pytest.raises(UserError, match=r"config.sizes\[1\] = 1,000,000,000,000"):
        TinyLM.from_pretrained(folder)


def test_a_folder_mixing_two_saves_is_detected(tmp_path):
    _, first = _saved(tmp_path)
    torch.manual_seed(5)
    TinyLM(TinyConfig()).save_pretrained(tmp_path / "second")
    (first / "model.safetensors").write_bytes(
        (tmp_path / "second" / "model.safetensors").read_bytes()
    )
    with pytest.raises(UserError, match="not the one its config.json was written with"):
        TinyLM.from_pretrained(first)


def test_saving_over_a_model_folder_replaces_it_whole(tmp_path):
    model, folder = _saved(tmp_path)
    (folder / "stale.txt").write_text("from before")
    model.save_pretrained(folder, card="# new\n")
    assert sorted(p.name for p in folder.iterdir()) == [
        "MODEL_CARD.md",
        "config.json",
        "model.safetensors",
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temp or old folder left
    assert TinyLM.from_pretrained(folder).config == TinyConfig()
