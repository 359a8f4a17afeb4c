"""A painting agent trained by model-based DDPG (Learning to Paint, Huang et al. 2019).

The actor looks at the canvas, the target, their difference, the step and two coordinate
planes, and emits a bundle of ``bundle`` strokes. The renderer is known and
differentiable, so the critic values states, not actions: ``Q(s, a) = r(s, a) + gamma
V(s')`` where ``s'`` is the canvas after the bundle, and the actor climbs ``r + gamma V(s')``
with gradients that flow through the renderer into its strokes. The critic learns ``V``
from ``r + gamma V_target(s')``, with ``V_target`` a slowly following copy.

Sized for a CPU: 64 px canvases and small networks instead of the paper's ResNet-18 at
128 px. Departures from the paper (named):

- The actor is fully convolutional: it proposes one stroke for every cell of a ``grid x
  grid`` layout, its ends within ``reach`` cells of the cell's centre, and the bundle is
  the strokes of the ``bundle`` cells where the canvas is furthest from the target. A
  first actor in the paper's form (convolutions, then linear layers emitting the whole
  bundle) learnt, in the minutes a CPU gives it, one fixed set of strokes whatever the
  picture; a stroke per cell depends on what lies under it from the first step.
- With ``fit_colour`` each stroke's colour is the one that lowers the error most under
  its coverage (a closed form, see ``greedy.best_colour``), so the actor chooses shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.func import functional_call

from museforge.core.checkpoints import Pretrained
from museforge.core.training import unwrap
from museforge.paint.greedy import best_colour
from museforge.paint.replay import Replay, normalised_reward, soft_update
from museforge.paint.strokes import (
    STROKE_SIZE,
    BrushConfig,
    blank,
    composite,
    paint,
    stroke_alpha,
)


@dataclass
class AgentConfig:
    size: int = 64  # canvas side the agent sees
    bundle: int = 5  # strokes per step (the paper: 5)
    steps: int = 40  # steps per episode: 200 strokes (the paper: 40)
    width: int = 32  # channels of the first convolution (doubling twice)
    hidden: int = 256  # the critic's linear layer
    grid: int = 8  # the actor proposes a stroke per cell of a grid x grid layout
    reach: float = 2.0  # a stroke's ends lie within this many cells of its cell's centre
    gamma: float = 0.25  # discount of V(s') (the paper: 0.95 ** 5); small: mostly the analytic r
    fit_colour: bool = True
    logit_penalty: float = 1e-3  # keeps the actor's sigmoids out of saturation
    brush: BrushConfig = field(default_factory=BrushConfig)


def _coords(size: int) -> Tensor:
    ramp = torch.linspace(-1.0, 1.0, size)
    return torch.stack([ramp.view(1, -1).expand(size, size), ramp.view(-1, 1).expand(size, size)])


def _encoder(in_ch: int, width: int, hidden: int, size: int, out: int) -> nn.Sequential:
    chans = [in_ch, width, width * 2, width * 4, width * 4]
    layers: list[nn.Module] = []
    for a, b in zip(chans[:-1], chans[1:], strict=True):
        layers += [nn.Conv2d(a, b, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
    flat = chans[-1] * (size // 16) ** 2
    layers += [nn.Flatten(), nn.Linear(flat, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, out)]
    return nn.Sequential(*layers)


def _actor(in_ch: int, width: int, size: int, grid: int) -> nn.Sequential:
    """Strided convolutions down to ``grid x grid``, then 13 numbers per cell."""
    layers: list[nn.Module] = []
    chans, side = in_ch, size
    out = width
    while side > grid:
        layers += [nn.Conv2d(chans, out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        chans, side, out = out, side // 2, min(out * 2, width * 4)
    layers += [
        nn.Conv2d(chans, chans, 3, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(chans, STROKE_SIZE, 1),
    ]
    return nn.Sequential(*layers)


def state_planes(canvas: Tensor, target: Tensor, step: Tensor, steps: int) -> Tensor:
    """The networks' input ``[B, 12, S, S]``: canvas, target, their difference, the step
    as a plane in 0..1, and x and y coordinates (as CoordConv)."""
    b, _, s, _ = canvas.shape
    level = (step.float() / steps).view(b, 1, 1, 1).expand(b, 1, s, s)
    coords = _coords(s).to(canvas).expand(b, 2, s, s)
    return torch.cat([canvas, target, target - canvas, level, coords], dim=1)


class PaintAgent(nn.Module, Pretrained):
    """Actor and critic of model-based DDPG; the actor alone paints."""

    config_class = AgentConfig
    model_type = "paint-ddpg"

    def __init__(self, config: AgentConfig | None = None) -> None:
        super().__init__()
        self.config = config or AgentConfig()
        c = self.config
        if c.size % 16 or c.size % c.grid or c.grid * c.grid < c.bundle:
            raise ValueError(f"size {c.size} must be a multiple of 16 and of grid {c.grid}")
        self.actor = _actor(12, c.width, c.size, c.grid)
        self.critic = _encoder(12, c.width, c.hidden, c.size, 1)
        self.critic_target = _encoder(12, c.width, c.hidden, c.size, 1)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)

    def propose(
        self, canvas: Tensor, target: Tensor, step: Tensor, gen: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """The actor's output before the sigmoid for the bundle's cells, ``[B, bundle, 13]``,
        and those cells ``[B, bundle]``: where the canvas is furthest from the target (with
        ``gen``, drawn at random in proportion to their error)."""
        c = self.config
        x = state_planes(canvas, target, step, c.steps)
        per_cell = self.actor(x).flatten(2).transpose(1, 2)  # [B, grid * grid, 13]
        error = ((canvas - target) ** 2).sum(dim=1, keepdim=True)
        cell_error = nn.functional.adaptive_avg_pool2d(error, c.grid).flatten(1)
        if gen is None:
            cells = cell_error.topk(c.bundle, dim=1).indices  # [B, bundle]
        else:
            cells = torch.multinomial(cell_error + 1e-12, c.bundle, generator=gen)
        return per_cell.gather(1, cells[..., None].expand(-1, -1, STROKE_SIZE)), cells

    def place(self, raw: Tensor, cells: Tensor) -> Tensor:
        """Strokes in canvas coordinates from numbers relative to their cells."""
        c = self.config
        cx = ((cells % c.grid).float() + 0.5) / c.grid
        cy = ((cells // c.grid).float() + 0.5) / c.grid
        span = 2 * c.reach / c.grid
        ends = []
        for i in (0, 4):
            ends.append((cx + (raw[..., i] - 0.5) * span).clamp(0, 1))
            ends.append((cy + (raw[..., i + 1] - 0.5) * span).clamp(0, 1))
        return torch.cat(
            [
                torch.stack(ends[:2], -1),
                raw[..., 2:4],
                torch.stack(ends[2:], -1),
                raw[..., 6:],
            ],
            dim=-1,
        )

    def act(self, canvas: Tensor, target: Tensor, step: Tensor) -> Tensor:
        """A bundle of strokes ``[B, bundle, 13]`` for each state, in canvas coordinates."""
        logits, cells = self.propose(canvas, target, step)
        return self.place(torch.sigmoid(logits), cells)

    def value(
        self, canvas: Tensor, target: Tensor, step: Tensor, net: nn.Module | None = None
    ) -> Tensor:
        x = state_planes(canvas, target, step, self.config.steps)
        return (net or self.critic)(x).squeeze(1)

    def apply(
        self,
        canvas: Tensor,
        target: Tensor,
        strokes: Tensor,
        keep: Tensor | None = None,
        together: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """Paint a bundle; returns (new canvas, the strokes with the colours they painted).
        ``together`` rasterises the bundle's strokes in one call (painting does; training
        draws them one by one)."""
        _, _, h, w = canvas.shape
        brush = self.config.brush
        alphas = stroke_alpha(strokes, h, w, brush) if together else None
        painted = []
        for k in range(strokes.shape[1]):
            stroke = strokes[:, k]
            alpha = alphas[:, k] if alphas is not None else stroke_alpha(stroke, h, w, brush)
            if keep is not None:
                alpha = alpha * (1 - keep)[:, 0]
            if self.config.fit_colour and not brush.pen:
                stroke = torch.cat([stroke[:, :10], best_colour(alpha, canvas, target, None)], 1)
            color = stroke[:, 10:13]
            if brush.pen:
                color = torch.tensor(brush.ink).to(canvas).expand(len(stroke), 3)
            canvas = composite(canvas, alpha, color)
            painted.append(stroke)
        return canvas, torch.stack(painted, dim=1)


@torch.no_grad()
def agent_strokes(
    agent: PaintAgent,
    target: Tensor,
    count: int,
    *,
    canvas: Tensor | None = None,
    keep: Tensor | None = None,
    seed: int = 0,
    divide: int = 1,
    coarse: float = 0.5,
    on_stroke: Callable[[int], None] | None = None,
) -> Tensor:
    """``count`` strokes ``[count, 13]`` for ``target [1, 3, H, W]``, one forward pass per
    bundle. With ``divide`` > 1, in Learning to Paint's coarse-to-fine way: the first
    ``coarse`` of the strokes on the whole picture at the agent's size, the rest patch by
    patch on a ``divide x divide`` split of it at ``divide`` times that size (finer strokes
    for details; measured on held-out 64 px pictures at step 300 of training: L2 after 200
    strokes 0.0084 instead of 0.0098, in four times the time).

    At painting time the bundle's cells are drawn at random in proportion to their error
    (seeded), not always the worst ones: a cell the agent cannot improve is not painted
    over and over with the same stroke.
    """
    size, brush = agent.config.size, agent.config.brush
    gen = torch.Generator().manual_seed(seed)
    big = size * divide
    full_target = _fit(target, big)
    full_keep = _fit(keep, big) if keep is not None else None
    start = blank(1, big, big) if canvas is None else _fit(canvas, big)
    n_coarse = count if divide == 1 else min(count, round(count * coarse))
    strokes = _episode(
        agent,
        _fit(start, size),
        _fit(full_target, size),
        _fit(full_keep, size) if full_keep is not None else None,
        n_coarse,
        0,
        gen,
        on_stroke,
    )
    done = len(strokes)
    patches = divide * divide
    left = count - done
    for p in range(patches if left else 0):
        share = left // patches + (1 if p < left % patches else 0)
        if not share:
            continue
        row, col = divide_at = divmod(p, divide)
        box = (slice(None), slice(None), slice(row * size, (row + 1) * size))
        box = (*box, slice(col * size, (col + 1) * size))
        painted = paint(start, torch.cat(strokes)[None], brush) if strokes else start
        local = _episode(
            agent,
            painted[box],
            full_target[box],
            full_keep[box] if full_keep is not None else None,
            share,
            agent.config.steps // 2,
            gen,
            None,
        )
        strokes += [_from_patch(s, divide_at, divide, brush) for s in local]
        done += share
        if on_stroke is not None:
            on_stroke(done)
    return torch.cat(strokes)[:count] if strokes else torch.empty(0, STROKE_SIZE)


def _episode(
    agent: PaintAgent,
    canvas: Tensor,
    target: Tensor,
    keep: Tensor | None,
    count: int,
    first_step: int,
    gen: torch.Generator,
    on_stroke: Callable[[int], None] | None,
) -> list[Tensor]:
    strokes: list[Tensor] = []
    for i in range(-(-count // agent.config.bundle)):
        step = torch.tensor([min(first_step + i, agent.config.steps - 1)])
        logits, cells = agent.propose(canvas, target, step, gen)
        bundle = agent.place(torch.sigmoid(logits), cells)
        canvas, painted = agent.apply(canvas, target, bundle, keep, together=True)
        strokes.append(painted[0])
        if on_stroke is not None:
            on_stroke(min(count, (i + 1) * agent.config.bundle))
    return [torch.cat(strokes)[:count]] if strokes else []


def _from_patch(strokes: Tensor, at: tuple[int, int], divide: int, brush: BrushConfig) -> Tensor:
    """Strokes painted on one patch, in the whole canvas' coordinates and radii."""
    row, col = at
    out = strokes.clone()
    out[:, [0, 4]] = (col + strokes[:, [0, 4]]) / divide
    out[:, [1, 5]] = (row + strokes[:, [1, 5]]) / divide
    span = brush.max_radius - brush.min_radius
    radius = (brush.min_radius + strokes[:, 6:8] * span) / divide
    out[:, 6:8] = ((radius - brush.min_radius) / span).clamp(0.0, 1.0)
    return out


