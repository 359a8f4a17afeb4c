"""The painting environment: gymnasium's checker, exact repeats, rewards that add up."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env

from museforge.paint.env import ENV_ID, PaintEnv


def _episode(seed: int) -> tuple[list[np.ndarray], list[float], dict]:
    env = gym.make(ENV_ID, steps=4, bundle=2)
    obs, info = env.reset(seed=seed)
    env.action_space.seed(seed)
    frames, rewards, done = [obs], [], False
    while not done:
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        frames.append(obs)
        rewards.append(reward)
        done = terminated or truncated
    return frames, rewards, info


def test_check_env_passes() -> None:
    check_env(gym.make(ENV_ID, steps=3, render_mode="rgb_array").unwrapped)


def test_a_seeded_episode_repeats_exactly() -> None:
    frames_a, rewards_a, _ = _episode(7)
    frames_b, rewards_b, _ = _episode(7)
    assert len(frames_a) == 5
    assert all(np.array_equal(a, b) for a, b in zip(frames_a, frames_b, strict=True))
    assert rewards_a == rewards_b
    frames_c, _, _ = _episode(8)
    assert not all(np.array_equal(a, c) for a, c in zip(frames_a, frames_c, strict=True))


def test_rewards_add_up_to_the_fraction_of_error_removed() -> None:
    env = PaintEnv(steps=3, bundle=3)
    obs, info = env.reset(seed=0)
    assert obs.shape == (7, 64, 64) and obs[6].max() == 0
    start = info["l2"]
    total = 0.0
    for _ in range(3):
        obs, reward, terminated, _, info = env.step(env.action_space.sample())
        total += reward
    assert terminated and obs[6].min() == 255
    assert abs(total - (1 - info["l2"] / start)) < 1e-5
