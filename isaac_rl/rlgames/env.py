"""`RLGPUEnv`: the rl_games vec-env over one `VecTask`, everything kept as torch tensors."""

from __future__ import annotations

from typing import Any

from rl_games.common import env_configurations
from rl_games.common.ivecenv import IVecEnv


class RLGPUEnv(IVecEnv):
    """What rl_games' A2C agents and players call, forwarded to the task.

    Physics health (buffer overflow, NaN) is checked every
    `health_check_interval` steps: that check synchronises with the device, so
    it stays out of the task's own `step()`.
    """

    def __init__(self, config_name: str, num_actors: int, health_check_interval: int = 100, **kwargs: Any) -> None:
        self.env = env_configurations.configurations[config_name]["env_creator"](**kwargs)
        self.health_check_interval = health_check_interval
        self._steps = 0

    def step(self, actions):
        self._steps += 1
        if self._steps % self.health_check_interval == 0:
            self.env.check_health()
        return self.env.step(actions)

    def reset(self):
        return self.env.reset()

    def get_number_of_agents(self) -> int:
        return self.env.get_number_of_agents()

    def get_env_info(self) -> dict[str, Any]:
        info = {
            "action_space": self.env.action_space,
            "observation_space": self.env.observation_space,
            "agents": self.env.get_number_of_agents(),
            "value_size": 1,
        }
        if self.env.num_states > 0:
            info["state_space"] = self.env.state_space
        amp_space = getattr(self.env, "amp_observation_space", None)
        if amp_space is not None:
            info["amp_observation_space"] = amp_space
        return info

    def set_train_info(self, env_frames: int, *args: Any, **kwargs: Any) -> None:
        self.env.check_health()
        self.env.set_train_info(env_frames, *args, **kwargs)

    def get_env_state(self):
        return self.env.get_env_state()

    def set_env_state(self, env_state) -> None:
        self.env.set_env_state(env_state)
