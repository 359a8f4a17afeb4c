"""Train a painting agent (DDPG, or the DQN on a discrete stroke set) with the project's one
training loop (``core/training.py``).

The data are crops of pictures that ship with scikit-image (``paint/data.py``), cut once per
run folder by rank 0 and kept there; the loss is model-based DDPG's (``paint/ddpg.py``) or
the DQN's (``paint/dqn.py``). A checkpoint holds the networks, the optimizer, the random
state and the loss' episodes and replay memory (``paint/replay.py``), so a resumed run
ends with the same weights, bit for bit, as one that never stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from museforge.core import distributed
from museforge.core.atomic import atomic_path
from museforge.core.training import LossFn, RunOptions, TrainConfig, TrainResult, train
from museforge.paint.data import training_pictures
from museforge.paint.ddpg import AgentConfig, DDPGLoss, PaintAgent
from museforge.paint.dqn import DQNConfig, DQNLoss, PaintDQN


@dataclass
class PaintTrainConfig:
    agent: AgentConfig = field(default_factory=AgentConfig)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=3000, batch_size=16, lr=3e-4, grad_clip=None, checkpoint_every=100, log_every=25
        )
    )
    pictures: int = 3000  # training crops
    memory: int = 2048  # states in the replay memory
    noise: float = 0.05  # exploration noise on the actor's strokes


@dataclass
class DQNTrainConfig:
    dqn: DQNConfig = field(default_factory=DQNConfig)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=2000, batch_size=32, lr=1e-3, checkpoint_every=250, log_every=25
        )
    )
    pictures: int = 2000
    memory: int = 4096
    explore_steps: int = 500


def build(config: PaintTrainConfig | DQNTrainConfig) -> tuple[nn.Module, LossFn, int]:
    """The model, its loss and the canvas size it trains at."""
    envs = config.train.batch_size  # episodes under way, in each process
    if isinstance(config, DQNTrainConfig):
        loss = DQNLoss(config.dqn, envs, config.memory, config.explore_steps)
        return PaintDQN(config.dqn), loss, config.dqn.size
    loss = DDPGLoss(config.agent, envs, config.memory, config.noise)
    return PaintAgent(config.agent), loss, config.agent.size


def train_painter(
    config: PaintTrainConfig | DQNTrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    command: str | None = None,
    progress: bool = True,
    options: RunOptions | None = None,
) -> TrainResult:
    """Fit a ``PaintAgent`` (DDPG) or a ``PaintDQN``; the model folder lands in
    ``out_dir/model``."""
    torch.manual_seed(config.train.seed)  # the initial weights are the seed's too
    model, loss, size = build(config)
    with distributed.main_process_first():
        pictures = _cached_pictures(Path(out_dir), config, size)
    return train(
        model,
        pictures,
        loss,
        config.train,
        out_dir,
        resume=resume,
        command=command,
        progress=progress,
        options=options,
    )


def _cached_pictures(out_dir: Path, config: PaintTrainConfig | DQNTrainConfig, size: int) -> Tensor:
    """The training crops, cut once per run folder and kept there (a resume reuses them);
    only rank 0 writes them."""
    key = f"{config.pictures}-{size}-{config.train.seed}"
    path = out_dir / f"pictures-{key}.safetensors"
    if path.is_file():
        return load_file(path)["pictures"]
    pictures = training_pictures(config.pictures, size, seed=config.train.seed)
    if distributed.is_main_process():
        out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file({"pictures": pictures}, tmp)
    return pictures
