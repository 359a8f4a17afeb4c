"""A DQN that paints small canvases from a discrete set of strokes (Mnih et al. 2015).

The action set is fixed: straight strokes centred on a ``grid x grid`` layout, in
``len(ANGLES)`` directions and ``len(RADII)`` widths; each stroke's colour is fitted in
closed form as the DDPG agent's are. The network values every action from the canvas,
the target, their difference, the step and two coordinate planes, and learns the
Bellman optimality equation ``Q*(s, a) = r(s, a) + gamma max_a' Q*(s', a')`` from a
replay memory, against a slowly following target copy. The environment is known and
deterministic, so the memory keeps states and actions and ``s'`` and ``r`` are recomputed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from museforge.core.checkpoints import Pretrained
from museforge.core.training import unwrap
from museforge.paint.greedy import best_colour
from museforge.paint.replay import Replay, normalised_reward, soft_update
from museforge.paint.strokes import STROKE_SIZE, BrushConfig, blank, composite, stroke_alpha

ANGLES = (0.0, 45.0, 90.0, 135.0)  # degrees
RADII = (0.1, 0.4)  # radius parameters (0..1 of the brush's range)


@dataclass
class DQNConfig:
    size: int = 16  # canvas side
    grid: int = 4  # stroke centres per side
    length: float = 0.25  # stroke length, fraction of the canvas
    steps: int = 12  # strokes per episode
    width: int = 16
    gamma: float = 0.9


def stroke_set(config: DQNConfig) -> Tensor:
    """The discrete actions ``[A, 13]`` (colour zero: it is fitted when painted)."""
    rows = []
    for gy in range(config.grid):
        for gx in range(config.grid):
            cx, cy = (gx + 0.5) / config.grid, (gy + 0.5) / config.grid
            for angle in ANGLES:
                dx = 0.5 * config.length * math.cos(math.radians(angle))
                dy = 0.5 * config.length * math.sin(math.radians(angle))
                for r in RADII:
                    rows.append([cx - dx, cy - dy, 0.5, 0.5, cx + dx, cy + dy, r, r, 1, 1, 0, 0, 0])
    return torch.tensor(rows).clamp(0.0, 1.0)


def _planes(canvas: Tensor, target: Tensor, step: Tensor, steps: int) -> Tensor:
    b, _, s, _ = canvas.shape
    level = (step.float() / steps).view(b, 1, 1, 1).expand(b, 1, s, s)
    ramp = torch.linspace(-1.0, 1.0, s)
    coords = torch.stack([ramp.view(1, -1).expand(s, s), ramp.view(-1, 1).expand(s, s)])
    return torch.cat([canvas, target, target - canvas, level, coords.expand(b, 2, s, s)], 1)


class PaintDQN(nn.Module, Pretrained):
    """Q-values of every stroke of the set, and a target copy for the Bellman targets."""

    config_class = DQNConfig
    model_type = "paint-dqn"

    def __init__(self, config: DQNConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or DQNConfig()
        self.register_buffer("actions", stroke_set(c), persistent=False)
        n = len(self.actions)

        def net() -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(12, c.width, 3, padding=1),
                nn.LeakyReLU(0.2),
                nn.Conv2d(c.width, 2 * c.width, 4, stride=2, padding=1),
                nn.LeakyReLU(0.2),
                nn.Flatten(),
                nn.Linear(2 * c.width * (c.size // 2) ** 2, n),
            )

        self.q = net()
        self.q_target = net()
        self.q_target.load_state_dict(self.q.state_dict())
        self.q_target.requires_grad_(False)
        self.brush = BrushConfig()

    def values(self, canvas: Tensor, target: Tensor, step: Tensor, net: nn.Module | None = None):
        return (net or self.q)(_planes(canvas, target, step, self.config.steps))

    def apply(self, canvas: Tensor, target: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        """Paint action ``[B]`` with its fitted colour: (new canvas, the strokes ``[B, 13]``)."""
        stroke = self.actions[action].clone()
        _, _, h, w = canvas.shape
        alpha = stroke_alpha(stroke, h, w, self.brush)
        stroke[:, 10:13] = best_colour(alpha, canvas, target, None)
        return composite(canvas, alpha, stroke[:, 10:13]), stroke


@torch.no_grad()
def dqn_strokes(
    model: PaintDQN,
    target: Tensor,
    count: int,
    *,
    canvas: Tensor | None = None,
    on_stroke: Callable[[int], None] | None = None,
) -> Tensor:
    """``count`` strokes ``[count, 13]``: the action of highest value, step by step, on the
    picture resized to the model's canvas."""
    size = model.config.size
    small = nn.functional.interpolate(target, size=(size, size), mode="bilinear", antialias=True)
    canvas = (
        blank(1, size, size)
        if canvas is None
        else nn.functional.interpolate(canvas, size=(size, size), mode="bilinear", antialias=True)
    )
    out = []
    for i in range(count):
        step = torch.tensor([min(i, model.config.steps - 1)])
        action = model.values(canvas, small, step).argmax(dim=1)
        canvas, stroke = model.apply(canvas, small, action)
        out.append(stroke[0])
        if on_stroke is not None:
            on_stroke(i + 1)
    return torch.stack(out) if out else torch.empty(0, STROKE_SIZE)


class DQNLoss:
    """``loss_fn`` for ``core.training.train``: ``envs`` episodes move one epsilon-greedy
    step per call into the replay memory (``replay.Replay``); the loss is the squared
    Bellman error on a batch drawn from it (epsilon falls from 1 to 0.1 over
    ``explore_steps``)."""

    def __init__(self, config: DQNConfig, envs: int, memory: int = 4096, explore_steps: int = 500):
        self.config, self.envs, self.explore, self.tau = config, envs, explore_steps, 0.01
        self.replay = Replay(envs, config.size, config.steps, memory, action=torch.long)

    def state_dict(self) -> dict[str, Tensor]:
        return self.replay.state_dict()

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.replay.load_state_dict(state)

    @torch.no_grad()
    def _explore(self, model: PaintDQN, targets: Tensor, step: int) -> None:
        r = self.replay
        r.restart(targets)
        eps = max(0.1, 1.0 - 0.9 * step / self.explore)
        greedy = model.values(r.canvas, r.target, r.step).argmax(dim=1)
        random = torch.randint(len(model.actions), (self.envs,))
        action = torch.where(torch.rand(self.envs) < eps, random, greedy)
        r.remember(action=action)
        r.advance(model.apply(r.canvas, r.target, action)[0])

    def __call__(self, model: nn.Module, batch: Tensor, step: int) -> tuple[Tensor, dict]:
        dqn: PaintDQN = unwrap(model)  # type: ignore[assignment]
        self._explore(dqn, batch, step)
        states = self.replay.sample(len(batch))
        canvas, target = states["canvas"], states["target"]
        t, action = states["step"], states["action"]
        with torch.no_grad():
            after, _ = dqn.apply(canvas, target, action)
            reward = normalised_reward(canvas, after, target)
            live = (t + 1 < self.config.steps).float()
            best_next = dqn.values(after, target, t + 1, dqn.q_target).max(dim=1).values
            y = reward + self.config.gamma * live * best_next
        q = dqn.values(canvas, target, t).gather(1, action[:, None]).squeeze(1)
        loss = nn.functional.smooth_l1_loss(q, y)
        soft_update(dqn.q_target, dqn.q, self.tau)
        return loss, {"q": float(q.detach().mean()), "reward": float(reward.mean())}
