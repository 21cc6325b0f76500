"""One check of a whole composed run config (top level, task, train) before anything is built.

The task's and the train config's accepted keys are those of their shipped
yamls (the `reference`: the same task and train files composed without the
user's overrides), with VecTask's and rl_games' own keys laid over. So a key
added with `+` that no schema knows is refused like a misspelled one, except
inside a free-form section (`task.env.make_kwargs`, initializer arguments,
`train.params.config.player`). A user's task declares its keys by listing
them, with their defaults, in its own task yaml.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from isaac_rl.rlgames.train_schema import train_schema
from isaac_rl.tasks.base.task_schema import task_schema
from isaac_rl.utils import schema as s
from isaac_rl.utils.config import DEFAULT_DEVICE_KEYS, TOP_LEVEL


def _is_default_device(cfg: DictConfig, key: str) -> bool:
    raw = OmegaConf.to_container(cfg, resolve=False).get(key)
    return raw == "${default_device:}"


def check_run_config(cfg: DictConfig, reference: DictConfig) -> None:
    """Raise `schema.ConfigError` with one line per wrong key of `cfg`; return quietly when all is well."""
    problems: list[str] = []
    top_schema = {**TOP_LEVEL, "task": s.FREE_FORM, "train": s.FREE_FORM}
    # the default devices would import torch to look for CUDA; they are right by construction
    untouched = {key for key in DEFAULT_DEVICE_KEYS if _is_default_device(cfg, key)}
    s.check(cfg, top_schema, "", problems, skip=lambda path: path in untouched)
    if problems:
        # task and train values interpolate top-level ones: the same mistake would show up again there
        raise s.ConfigError(problems)

    is_gym = bool(cfg.task.env.get("gym_id"))
    shipped_task = OmegaConf.to_container(reference.task, resolve=True)
    shipped_train = OmegaConf.to_container(reference.train, resolve=True)
    s.check(cfg.task, task_schema(shipped_task, is_gym), "task", problems)
    s.check(cfg.train, train_schema(shipped_train), "train", problems)
    if problems:
        raise s.ConfigError(problems)


def check_batch(cfg: DictConfig) -> None:
    """rl_games asserts that minibatches tile the batch; say so, and what would fit, before it does.

    Checked once num_envs is settled (a machine without CUDA may lower it).
    """
    config = cfg.train.params.config
    batch = config.horizon_length * cfg.task.env.numEnvs
    if batch % config.minibatch_size:
        raise s.ConfigError([
            f"train.params.config.minibatch_size={config.minibatch_size}: expected a divisor of "
            f"horizon_length x num_envs = {config.horizon_length} x {cfg.task.env.numEnvs} = {batch}, e.g. {batch}"
        ])
