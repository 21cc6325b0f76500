"""Play a trained policy for whole episodes and report its success rate, reward and episode length.

    python scripts/evaluate.py task=BallBalance checkpoint=runs/BallBalance/<run>/nn/BallBalance.pth
    python scripts/evaluate.py task=Quadcopter checkpoint=runs/Quadcopter num_envs=4096 episodes=2
    python scripts/evaluate.py task=Quadcopter          # the newest Quadcopter run's best checkpoint

`checkpoint=` takes a .pth file, a run directory (its best checkpoint) or an
experiment directory runs/<experiment> (its newest run's best checkpoint);
without it, the task's experiment directory.

Arguments are the hydra overrides of scripts/train.py plus `episodes=N`
(per env, default 1). Every env starts from a reset at the same time and plays
N episodes with the deterministic policy (the action mean, as test mode);
each episode counts once, so short failed episodes are not over-counted. The
physics runs where `sim_device` says (CUDA when present).

Prints the episodes played, their mean reward and length, the success rate
for tasks that define success (`success_buf`), the mean consecutive successes
(goals reached per episode) for tasks that report them (ShadowHand), each
per-env statistic in the task's `extras['episode']` twice, and the wall-clock
time; the last line is the same as JSON. The statistics:
- `mean_<key>` (printed `mean <key>`): its mean over every step of the played
  episodes. The training log's `Episode/<key>` (and the epoch line's `<key>`)
  is this same per-step mean, over the epoch's steps of all envs, so the two
  compare (train: the stochastic policy; here: its mean action);
- `final_<key>` (`final <key>`): its value at each episode's last step,
  averaged over the episodes: what an episode ended with (a target distance,
  a drawer's opening, a running mean or count such as Humanoid's
  `mean_forward_speed`). For a per-step quantity such as a tracking error it
  is one step's sample, the falling step's where an episode ends in a fall:
  set the mean, not this, beside the training log (docs/locomotion.md,
  "Tracking errors in training and in play").
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING

from isaac_rl.rlgames.run_config import check_run_config, settle_run_files
from isaac_rl.utils.cli import exit_on_user_error, overrides_or_help
from isaac_rl.utils.config import apply_cpu_num_envs, compose_checked, compose_reference

if TYPE_CHECKING:
    import torch

# the loop asks the device whether every env is done this often (each ask synchronises)
CHECK_EVERY = 50


def parse_episodes(argv: list[str]) -> tuple[int, list[str]]:
    episodes, overrides = 1, []
    for arg in argv:
        if arg.startswith("episodes="):
            value = arg.split("=", 1)[1]
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f"episodes={value!r}: expected an integer >= 1")
            episodes = int(value)
        else:
            overrides.append(arg)
    return episodes, overrides


def evaluate(task, actor: torch.nn.Module, episodes: int) -> dict[str, float]:
    """Play `episodes` episodes in every env of `task` with `actor` (under no_grad); totals over all of them."""
    import torch  # here: a config error is reported before torch loads

    n, dev = task.num_envs, task.device
    finished = torch.zeros(n, dtype=torch.long, device=dev)
    episode_reward = torch.zeros(n, device=dev)
    episode_length = torch.zeros(n, device=dev)
    totals = {name: torch.zeros((), device=dev) for name in ("episodes", "reward", "length", "successes")}
    # each per-env statistic of extras['episode'] summed over the steps of each env's running episode
    episode_stat_sums: dict[str, torch.Tensor] = {}
    obs = task.reset()["obs"]
    max_steps = episodes * task.max_episode_length + CHECK_EVERY
    for step in range(max_steps):
        obs_dict, reward, reset, extras = task.step(actor(obs))
        obs = obs_dict["obs"]
        done = reset.bool()
        episode_reward += reward
        episode_length += 1
        counted = done & (finished < episodes)
        totals["episodes"] += counted.sum()
        totals["reward"] += torch.where(counted, episode_reward, 0.0).sum()
        totals["length"] += torch.where(counted, episode_length, 0.0).sum()
        if task.success_buf is not None:
            totals["successes"] += (counted & extras["successes"]).sum()
        goals = extras.get("goals_reached")  # tasks with goals reached per env (ShadowHand: its consecutive successes)
        if isinstance(goals, torch.Tensor):
            totals["goals_reached"] = totals.get("goals_reached", 0.0) + torch.where(counted, goals.float(), 0.0).sum()
        for key, value in per_env_statistics(extras, n).items():
            running = episode_stat_sums.setdefault(key, torch.zeros(n, device=dev))
            running += value  # this step's value belongs to the episode that this step's done flag ends
            totals[f"mean_{key}"] = totals.get(f"mean_{key}", 0.0) + torch.where(counted, running, 0.0).sum()
            totals[f"final_{key}"] = totals.get(f"final_{key}", 0.0) + torch.where(counted, value, 0.0).sum()
            running.masked_fill_(done, 0.0)
        finished += done.long()
        episode_reward.masked_fill_(done, 0.0)
        episode_length.masked_fill_(done, 0.0)
        if step % CHECK_EVERY == CHECK_EVERY - 1 and bool((finished >= episodes).all()):
            break
    played = totals["episodes"].item()
    result = {
        "episodes": int(played),
        "mean_reward": totals["reward"].item() / max(played, 1),
        "mean_length": totals["length"].item() / max(played, 1),
    }
    if task.success_buf is not None:
        result["success_rate"] = totals["successes"].item() / max(played, 1)
    if "goals_reached" in totals:
        result["consecutive_successes"] = totals["goals_reached"].item() / max(played, 1)
    # the task's per-env episode statistics: per step over the played episodes' steps, and at each episode's last step
    steps = totals["length"].item()
    result.update({key: totals[key].item() / max(steps, 1) for key in totals if key.startswith("mean_")})
    result.update({key: totals[key].item() / max(played, 1) for key in totals if key.startswith("final_")})
    return result


def per_env_statistics(extras: dict, num_envs: int) -> dict[str, torch.Tensor]:
    """The (num_envs,) tensors of a step's `extras['episode']`, as float (the scalars, such as terrain_level, are left out)."""
    import torch

    episode = extras.get("episode", {})
    return {key: value.float() for key, value in episode.items() if isinstance(value, torch.Tensor) and value.shape == (num_envs,)}


