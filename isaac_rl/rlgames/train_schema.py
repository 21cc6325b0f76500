"""The keys of an rl_games train config (`train.params`) that isaac_rl runs accept, with their values.

rl_games reads its config with `config.get(...)` and converts values where it
uses them, so a wrong type used to fail mid-training, and a misspelled key was
silently ignored. These are the keys rl_games 1.6.5 (a2c_common, the PPO
agents and players, the network builder) and isaac_rl's AMP agent read.
Sections whose content rl_games passes on as keyword arguments
(initializers, the player, env_config) are free-form.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from isaac_rl.rlgames.amp.config import AMPConfig
from isaac_rl.utils import schema as s

_POSITIVE = s.number(0, low_open=True)
_NON_NEGATIVE = s.number(0)
_FRACTION = s.number(0, 1)

_AMP_TYPES = {"int": s.integer(1), "float": _NON_NEGATIVE, "bool": s.BOOLEAN}
AMP_CONFIG = {field.name: _AMP_TYPES[str(field.type)] for field in fields(AMPConfig)}

CONFIG: dict[str, Any] = {
    # naming and placement (train.py fills device, train_dir and keep_checkpoints in)
    "name": s.STRING,
    "full_experiment_name": s.STRING,
    "env_name": s.STRING,
    "device": s.STRING,
    "device_name": s.STRING,
    "train_dir": s.STRING,
    "keep_checkpoints": s.integer(0),
    "multi_gpu": s.BOOLEAN,
    "num_actors": s.integer(1),
    "env_config": s.FREE_FORM,
    "player": s.FREE_FORM,
    # PPO
    "ppo": s.BOOLEAN,
    "gamma": s.number(0, 1, low_open=True),
    "tau": _FRACTION,
    "learning_rate": _POSITIVE,
    "lr_schedule": s.optional(s.choice("adaptive", "linear", "constant", "None"), "null"),
    "schedule_type": s.choice("legacy", "standard"),
    "kl_threshold": _POSITIVE,
    "e_clip": _POSITIVE,
    "clip_value": s.BOOLEAN,
    "critic_coef": _NON_NEGATIVE,
    "entropy_coef": _NON_NEGATIVE,
    "bounds_loss_coef": s.optional(_NON_NEGATIVE, "null"),
    "bound_loss_type": s.choice("bound", "regularisation"),
    "grad_norm": _POSITIVE,
    "truncate_grads": s.BOOLEAN,
    # isaac_rl's a2c_continuous: record the rollout's step and each minibatch step as CUDA graphs (isaac_rl/rlgames/fast_ppo.py)
    "cuda_graphs": s.BOOLEAN,
    "weight_decay": _NON_NEGATIVE,
    "horizon_length": s.integer(1),
    "minibatch_size": s.integer(1),
    "minibatch_size_per_env": s.integer(1),
    "mini_epochs": s.integer(1),
    "seq_length": s.integer(1),
    "normalize_input": s.BOOLEAN,
    "normalize_value": s.BOOLEAN,
    "normalize_advantage": s.BOOLEAN,
    "normalize_rms_advantage": s.BOOLEAN,
    "value_bootstrap": s.BOOLEAN,
    "clip_actions": s.BOOLEAN,
    "use_smooth_clamp": s.BOOLEAN,
    "zero_rnn_on_done": s.BOOLEAN,
    "mixed_precision": s.BOOLEAN,
    "torch_compile": s.either(s.BOOLEAN, s.choice("default", "reduce-overhead", "max-autotune")),
    "reward_shaper": {
        "scale_value": s.number(),
        "shift_value": s.number(),
        "min_val": s.number(),
        "max_val": s.number(),
        "log_val": s.BOOLEAN,
        "is_torch": s.BOOLEAN,
    },
    # run length, saving, logging
    "max_epochs": s.either(s.integer(1), s.choice(-1)),
    "max_frames": s.either(s.integer(1), s.choice(-1)),
    "score_to_win": s.number(),
    "save_best_after": s.integer(0),
    "save_frequency": s.integer(0),
    "print_stats": s.BOOLEAN,
    "games_to_track": s.integer(1),
    "use_diagnostics": s.BOOLEAN,
    **AMP_CONFIG,
}

_INITIALIZER = s.FREE_FORM  # {name: ..., and the initializer's keyword arguments}
_MLP = {
    "units": s.list_of(s.integer(1)),
    "activation": s.STRING,
    "d2rl": s.BOOLEAN,
    "norm_only_first_layer": s.BOOLEAN,
    "initializer": _INITIALIZER,
    "regularizer": _INITIALIZER,
}

NETWORK: dict[str, Any] = {
    "name": s.STRING,
    "separate": s.BOOLEAN,
    "value_activation": s.STRING,
    "normalization": s.optional(s.STRING, "null"),
    "space": {
        "continuous": {
            "mu_activation": s.STRING,
            "sigma_activation": s.STRING,
            "mu_init": _INITIALIZER,
            "sigma_init": _INITIALIZER,
            "fixed_sigma": s.BOOLEAN,
            "learn_sigma": s.BOOLEAN,
        },
        "discrete": s.ANYTHING,
        "multi_discrete": s.ANYTHING,
    },
    "mlp": _MLP,
    "rnn": s.FREE_FORM,
    "cnn": s.FREE_FORM,
    # the AMP discriminator
    "disc": _MLP,
}

PARAMS: dict[str, Any] = {
    "seed": s.integer(-1),
    "algo": {"name": s.STRING},
    "model": {"name": s.STRING},
    "network": NETWORK,
    "load_checkpoint": s.BOOLEAN,
    "load_path": s.optional(s.STRING, "empty"),
    "config": CONFIG,
}


def train_schema(shipped_defaults: dict[str, Any]) -> dict[str, Any]:
    """The schema of a train config: rl_games' keys, and any other key its shipped yaml holds."""
    return s.merge(s.infer(shipped_defaults), {"params": PARAMS})