def _fit(image: Tensor, size: int) -> Tensor:
    if image.shape[-2:] == (size, size):
        return image
    return nn.functional.interpolate(
        image, size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )


class DDPGLoss:
    """``loss_fn`` for ``core.training.train``: each call moves ``envs`` parallel episodes
    one step (with exploration noise) into a replay memory (``replay.Replay``), then
    returns the actor's and the critic's losses on a batch drawn from it. New episodes
    take their targets from the batch the training loop hands over."""

    def __init__(self, config: AgentConfig, envs: int, memory: int = 2048, noise: float = 0.05):
        self.config, self.noise, self.tau = config, noise, 0.01
        self.replay = Replay(envs, config.size, config.steps, memory)

    def state_dict(self) -> dict[str, Tensor]:
        return self.replay.state_dict()

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.replay.load_state_dict(state)

    @torch.no_grad()
    def _explore(self, agent: PaintAgent, new_targets: Tensor) -> None:
        r = self.replay
        r.restart(new_targets)
        r.remember()
        bundle = agent.act(r.canvas, r.target, r.step)
        bundle = (bundle + self.noise * torch.randn_like(bundle)).clamp(0.0, 1.0)
        r.advance(agent.apply(r.canvas, r.target, bundle)[0])

    def __call__(
        self, model: nn.Module, batch: Tensor, step: int
    ) -> tuple[Tensor, dict[str, float]]:
        agent: PaintAgent = unwrap(model)  # type: ignore[assignment]
        self._explore(agent, batch)
        states = self.replay.sample(len(batch))
        canvas, target, t = states["canvas"], states["target"], states["step"]

        logits, cells = agent.propose(canvas, target, t)
        after, _ = agent.apply(canvas, target, agent.place(torch.sigmoid(logits), cells))
        reward = normalised_reward(canvas, after, target)
        live = (t + 1 < self.config.steps).float()
        frozen = {k: v.detach() for k, v in agent.critic.named_parameters()}
        planes = state_planes(after, target, t + 1, self.config.steps)
        v_next = functional_call(agent.critic, frozen, (planes,)).squeeze(1)
        actor_loss = -(reward + self.config.gamma * live * v_next).mean()
        actor_loss = actor_loss + self.config.logit_penalty * (logits**2).mean()

        with torch.no_grad():
            v_target = agent.value(after, target, t + 1, agent.critic_target)
            y = reward + self.config.gamma * live * v_target
        v = agent.value(canvas, target, t)
        critic_loss = ((v - y) ** 2).mean()
        soft_update(agent.critic_target, agent.critic, self.tau)
        metrics = {
            "reward": float(reward.detach().mean()),
            "critic_loss": float(critic_loss.detach()),
            "value": float(v.detach().mean()),
            "saturated": float((logits.detach().abs() > 4).float().mean()),
        }
        return actor_loss + critic_loss, metrics
