"""Episodes under way and the replay memory they fill, shared by the DDPG and DQN losses.

``envs`` painting episodes run side by side; each step the finished ones restart on white
paper with new targets, every state (canvas, target, step and whatever the loss adds, such
as the DQN's action) goes into a ring buffer of ``capacity`` states (pictures as uint8),
and the loss trains on a batch drawn from it. The environment is known and deterministic,
so the memory keeps states only: the next state and the reward are recomputed.

``state_dict`` holds all of it; the training loop keeps it in each checkpoint, so a
resumed run refills nothing and repeats an uninterrupted one bit for bit.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from museforge.paint.env import l2
from museforge.paint.strokes import blank


def to_uint8(images: Tensor) -> Tensor:
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def normalised_reward(canvas: Tensor, after: Tensor, target: Tensor) -> Tensor:
    """The drop in L2 a step brings, over the L2 of white paper (the env's reward), ``[B]``."""
    start = l2(blank(len(target), *target.shape[-2:]), target).clamp_min(1e-4)
    return (l2(canvas, target) - l2(after, target)) / start


@torch.no_grad()
def soft_update(follower: nn.Module, leader: nn.Module, tau: float) -> None:
    """Move a target network a fraction ``tau`` of the way to the network it follows."""
    for p_t, p in zip(follower.parameters(), leader.parameters(), strict=True):
        p_t.lerp_(p, tau)


class Replay:
    """Parallel episodes of ``steps`` steps on ``size`` px canvases, and their memory."""

    def __init__(self, envs: int, size: int, steps: int, capacity: int, **extra: torch.dtype):
        self.envs, self.steps, self.capacity = envs, steps, capacity
        self.canvas = blank(envs, size, size)
        self.target = torch.zeros(envs, 3, size, size)
        self.step = torch.full((envs,), steps, dtype=torch.long)  # all need a target
        self.memory = {
            "canvas": torch.zeros(capacity, 3, size, size, dtype=torch.uint8),
            "target": torch.zeros(capacity, 3, size, size, dtype=torch.uint8),
            "step": torch.zeros(capacity, dtype=torch.long),
        } | {name: torch.zeros(capacity, dtype=dtype) for name, dtype in extra.items()}
        self.counters = torch.zeros(2, dtype=torch.long)  # states held, next slot

    @property
    def size(self) -> int:
        return int(self.counters[0])

    def restart(self, targets: Tensor) -> None:
        """Finished episodes start again on white paper, painting ``targets`` (uint8)."""
        done = (self.step >= self.steps).nonzero().flatten()
        for n, i in enumerate(done.tolist()):
            self.target[i] = targets[n % len(targets)].float() / 255.0
            self.canvas[i] = 1.0
            self.step[i] = 0

    def remember(self, **extra: Tensor) -> None:
        """Keep every episode's current state (and ``extra`` values, one per episode)."""
        held, slot = self.counters.tolist()
        rows = (slot + torch.arange(self.envs)) % self.capacity
        values = {"canvas": to_uint8(self.canvas), "target": to_uint8(self.target)}
        for name, value in (values | {"step": self.step} | extra).items():
            self.memory[name][rows] = value
        self.counters[0] = min(held + self.envs, self.capacity)
        self.counters[1] = (slot + self.envs) % self.capacity

    def advance(self, canvas: Tensor) -> None:
        """Every episode moves one step on: ``canvas`` is what it painted."""
        self.canvas = canvas
        self.step += 1

    def sample(self, count: int) -> dict[str, Tensor]:
        """``count`` remembered states, drawn at random; pictures as float in 0..1."""
        pick = torch.randint(self.size, (count,))
        out = {name: values[pick] for name, values in self.memory.items()}
        out["canvas"] = out["canvas"].float() / 255.0
        out["target"] = out["target"].float() / 255.0
        return out

    def state_dict(self) -> dict[str, Tensor]:
        state = {"canvas": self.canvas, "target": self.target, "step": self.step}
        state |= {f"memory.{k}": v for k, v in self.memory.items()}
        return state | {"counters": self.counters}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.canvas = state["canvas"].clone()
        self.target = state["target"].clone()
        self.step = state["step"].clone()
        self.memory = {k: state[f"memory.{k}"].clone() for k in self.memory}
        self.counters = state["counters"].clone()
