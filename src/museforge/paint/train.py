"""Train a painting agent (DDPG, or the DQN on a discrete stroke set) with the project's one training loop (``core/training.py``).

The data are 64 px crops of pictures that ship with scikit-image (``paint/data.py``); the
loss is model-based DDPG's (``paint/ddpg.py``). A checkpoint holds the actor, the critic
and its target copy, the optimizer and the random state; the replay memory and the
episodes under way are not kept, so a resumed run refills them and does not repeat an
uninterrupted run bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import Tensor

from museforge.core.atomic import atomic_path
from museforge.core.training import RunOptions, TrainConfig, TrainResult, train
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


def train_agent(
    config: PaintTrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    command: str | None = None,
    progress: bool = True,
    options: RunOptions | None = None,
) -> TrainResult:
    """Fit a ``PaintAgent``; the model folder lands in ``out_dir/model``."""
    pictures = _cached_pictures(Path(out_dir), config, config.agent.size)
    agent = PaintAgent(config.agent)
    loss = DDPGLoss(config.agent, config.train.batch_size, config.memory, config.noise)
    return train(
        agent,
        pictures,
        loss,
        config.train,
        out_dir,
        resume=resume,
        command=command,
        progress=progress,
        options=options,
    )


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


def train_dqn(
    config: DQNTrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    command: str | None = None,
    progress: bool = True,
    options: RunOptions | None = None,
) -> TrainResult:
    """Fit a ``PaintDQN`` on crops at its small canvas size."""
    pictures = _cached_pictures(Path(out_dir), config, config.dqn.size)
    model = PaintDQN(config.dqn)
    loss = DQNLoss(config.dqn, config.train.batch_size, config.memory, config.explore_steps)
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
    """The training crops, cut once per run folder and kept there (a resume reuses them)."""
    key = f"{config.pictures}-{size}-{config.train.seed}"
    path = out_dir / f"pictures-{key}.safetensors"
    if path.is_file():
        return load_file(path)["pictures"]
    pictures = training_pictures(config.pictures, size, seed=config.train.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file({"pictures": pictures}, tmp)
    return pictures
