"""Hydra/OmegaConf helpers: IsaacGymEnvs' resolvers and checks of the top-level keys."""

from __future__ import annotations

from typing import Any

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from isaac_rl import CFG_ROOT


def default_device() -> str:
    return "cuda:0" if torch.cuda.is_available() else "cpu"


def register_resolvers() -> None:
    """`${eq:a,b}`, `${if:c,a,b}`, `${resolve_default:d,v}`, `${contains:s,t}`, `${default_device:}`."""
    resolvers = {
        "eq": lambda x, y: str(x).lower() == str(y).lower(),
        "contains": lambda x, y: str(x).lower() in str(y).lower(),
        "if": lambda cond, a, b: a if cond else b,
        # A key left empty ('' or null) falls back to the default.
        "resolve_default": lambda default, value: default if value in ("", None) else value,
        "default_device": default_device,
    }
    for name, fn in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)



def compose_config(overrides: list[str]) -> DictConfig:
    """The config scripts/train.py gets for these command-line overrides, composed outside its hydra main."""
    register_resolvers()
    with initialize_config_dir(version_base="1.3", config_dir=str(CFG_ROOT)):
        return compose(config_name="config", overrides=list(overrides))


# key: (accepted types, description of what is accepted)
_TOP_LEVEL: dict[str, tuple[tuple[type, ...], str]] = {
    "num_envs": ((int, type(None)), "a positive integer, or empty for the task's default"),
    "seed": ((int,), "an integer (-1 draws one)"),
    "torch_deterministic": ((bool,), "True or False"),
    "max_iterations": ((int, type(None)), "a positive integer, or empty for the train config's default"),
    "sim_device": ((str,), "'cpu', 'cuda' or 'cuda:N'"),
    "rl_device": ((str,), "'cpu', 'cuda' or 'cuda:N'"),
    "headless": ((bool,), "True or False"),
    "test": ((bool,), "True or False"),
    "checkpoint": ((str, type(None)), "a path to a .pth file, or empty"),
    "experiment": ((str, type(None)), "a name, or empty for the task's name"),
}


def check_top_level(cfg: DictConfig) -> None:
    """Raise a `ValueError` naming the key, the value and what is accepted."""
    for key, (types, accepted) in _TOP_LEVEL.items():
        value: Any = cfg.get(key)
        if key in ("num_envs", "max_iterations") and value == "":
            continue
        if isinstance(value, bool) and bool not in types:
            ok = False
        else:
            ok = isinstance(value, types)
        if not ok:
            raise ValueError(f"config key {key}={value!r} ({type(value).__name__}): expected {accepted}")
        if key in ("num_envs", "max_iterations") and isinstance(value, int) and value <= 0:
            raise ValueError(f"config key {key}={value}: expected {accepted}")
