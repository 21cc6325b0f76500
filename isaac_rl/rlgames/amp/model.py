"""Model `continuous_amp`: rl_games' Gaussian policy model plus the discriminator and its input normalizer.

The discriminator and the AMP observation normalizer live inside the model,
so rl_games' checkpoints (`state['model'] = model.state_dict()`) save and
restore them with the policy, and the optimizer steps them with it.

rl_games builds a model from a fixed dict (obs shape, action count, ...);
the AMP observation shape comes from the env, so the agent or player sets it
on the model with `set_amp_input` before the build.
"""

from __future__ import annotations

import torch
from rl_games.algos_torch.models import ModelA2CContinuousLogStd
from rl_games.algos_torch.running_mean_std import RunningMeanStd


def configure_amp_model(model: object, amp_input_shape: tuple[int, ...], normalize_amp_input: bool) -> None:
    """Check that the train config chose the AMP model and give it the AMP input before rl_games builds it."""
    if not isinstance(model, ModelAMPContinuous):
        raise ValueError("algo amp_continuous needs train.params.model.name: continuous_amp and network.name: amp")
    model.set_amp_input(amp_input_shape, normalize_amp_input)


class ModelAMPContinuous(ModelA2CContinuousLogStd):
    def __init__(self, network) -> None:
        super().__init__(network)
        self.amp_input_shape: tuple[int, ...] | None = None
        self.normalize_amp_input = False

    def set_amp_input(self, amp_input_shape: tuple[int, ...], normalize_amp_input: bool) -> None:
        self.amp_input_shape = tuple(amp_input_shape)
        self.normalize_amp_input = bool(normalize_amp_input)

    def build(self, config: dict) -> "ModelAMPContinuous.Network":
        if self.amp_input_shape is None:
            raise ValueError(
                "model continuous_amp needs the AMP observation shape: use it with algo amp_continuous "
                "on a task that has amp_observation_space (e.g. task=HumanoidAMP)"
            )
        net = self.network_builder.build(self.model_class, **config, amp_input_shape=self.amp_input_shape)
        return self.Network(
            net,
            obs_shape=config["input_shape"],
            normalize_value=config.get("normalize_value", False),
            normalize_input=config.get("normalize_input", False),
            value_size=config.get("value_size", 1),
            amp_input_shape=self.amp_input_shape,
            normalize_amp_input=self.normalize_amp_input,
        )

    class Network(ModelA2CContinuousLogStd.Network):
        def __init__(self, a2c_network, amp_input_shape: tuple[int, ...], normalize_amp_input: bool, **kwargs) -> None:
            super().__init__(a2c_network, **kwargs)
            self.normalize_amp_input = normalize_amp_input
            if normalize_amp_input:
                self.amp_mean_std = RunningMeanStd(amp_input_shape)

        def update_amp_normalizer(self, amp_obs: torch.Tensor) -> None:
            """Fold a batch of raw AMP observations into the normalizer's running mean and variance."""
            if self.normalize_amp_input:
                with torch.no_grad():
                    self.amp_mean_std.train()
                    self.amp_mean_std(amp_obs)
                    self.amp_mean_std.eval()

        def norm_amp_obs(self, amp_obs: torch.Tensor) -> torch.Tensor:
            """Normalize with the current statistics, never updating them (they change once per epoch only)."""
            if not self.normalize_amp_input:
                return amp_obs
            training = self.amp_mean_std.training
            self.amp_mean_std.eval()
            with torch.no_grad():
                normalized = self.amp_mean_std(amp_obs)
            self.amp_mean_std.train(training)
            return normalized

        def disc_logits(self, normalized_amp_obs: torch.Tensor) -> torch.Tensor:
            """Discriminator logits (N,) of normalized AMP observations."""
            return self.a2c_network.eval_disc(normalized_amp_obs).squeeze(-1)
