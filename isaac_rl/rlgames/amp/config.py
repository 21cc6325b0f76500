"""The AMP keys of train.params.config, read and checked once."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class AMPConfig:
    """Defaults are IsaacGymEnvs' HumanoidAMPPPO values."""

    amp_obs_demo_buffer_size: int = 200000
    amp_replay_buffer_size: int = 1000000
    amp_replay_keep_prob: float = 0.01
    amp_batch_size: int = 512  # demo samples fetched from the motion library each epoch
    amp_minibatch_size: int = 4096  # samples per side the discriminator sees per PPO minibatch
    disc_coef: float = 5.0
    disc_logit_reg: float = 0.05
    disc_grad_penalty: float = 5.0
    disc_weight_decay: float = 0.0001
    disc_reward_scale: float = 2.0
    normalize_amp_input: bool = True
    task_reward_w: float = 0.0
    disc_reward_w: float = 1.0

    @classmethod
    def from_train_config(cls, config: dict[str, Any]) -> "AMPConfig":
        values = {}
        for field in fields(cls):
            if field.name not in config:
                continue
            value = config[field.name]
            if field.type == "bool":
                if not isinstance(value, bool):
                    raise ValueError(f"train.params.config.{field.name}={value!r}: expected True or False")
            elif field.type == "int":
                if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                    raise ValueError(f"train.params.config.{field.name}={value!r}: expected a positive integer")
            else:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise ValueError(f"train.params.config.{field.name}={value!r}: expected a number >= 0")
                value = float(value)
            values[field.name] = value
        amp = cls(**values)
        if amp.amp_replay_keep_prob > 1:
            raise ValueError(f"train.params.config.amp_replay_keep_prob={amp.amp_replay_keep_prob}: expected a probability in [0, 1]")
        return amp
