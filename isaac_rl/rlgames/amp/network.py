"""Network builder `amp`: rl_games' actor-critic MLP plus a discriminator MLP.

Config (train.params.network), next to the usual actor_critic keys:

    disc:
      units: [1024, 512]
      activation: relu
      initializer: {name: default}
"""

from __future__ import annotations

import torch
from torch import nn
from rl_games.algos_torch.network_builder import A2CBuilder


class AMPBuilder(A2CBuilder):
    def build(self, name: str, **kwargs) -> "AMPBuilder.Network":
        return AMPBuilder.Network(self.params, **kwargs)

    class Network(A2CBuilder.Network):
        def __init__(self, params: dict, **kwargs) -> None:
            amp_input_shape = kwargs.pop("amp_input_shape", None)
            if amp_input_shape is None:
                raise ValueError("the amp network needs amp_input_shape (the task's amp_observation_space.shape)")
            super().__init__(params, **kwargs)
            if self.is_continuous and self.fixed_sigma and not self.space_config.get("learn_sigma", True):
                # AMP keeps the exploration noise fixed (IsaacGymEnvs' learn_sigma: False)
                self.sigma.requires_grad_(False)
            if self.is_rnn() or self.has_cnn:
                raise ValueError("the amp network supports MLP actor-critics only (no rnn/cnn sections)")
            disc = params.get("disc")
            if not disc or "units" not in disc:
                raise ValueError("the amp network needs a 'disc' section with 'units', e.g. disc: {units: [1024, 512], activation: relu}")
            units = list(disc["units"])
            self.disc_mlp = self._build_mlp(
                input_size=amp_input_shape[0], units=units, activation=disc.get("activation", "relu"), dense_func=nn.Linear
            )
            self.disc_logits = nn.Linear(units[-1] if units else amp_input_shape[0], 1)
            init = self.init_factory.create(**disc.get("initializer", {"name": "default"}))
            for layer in self.disc_mlp.modules():
                if isinstance(layer, nn.Linear):
                    init(layer.weight)
                    nn.init.zeros_(layer.bias)
            # Small logits at the start: D begins near 0.5, so early style rewards are all alike.
            nn.init.uniform_(self.disc_logits.weight, -1e-3, 1e-3)
            nn.init.zeros_(self.disc_logits.bias)

        def eval_disc(self, amp_obs: torch.Tensor) -> torch.Tensor:
            """Discriminator logits (N, 1) of (normalized) AMP observations (N, dim)."""
            return self.disc_logits(self.disc_mlp(amp_obs))

        def disc_logit_weights(self) -> list[torch.Tensor]:
            return [self.disc_logits.weight]

        def disc_weights(self) -> list[torch.Tensor]:
            hidden = [m.weight for m in self.disc_mlp.modules() if isinstance(m, nn.Linear)]
            return hidden + [self.disc_logits.weight]