def statistics_text(result: dict[str, float]) -> str:
    """`, mean <key> M (final F)` for each per-env statistic of the task's extras['episode']."""
    keys = [key.removeprefix("final_") for key in result if key.startswith("final_")]
    return "".join(f", mean {key} {result[f'mean_{key}']:.3f} (final {result[f'final_{key}']:.3f})" for key in keys)


def consecutive_successes_text(result: dict[str, float]) -> str:
    """`, consecutive successes N` where the task reports goals reached, else nothing."""
    return f", consecutive successes {result['consecutive_successes']:.2f}" if "consecutive_successes" in result else ""


def main(argv: list[str]) -> dict[str, float]:
    episodes, overrides = parse_episodes(overrides_or_help(argv, __doc__))
    cfg = compose_checked([*overrides, "test=True"])
    check_run_config(cfg, compose_reference([*overrides, "test=True"]))
    settle_run_files(cfg)  # an empty checkpoint: the experiment's newest run
    import torch

    from isaac_rl.rlgames.console import rl_games_output
    from isaac_rl.rlgames.export import actor_of, load_player
    from isaac_rl.utils.seeding import set_seed

    note = apply_cpu_num_envs(cfg, torch.cuda.is_available())
    if note:
        print(note)
    set_seed(cfg.seed, cfg.torch_deterministic)
    with rl_games_output(cfg.verbose):
        task, player = load_player(cfg, device=cfg.sim_device)
    actor = actor_of(player).to(task.device)
    start = time.perf_counter()
    with torch.no_grad():
        result = evaluate(task, actor, episodes)
    result.update(task=cfg.task_name, num_envs=task.num_envs, seconds=round(time.perf_counter() - start, 1), checkpoint=cfg.checkpoint)
    success = f", success rate {result['success_rate']:.1%}" if "success_rate" in result else ""
    print(
        f"{cfg.task_name}: {result['episodes']} episodes on {task.num_envs} envs ({task.sim.describe()}): "
        f"mean reward {result['mean_reward']:.2f}, mean length {result['mean_length']:.1f}{success}"
        f"{consecutive_successes_text(result)}{statistics_text(result)}, {result['seconds']}s"
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    with exit_on_user_error():
        main(sys.argv[1:])
