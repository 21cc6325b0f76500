"""Hydra/OmegaConf helpers: IsaacGymEnvs' resolvers, composing outside hydra's main, the top-level keys."""

from __future__ import annotations

import ctypes
import difflib
import re
import sys
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from isaac_rl import CFG_ROOT
from isaac_rl.utils import schema as s


def default_device() -> str:
    import torch  # here, not at import: a config with a wrong value is refused before torch loads

    return "cuda:0" if torch.cuda.is_available() else "cpu"


def minibatch_size(horizon_length: int, num_envs: int, num_minibatches: int) -> int:
    """`horizon_length x num_envs` split into `num_minibatches`: minibatches that follow num_envs."""
    return max(1, int(horizon_length) * int(num_envs) // int(num_minibatches))


def register_resolvers() -> None:
    """`${eq:a,b}`, `${if:c,a,b}`, `${resolve_default:d,v}`, `${contains:s,t}`, `${default_device:}`,
    `${minibatch_size:horizon,envs,n}`, `${path_name:text}`."""
    resolvers = {
        "eq": lambda x, y: str(x).lower() == str(y).lower(),
        "contains": lambda x, y: str(x).lower() in str(y).lower(),
        "if": lambda cond, a, b: a if cond else b,
        # A key left empty ('' or null) falls back to the default.
        "resolve_default": lambda default, value: default if value in ("", None) else value,
        "default_device": default_device,
        "minibatch_size": minibatch_size,
        # a name usable as a directory: 'my_pkg.envs:Point-v0' -> 'my_pkg.envs_Point-v0'
        "path_name": lambda text: re.sub(r"[^\w.-]", "_", str(text)),
    }
    for name, fn in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


def compose_config(overrides: list[str]) -> DictConfig:
    """The config scripts/train.py gets for these command-line overrides, composed outside its hydra main."""
    register_resolvers()
    with initialize_config_dir(version_base="1.3", config_dir=str(CFG_ROOT)):
        return compose(config_name="config", overrides=list(overrides))


def compose_checked(overrides: list[str]) -> DictConfig:
    """`compose_config`, with hydra's errors (unknown task, key without `+`, bad syntax) as one `ConfigError` line."""
    try:
        return compose_config(overrides)
    except HydraException as error:
        raise s.ConfigError([composition_problem(error, overrides)]) from None


def composition_problem(error: HydraException, overrides: list[str]) -> str:
    """One line for an error hydra raised composing `overrides`, naming the closest task, train config or key."""
    text = str(error)
    missing = re.search(r"Could not find '([^/']+)/([^']+)'", text)
    if missing is not None:
        group, name = missing.groups()
        options = list(getattr(error, "options", None) or [])
        what = "task" if group == "task" else f"{group} config"
        return f"{group}={name}: no such {what}{_closest(name, options)}; known: {', '.join(options) or 'none'}"
    unknown = re.search(r"Could not override '([^']+)'", text)
    if unknown is not None:
        key = unknown.group(1)
        given = next((o for o in overrides if o.split("=", 1)[0] == key), key)
        parent, _, leaf = key.rpartition(".")
        section = _section(overrides, parent)
        known = sorted(str(k) for k in section) if section is not None else []
        where = parent or "the top level"
        return f"{given}: unknown key{_closest(leaf, known, parent)}; {where} accepts {', '.join(known)} (a new key needs +{given})"
    first = next((line.strip() for line in text.splitlines() if line.strip() and not line.startswith("See https://hydra")), text)
    return f"{_unparsable(overrides) or ' '.join(overrides)}: {first} (expected key=value, as hydra's override grammar)"


def _unparsable(overrides: list[str]) -> str | None:
    """The first override hydra cannot parse on its own, or None."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for override in overrides:
        try:
            parser.parse_overrides([override])
        except HydraException:
            return override
    return None


def _closest(name: str, options: list[str], parent: str = "") -> str:
    match = difflib.get_close_matches(name, options, n=1, cutoff=0.6) or difflib.get_close_matches(name.lower(), [o.lower() for o in options], n=1, cutoff=0.6)
    if not match:
        return ""
    option = next(o for o in options if o.lower() == match[0].lower())
    return f" (did you mean {parent + '.' if parent else ''}{option}?)"


def _section(overrides: list[str], path: str) -> DictConfig | None:
    """The section at `path` of the shipped config `overrides` choose (their task and train), or None."""
    try:
        node = compose_config(reference_overrides(overrides))
    except HydraException:
        return None
    for part in filter(None, path.split(".")):
        node = node.get(part) if isinstance(node, DictConfig) else None
    return node if isinstance(node, DictConfig) else None


def cuda_device_count() -> int | None:
    """CUDA devices the driver sees (honouring CUDA_VISIBLE_DEVICES), asked without importing torch; None if unknown.

    0 where no CUDA driver loads: torch would find no device either.
    """
    if sys.platform != "linux":
        return None
    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    if driver.cuInit(0) != 0:  # e.g. CUDA_ERROR_NO_DEVICE
        return 0
    count = ctypes.c_int(0)
    if driver.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return None
    return count.value


def apply_cpu_num_envs(cfg: DictConfig, cuda: bool) -> str | None:
    """Without CUDA, a task made for thousands of envs starts with its `env.cpuNumEnvs`, unless the user chose.

    Returns the line that tells the user so, or None when nothing changed.
    """
    env = cfg.task.env
    # a user's task.env.numEnvs=N replaces the interpolation of num_envs: that is a choice too
    if cuda or cfg.num_envs != "" or "cpuNumEnvs" not in env or not OmegaConf.is_interpolation(env, "numEnvs"):
        return None
    if env.numEnvs <= env.cpuNumEnvs:
        return None
    gpu_default = env.numEnvs
    cfg.num_envs = env.cpuNumEnvs
    return f"no GPU: {cfg.task_name} starts {cfg.num_envs} envs instead of its GPU default {gpu_default} (choose with num_envs=N)"


def reference_overrides(overrides: list[str]) -> list[str]:
    """Of a run's overrides, those that choose its config files (task, train, the search path).

    Composed alone they give the shipped defaults of the chosen task and train
    configs: the reference a run's keys and types are checked against.
    """
    chosen = []
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key in ("task", "train", "hydra.searchpath"):
            chosen.append(override.lstrip("+~") if key != "hydra.searchpath" else override)
    return chosen


def compose_reference(overrides: list[str]) -> DictConfig:
    """The shipped defaults for the task and train configs `overrides` choose (outside hydra's main)."""
    return compose_config(reference_overrides(overrides))


DEVICE = s.Spec("'cpu', 'cuda' or 'cuda:N'", lambda v: isinstance(v, str) and (v in ("cpu", "cuda") or (v.startswith("cuda:") and v[5:].isdigit())))

# cfg/config.yaml's keys; `task` and `train` are checked against their own schemas
TOP_LEVEL: dict[str, Any] = {
    "task_name": s.STRING,
    "experiment": s.optional(s.STRING, "empty for the task's name"),
    "num_envs": s.optional(s.integer(1), "empty for the task's default"),
    "seed": s.integer(-1),
    "torch_deterministic": s.BOOLEAN,
    "max_iterations": s.optional(s.integer(1), "empty for the train config's max_epochs"),
    "sim_device": DEVICE,
    "rl_device": DEVICE,
    "graphics_device_id": s.integer(0),
    "physics_backend": s.choice("auto", "warp", "mujoco"),
    "headless": s.BOOLEAN,
    "trainer": s.choice("rl_games", "rsl_rl", "skrl"),
    "verbose": s.BOOLEAN,
    "test": s.BOOLEAN,
    "checkpoint": s.optional(s.STRING, "empty"),
    "resume": s.either(s.BOOLEAN, s.Spec("a run directory", lambda v: isinstance(v, str) and v != "")),
    "keep_checkpoints": s.integer(0),
    "num_test_games": s.optional(s.integer(1), "empty for one per env"),
    "multi_gpu": s.BOOLEAN,
    "extensions": s.list_of(s.STRING),
    "cache_dir": s.optional(s.STRING, "empty"),
    "warp_cache_dir": s.optional(s.STRING, "empty"),
    "train_dir": s.STRING,
    "capture_video": s.BOOLEAN,
    "capture_video_freq": s.integer(1),
    "capture_video_len": s.integer(1),
    "wandb_activate": s.BOOLEAN,
    "wandb_project": s.STRING,
    "wandb_entity": s.optional(s.STRING, "empty for your default entity"),
    "wandb_group": s.optional(s.STRING, "empty"),
    "wandb_name": s.optional(s.STRING, "empty for <experiment>/<run>"),
    "wandb_tags": s.list_of(s.STRING),
}

# resolved only when a user sets them: the default imports torch to look for CUDA
DEFAULT_DEVICE_KEYS = ("sim_device", "rl_device")
