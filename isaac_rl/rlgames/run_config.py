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

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from isaac_rl import ASSET_ROOT
from isaac_rl.rlgames.train_schema import train_schema
from isaac_rl.tasks.base.task_schema import task_schema
from isaac_rl.utils import run_dirs
from isaac_rl.utils import schema as s
from isaac_rl.utils.config import DEFAULT_DEVICE_KEYS, TOP_LEVEL, cuda_device_count


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


def resolve_run_checkpoint(cfg: DictConfig) -> str | None:
    """Make `cfg.checkpoint` the file it names (`run_dirs.resolve_checkpoint`: a file, a run or an experiment
    directory); test mode without one plays the newest run of the experiment. Returns the line saying which
    file a directory meant, or None. The one resolver of train.py, evaluate.py and export_policy.py."""
    source = cfg.checkpoint
    if not source:
        if not cfg.test:
            return None
        source = run_dirs.experiment_dir(cfg)
        if not run_dirs.run_dirs(source):
            raise s.ConfigError([
                f"checkpoint=: none given, and {source} holds no run to play; train first, or give checkpoint= {run_dirs.CHECKPOINT_FORMS}"
            ])
    try:
        file, note = run_dirs.resolve_checkpoint(source)
    except (FileNotFoundError, ValueError) as error:
        raise s.ConfigError([str(error)]) from None
    cfg.checkpoint = str(file)
    return note


def settle_run_files(cfg: DictConfig) -> None:
    """`resolve_run_checkpoint` (printing which file a directory meant), then `check_run_files`: what the scripts
    do with the files a config names, before any heavy import."""
    note = resolve_run_checkpoint(cfg)
    if note:
        print(note)
    check_run_files(cfg)


def check_run_files(cfg: DictConfig) -> None:
    """What the composed config names outside itself, checked before torch and the physics load:
    the motion file and the CUDA devices (`cfg.checkpoint` by `resolve_run_checkpoint`)."""
    problems: list[str] = []
    motion_file = cfg.task.env.get("motion_file") if not cfg.task.env.get("gym_id") else None
    if motion_file:
        tried = [Path(motion_file)] if Path(motion_file).is_absolute() else [ASSET_ROOT / motion_file, Path(motion_file)]
        if not any(path.is_file() for path in tried):
            problems.append(
                f"task.env.motion_file={motion_file}: not found (looked at {', '.join(map(str, tried))}); "
                "expected a .npz/.npy clip or a .yaml list of clips, absolute or relative to assets/"
            )
    if not cfg.multi_gpu:  # under multi_gpu each rank takes its own device
        for key in DEFAULT_DEVICE_KEYS:
            if _is_default_device(cfg, key) or not str(cfg[key]).startswith("cuda"):
                continue
            count = cuda_device_count()
            index = int(cfg[key][5:] or 0) if cfg[key] != "cuda" else 0
            if count == 0:
                problems.append(f"{key}={cfg[key]}: CUDA is not available on this machine; use {key}=cpu")
            elif count is not None and index >= count:
                problems.append(f"{key}={cfg[key]}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    if problems:
        raise s.ConfigError(problems)
