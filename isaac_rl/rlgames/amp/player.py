"""Player for `amp_continuous` runs: rl_games' continuous PPO player on the AMP model.

The model carries the discriminator, so the checkpoint loads whole (strict)
and the player can report how reference-like the played motion looks.
"""

from __future__ import annotations

import torch
from rl_games.algos_torch.players import PpoPlayerContinuous

from isaac_rl.rlgames.amp.config import AMPConfig
from isaac_rl.rlgames.amp.env_access import create_env_first
from isaac_rl.rlgames.amp.losses import style_reward
from isaac_rl.rlgames.amp.model import configure_amp_model


class AMPPlayer(PpoPlayerContinuous):
    def __init__(self, params: dict) -> None:
        config = params["config"]
        self.amp_config = AMPConfig.from_train_config(config)
        self._amp_obs_shape = tuple(create_env_first(config, for_player=True).shape)
        super().__init__(params)

    def load_networks(self, params: dict) -> None:
        super().load_networks(params)
        configure_amp_model(self.config["network"], self._amp_obs_shape, self.amp_config.normalize_amp_input)

    def style_rewards(self, amp_obs: torch.Tensor) -> torch.Tensor:
        """Style reward (N,) the trained discriminator gives AMP observations (N, dim)."""
        with torch.no_grad():
            logits = self.model.disc_logits(self.model.norm_amp_obs(amp_obs.to(self.device)))
        return style_reward(logits, self.amp_config.disc_reward_scale)

    def env_step(self, env, actions):
        obs, rewards, dones, infos = super().env_step(env, actions)
        if isinstance(infos, dict) and "amp_obs" in infos:
            style = self.style_rewards(infos["amp_obs"])
            self._style_sum = self._style_sum + style.sum()
            self._style_count += style.numel()
        return obs, rewards, dones, infos

    def run(self) -> None:
        self._style_sum = torch.zeros((), device=self.device)
        self._style_count = 0
        super().run()
        if self._style_count:
            print(f"av style reward per step: {(self._style_sum / self._style_count).item():.3f}")
