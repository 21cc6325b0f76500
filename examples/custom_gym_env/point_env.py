"""A gymnasium env of your own, trained by isaac_rl's train.py: steer a point along a line to a target.

For the id `point_env:Point-v0` gymnasium imports this module, which registers
`Point-v0`; `make_kwargs` reach the constructor:

    PYTHONPATH=examples/custom_gym_env python scripts/train.py task=GymEnv \
        task.env.gym_id=point_env:Point-v0 +task.env.make_kwargs.episode_length=50 experiment=Point

Observations are a Dict (isaac_rl flattens them). An episode ends when the point
leaves the line (terminated) or after `episode_length` steps (truncated: PPO
treats that as a time-out and bootstraps).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class PointEnv(gym.Env):
    def __init__(self, episode_length: int = 100, speed: float = 0.1) -> None:
        self.episode_length = episode_length
        self.speed = speed
        self.observation_space = gym.spaces.Dict(
            {
                "position": gym.spaces.Box(-2.0, 2.0, (1,), np.float32),
                "target": gym.spaces.Box(-0.5, 0.5, (1,), np.float32),
            }
        )
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def _observation(self) -> dict[str, np.ndarray]:
        return {"position": np.array([self.position], np.float32), "target": np.array([self.target], np.float32)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position, self.target = self.np_random.uniform(-0.5, 0.5, size=2)
        self.steps = 0
        return self._observation(), {}

    def step(self, action):
        self.position += self.speed * float(np.clip(action[0], -1.0, 1.0))
        self.steps += 1
        off_the_line = abs(self.position) > 1.0
        reward = -1.0 if off_the_line else 1.0 - abs(self.position - self.target)
        return self._observation(), reward, off_the_line, self.steps >= self.episode_length, {}


gym.register("Point-v0", entry_point=PointEnv)
