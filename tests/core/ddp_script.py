"""Train a small MLP through core.training, under torchrun (DDP) or as one process.

    torchrun --standalone --nproc_per_node 2 ddp_script.py OUT
    python ddp_script.py OUT

Each rank writes ``OUT/weights_rank<r>.safetensors`` (its final weights) and
``OUT/losses_rank<r>.json`` (its own loss at every step and the mean over all ranks).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file
from torch import nn
from torch.utils.data import TensorDataset

from museforge.core.training import TrainConfig, train


def main() -> None:
    out = Path(sys.argv[1])
    rank = int(os.environ.get("RANK", "0"))
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=gen)
    y = torch.sin(x @ torch.randn(8, 1, generator=gen))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 1))
    local, mean = [], []

    def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], step: int):
        inputs, targets = batch
        pred = model(inputs)
        loss = nn.functional.mse_loss(pred, targets)
        total = loss.detach().clone()
        if dist.is_initialized():
            dist.all_reduce(total)
            total /= dist.get_world_size()
        local.append(loss.item())
        mean.append(total.item())
        return loss, {"mae": (pred - targets).abs().mean()}

    config = TrainConfig(steps=8, batch_size=32, lr=1e-2, checkpoint_every=4, log_every=1)
    train(model, TensorDataset(x, y), loss_fn, config, out / "run", progress=False)
    weights = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(weights, out / f"weights_rank{rank}.safetensors")
    (out / f"losses_rank{rank}.json").write_text(json.dumps({"local": local, "mean": mean}))


if __name__ == "__main__":
    main()
