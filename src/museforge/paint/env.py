"""The painting environment, a ``gymnasium.Env`` that reads like CartPole.

Observation: the canvas, the target and the step, as one ``uint8`` array
``[7, size, size]`` (3 canvas channels, 3 target channels, one plane filled with
``255 * step / steps``). Action: a bundle of ``bundle`` strokes, ``bundle * 13`` numbers
in 0..1 (see ``strokes.py``). Reward: the drop in L2 distance to the target that the
bundle brings, divided by the L2 distance of blank paper, so an episode's rewards add up to
the fraction of the error it removed (Learning to Paint, Huang et al. 2019). An episode
ends after ``steps`` bundles; the canvas starts as white paper.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from museforge.paint.data import as_float, held_out_pictures
from museforge.paint.strokes import STROKE_SIZE, BrushConfig, blank, paint

ENV_ID = "museforge/Paint-v0"


def l2(canvas: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference per picture, ``[B]``, of images in 0..1."""
    return ((canvas - target) ** 2).flatten(1).mean(dim=1)


class PaintEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        targets: np.ndarray | torch.Tensor | None = None,
        bundle: int = 5,
        steps: int = 40,
        brush: BrushConfig | None = None,
        render_mode: str | None = None,
    ) -> None:
        if targets is None:
            targets = held_out_pictures()
        self.targets = torch.as_tensor(np.asarray(targets), dtype=torch.uint8)
        if self.targets.ndim != 4 or self.targets.shape[1] != 3:
            raise ValueError(f"targets must be [N, 3, H, W] uint8, not {tuple(self.targets.shape)}")
        self.bundle, self.steps = bundle, steps
        self.brush = brush or BrushConfig()
        self.render_mode = render_mode
        _, _, h, w = self.targets.shape
        self.observation_space = spaces.Box(0, 255, (7, h, w), dtype=np.uint8)
        self.action_space = spaces.Box(0.0, 1.0, (bundle * STROKE_SIZE,), dtype=np.float32)
        self.target = as_float(self.targets[:1])
        self.canvas = blank(1, h, w)
        self.step_count = 0
        self.start_l2 = 1.0

    def _obs(self) -> np.ndarray:
        canvas = (self.canvas[0].clamp(0, 1) * 255).round().to(torch.uint8)
        target = (self.target[0] * 255).round().to(torch.uint8)
        level = round(255 * self.step_count / self.steps)
        plane = torch.full((1, *canvas.shape[1:]), level, dtype=torch.uint8)
        return torch.cat([canvas, target, plane]).numpy()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        index = int(self.np_random.integers(len(self.targets)))
        self.target = as_float(self.targets[index : index + 1])
        _, _, h, w = self.target.shape
        self.canvas = blank(1, h, w)
        self.step_count = 0
        self.start_l2 = max(float(l2(self.canvas, self.target)[0]), 1e-8)
        return self._obs(), {"target_index": index, "l2": self.start_l2}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        strokes = torch.as_tensor(np.clip(action, 0.0, 1.0), dtype=torch.float32)
        before = float(l2(self.canvas, self.target)[0])
        with torch.no_grad():
            self.canvas = paint(self.canvas, strokes.view(1, self.bundle, STROKE_SIZE), self.brush)
        after = float(l2(self.canvas, self.target)[0])
        self.step_count += 1
        reward = (before - after) / self.start_l2
        terminated = self.step_count >= self.steps
        return self._obs(), reward, terminated, False, {"l2": after}

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return (self.canvas[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def register() -> None:
    """Make ``gymnasium.make("museforge/Paint-v0")`` work (done when this module loads)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="museforge.paint.env:PaintEnv")


register()
