"""Train a tiny regressor through core.training, as a real process that tests can kill.

    python train_tiny_script.py OUT [--steps N] [--sleep SECONDS] [--resume] [--force]
        [--inf-at STEP] [--skip-nonfinite N]

Exits 130 when stopped by Ctrl-C or SIGTERM, as the CLI does.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import TensorDataset

from museforge.core.checkpoints import Pretrained
from museforge.core.training import RunOptions, TrainConfig, TrainingInterrupted, train
from museforge.errors import UserError


@dataclass
class TinyConfig:
    hidden: int = 32
    dropout: float = 0.1


class TinyRegressor(Pretrained, nn.Module):
    config_class = TinyConfig
    model_type = "tiny-regressor"

    def __init__(self, config: TinyConfig) -> None:
        super().__init__()
        self.config = config
        self.net = nn.Sequential(
            nn.Linear(4, config.hidden),
            nn.Tanh(),
            nn.Dropout(config.dropout),  # draws from the global RNG, so resume must restore it
            nn.Linear(config.hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--inf-at", type=int, default=0, help="make this step's loss infinite")
    parser.add_argument("--skip-nonfinite", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(512, 4, generator=gen)
    y = (x * torch.tensor([1.0, -2.0, 0.5, 3.0])).sum(1, keepdim=True)
    torch.manual_seed(0)
    model = TinyRegressor(TinyConfig())

    def loss_fn(
        model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], step: int
    ) -> torch.Tensor:
        time.sleep(args.sleep)  # slow enough for a test to catch it mid-run
        inputs, targets = batch
        loss = nn.functional.mse_loss(model(inputs), targets)
        return loss * math.inf if step == args.inf_at else loss

    config = TrainConfig(
        steps=args.steps,
        batch_size=32,
        lr=1e-2,
        ema_decay=0.9,
        checkpoint_every=5,
        log_every=5,
    )
    options = RunOptions(skip_nonfinite=args.skip_nonfinite, force=args.force)
    try:
        train(
            model,
            TensorDataset(x, y),
            loss_fn,
            config,
            args.out,
            resume=args.resume,
            options=options,
        )
    except TrainingInterrupted as stop:
        print(stop, file=sys.stderr)
        sys.exit(stop.exit_code)
    except UserError as err:
        print(f"error: {err.message}", file=sys.stderr)
        sys.exit(err.exit_code)


if __name__ == "__main__":
    main()
