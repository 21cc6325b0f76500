"""How fast a task runs, in one process: physics alone, the task's step, and PPO training.

    python scripts/benchmark.py task=Ant num_envs=4096
    python scripts/benchmark.py task=Cartpole num_envs=16 steps=200 epochs=3 --json
    python scripts/benchmark.py task=Ant num_envs=4096 epochs=200 capture_video=True   # + the cost of videos

Arguments are the hydra overrides of scripts/train.py (the same cfg/ is
composed, so task configs are identical) plus:
    steps=N           timed env steps for (a) and (b)              (default 1000)
    warmup=N          untimed env steps before each of them        (default 50)
    epochs=N          timed PPO epochs for (d); 0 skips training   (default 10)
    warmup_epochs=N   untimed PPO epochs before them               (default 1)
    split=1           also split (d)'s epochs into collection and update, with a
                      synchronisation between them (which costs the overlap)  (default 0)
    verbose=True      also print the training's epoch lines and rl_games' own output
    --json            print one JSON object on stdout, nothing else

Reports, in env-steps per second:
    a. physics ceiling: the task's Simulation alone, new random controls each env step
       (its controlFrequencyInv physics steps), uniform over each actuator's control range
       ([-1, 1] where unlimited)
    b. VecTask.step with random actions (observations, rewards, masked resets)
    c. b / a
    d. PPO training: rl_games' 'fps step' (its own env-step timer) and the
       total frames per second of whole epochs (collection + update); where
       the train config's agent is isaac_rl's fast one (a2c_continuous), the
       same again with rl_games' own agent (a2c_continuous_stock), and the ratio
With capture_video=True (the frame cost of videos of env 0, in the same process):
    e. b while recording every step (clips of capture_video_len back to back),
       until the last frame is rendered and written; the cost of one frame
    f. d while recording as training does (capture_video_freq, capture_video_len)
On CUDA every timed region starts and ends with torch.cuda.synchronize().
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from isaac_rl.utils.headless_gl import prefer_headless_gl

prefer_headless_gl()  # videos (capture_video=True) render headless; mujoco reads this once, when first imported
from contextlib import nullcontext, redirect_stdout
from typing import TYPE_CHECKING, Any, Callable

import torch
from omegaconf import DictConfig, OmegaConf
from rl_games.common.algo_observer import AlgoObserver

from isaac_rl import tasks
from isaac_rl.rlgames import extensions, launch
from isaac_rl.tasks.base.vec_task import VecTask
from isaac_rl.rlgames.run_config import check_batch, check_run_config
from isaac_rl.utils.cli import USER_ERRORS, error_lines
from isaac_rl.utils.config import compose_checked, compose_reference
from isaac_rl.utils.seeding import set_seed

if TYPE_CHECKING:
    from isaac_rl.sim import Simulation

# benchmark setting: (default, smallest accepted value)
SETTINGS = {"steps": (1000, 1), "warmup": (50, 0), "epochs": (10, 0), "warmup_epochs": (1, 0), "split": (0, 0)}


def parse_args(argv: list[str]) -> tuple[dict[str, int], bool, list[str]]:
    """Split argv into benchmark settings, the --json flag and hydra overrides."""
    settings = {name: default for name, (default, _) in SETTINGS.items()}
    as_json = False
    overrides = []
    for arg in argv:
        if arg == "--json":
            as_json = True
        elif arg.startswith("-"):
            raise ValueError(f"unknown option {arg!r}; accepted: --help, --json, {', '.join(f'{k}=N' for k in SETTINGS)} and hydra overrides")
        elif arg.split("=", 1)[0] in SETTINGS and "=" in arg:
            name, value = arg.split("=", 1)
            minimum = SETTINGS[name][1]
            if not value.isdigit() or int(value) < minimum:
                raise ValueError(f"{name}={value!r}: expected an integer >= {minimum}")
            settings[name] = int(value)
        else:
            overrides.append(arg)
    return settings, as_json, overrides


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def steps_per_second(step: Callable[[], None], num_envs: int, steps: int, warmup: int, device: torch.device) -> float:
    """Env-steps per second of `step()`, after `warmup` untimed calls."""
    for _ in range(warmup):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return num_envs * steps / (time.perf_counter() - start)


def control_bounds(sim: Simulation) -> tuple[torch.Tensor, torch.Tensor]:
    """(low, high) of (a)'s random controls: each limited actuator's whole control range, which task actions span
    (ShadowHand's joint targets reach 1.57 rad: clamped to [-1, 1] the fingers curl less and the physics has 36% fewer
    contacts than in (b)); [-1, 1] for unlimited actuators, whose physics cost does not depend on the size."""
    low, high = sim.ctrl_range.unbind(1)
    limited = torch.isfinite(low) & torch.isfinite(high)
    return torch.where(limited, low, -1.0), torch.where(limited, high, 1.0)


def physics_rate(env: VecTask, steps: int, warmup: int) -> float:
    """(a) the task's Simulation stepping random controls, with no task code around it: per env step, the
    `controlFrequencyInv` physics steps (each of `sim.substeps`) that an env step runs."""
    sim = env.sim
    low, high = control_bounds(sim)
    shape = (env.num_envs, sim.info.nu)

    def step() -> None:
        sim.set_ctrl(low + (high - low) * torch.rand(shape, device=sim.device))
        for _ in range(env.control_freq_inv):
            sim.step()

    rate = steps_per_second(step, env.num_envs, steps, warmup, sim.device)
    env.check_health()
    return rate


def task_rate(env: VecTask, steps: int, warmup: int) -> float:
    """(b) VecTask.step with random actions in [-1, 1]."""
    env.reset()
    shape = (env.num_envs, env.num_actions)

    def step() -> None:
        env.step(2.0 * torch.rand(shape, device=env.device) - 1.0)

    rate = steps_per_second(step, env.num_envs, steps, warmup, env.device)
    env.check_health()
    return rate


class EpochTimer(AlgoObserver):
    """Times each PPO epoch by wrapping the agent's `train_epoch` (and with `split`, its `play_steps` too)."""

    def __init__(self, device: torch.device, split: bool = False) -> None:
        super().__init__()
        self.device = device
        self.split = split
        # per epoch: (frames, rl_games' env-step seconds, synchronised wall seconds)
        self.epochs: list[tuple[int, float, float]] = []
        # with split, per epoch: synchronised seconds of the collection, and from its end to the epoch's end (the update)
        self.collections: list[float] = []
        self.updates: list[float] = []
        self._collection_end = 0.0

    def after_init(self, algo) -> None:
        train_epoch, play_steps = algo.train_epoch, algo.play_steps

        def timed_train_epoch():
            synchronize(self.device)
            start = time.perf_counter()
            result = train_epoch()
            synchronize(self.device)
            end = time.perf_counter()
            # rl_games' train_epoch returns (step_time, play_time, update_time, total_time, ...)
            self.epochs.append((int(algo.curr_frames), float(result[0]), end - start))
            if self.split:
                self.updates.append(end - self._collection_end)
            return result

        def timed_play_steps():
            synchronize(self.device)
            start = time.perf_counter()
            batch = play_steps()
            synchronize(self.device)
            self._collection_end = time.perf_counter()
            self.collections.append(self._collection_end - start)
            return batch

        algo.train_epoch = timed_train_epoch
        if self.split:
            algo.play_steps = timed_play_steps


def recording_rate(env: VecTask, length: int, steps: int, warmup: int, directory: Path) -> float:
    """(e) VecTask.step while every step is recorded, timed until the last frame is written."""
    env.reset()
    shape = (env.num_envs, env.num_actions)
    for _ in range(warmup):
        env.step(2.0 * torch.rand(shape, device=env.device) - 1.0)
    recorder = env.capture_video(directory, every_steps=length, length=length, name_prefix="benchmark")
    synchronize(env.device)
    start = time.perf_counter()
    for _ in range(steps):
        env.step(2.0 * torch.rand(shape, device=env.device) - 1.0)
    recorder.close()
    synchronize(env.device)
    elapsed = time.perf_counter() - start
    env.video_recorder = None
    return env.num_envs * steps / elapsed


# isaac_rl's agents and rl_games' own ones they stand in for (isaac_rl/rlgames/agents.py)
STOCK_AGENTS = {"a2c_continuous": "a2c_continuous_stock", "amp_continuous": "amp_continuous_stock"}


def ppo_rates(
    env: VecTask, cfg: DictConfig, epochs: int, warmup_epochs: int, algo: str | None = None, split: bool = False
) -> dict[str, float]:
    """(d) rl_games PPO on `env` for warmup_epochs + epochs (with agent `algo`, else the config's); fps over the timed
    epochs, and with `split` the mean collection and update milliseconds of an epoch."""
    train_cfg = OmegaConf.to_container(cfg.train, resolve=True)
    params = train_cfg["params"]
    if algo is not None:
        params["algo"]["name"] = algo
    config = params["config"]
    config.update(device=cfg.rl_device, device_name=cfg.rl_device, max_epochs=warmup_epochs + epochs, max_frames=-1)
    # rl_games' epoch lines and isaac_rl's only with verbose=True: the benchmark prints its own figures
    config.update(save_frequency=0, save_best_after=10**9, print_stats=cfg.verbose)
    params["seed"] = cfg.seed
    params["load_checkpoint"] = False

    timer = EpochTimer(torch.device(cfg.rl_device), split)
    runner = launch.build_runner(lambda **kwargs: env, observers=[timer])
    with tempfile.TemporaryDirectory() as train_dir, open(os.devnull, "w") as devnull:
        config["train_dir"] = train_dir
        with nullcontext() if cfg.verbose else redirect_stdout(devnull):
            launch.run(runner, train_cfg, test=False, checkpoint=None, verbose=cfg.verbose)
    timed = timer.epochs[warmup_epochs:]
    if not timed:
        raise RuntimeError(f"PPO ran {len(timer.epochs)} epochs, fewer than warmup_epochs + epochs = {warmup_epochs + epochs}")
    frames = sum(f for f, _, _ in timed)
    rates = {
        "ppo_step_fps": frames / sum(s for _, s, _ in timed),
        "ppo_total_fps": frames / sum(w for _, _, w in timed),
        "ppo_frames_per_epoch": timed[0][0],
    }
    if split:
        rates.update(
            ppo_collection_ms=1e3 * sum(timer.collections[warmup_epochs:]) / len(timed),
            ppo_update_ms=1e3 * sum(timer.updates[warmup_epochs:]) / len(timed),
        )
    return rates


def benchmark(cfg: DictConfig, settings: dict[str, int], log: Any) -> dict[str, Any]:
    # user tasks join the same way as in scripts/train.py
    extensions.load_extensions(cfg.extensions)
    if cfg.task.get("class_path"):
        tasks.register(cfg.task_name, cfg.task.class_path)
    task_class = tasks.resolve(cfg.task_name)
    seed = set_seed(cfg.seed, cfg.torch_deterministic)
    cfg.seed = seed
    task_cfg = OmegaConf.to_container(cfg.task, resolve=True)
    env = task_class(
        cfg=task_cfg, rl_device=cfg.rl_device, sim_device=cfg.sim_device, graphics_device_id=cfg.graphics_device_id, headless=True
    )
    result: dict[str, Any] = {
        "task": cfg.task_name,
        "num_envs": env.num_envs,
        "sim_device": str(env.device),
        "rl_device": str(env.rl_device),
        "backend": env.sim.backend_name,
        "substeps": env.sim.substeps,
        "dt": env.dt,
        "steps": settings["steps"],
        "epochs": settings["epochs"],
    }
    print(f"{cfg.task_name}: {env.num_envs} envs on {env.device} ({env.sim.backend_name} backend), capacity {env.sim.capacity}", file=log)
    result["physics_steps_per_s"] = physics_rate(env, settings["steps"], settings["warmup"])
    print(f"a. physics alone, random controls:  {_si(result['physics_steps_per_s'])} env-steps/s", file=log)
    result["task_steps_per_s"] = task_rate(env, settings["steps"], settings["warmup"])
    print(f"b. VecTask.step, random actions:    {_si(result['task_steps_per_s'])} env-steps/s", file=log)
    result["task_over_physics"] = result["task_steps_per_s"] / result["physics_steps_per_s"]
    print(f"c. b / a:                           {result['task_over_physics']:.2f}", file=log)
    if settings["epochs"] > 0:
        result.update(ppo_rates(env, cfg, settings["epochs"], settings["warmup_epochs"], split=bool(settings["split"])))
        print(
            f"d. PPO over {settings['epochs']} epochs of {result['ppo_frames_per_epoch']} frames: "
            f"{_si(result['ppo_step_fps'])} fps step (rl_games' timer), {_si(result['ppo_total_fps'])} fps total",
            file=log,
        )
        if settings["split"]:
            print(f"   an epoch: collection {result['ppo_collection_ms']:.1f} ms, update {result['ppo_update_ms']:.1f} ms", file=log)
        stock = STOCK_AGENTS.get(cfg.train.params.algo.name)
        if stock is not None:
            stock_fps = ppo_rates(env, cfg, settings["epochs"], settings["warmup_epochs"], algo=stock)["ppo_total_fps"]
            result.update(ppo_total_fps_stock=stock_fps, ppo_over_stock=result["ppo_total_fps"] / stock_fps)
            print(
                f"   the same with rl_games' own agent ({stock}): {_si(stock_fps)} fps total; "
                f"isaac_rl's / rl_games': {result['ppo_over_stock']:.2f}",
                file=log,
            )
    if cfg.capture_video:
        result.update(video_costs(env, cfg, settings, result, log))
    return result


def video_costs(env: VecTask, cfg: DictConfig, settings: dict[str, int], measured: dict[str, Any], log: Any) -> dict[str, Any]:
    """(e) and (f): what videos of env 0 cost the step loop and training, against (b) and (d)."""
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as videos:
        rate = recording_rate(env, cfg.capture_video_len, settings["steps"], settings["warmup"], Path(videos))
    plain = measured["task_steps_per_s"]
    result["recording_steps_per_s"] = rate
    result["recording_over_task"] = rate / plain
    # what one frame adds to a step of all envs
    result["frame_cost_ms"] = 1e3 * env.num_envs * (1.0 / rate - 1.0 / plain)
    print(f"e. b, recording every step:         {_si(rate)} env-steps/s, {rate / plain:.2f} x b: {result['frame_cost_ms']:.2f} ms per frame", file=log)
    if settings["epochs"] > 0:
        with tempfile.TemporaryDirectory() as videos:
            recorder = env.capture_video(videos, cfg.capture_video_freq, cfg.capture_video_len, name_prefix="benchmark")
            rates = ppo_rates(env, cfg, settings["epochs"], settings["warmup_epochs"])
            recorder.close()
            env.video_recorder = None
        result["ppo_total_fps_with_video"] = rates["ppo_total_fps"]
        result["ppo_video_over_plain"] = rates["ppo_total_fps"] / measured["ppo_total_fps"]
        print(
            f"f. d, capture_video_freq={cfg.capture_video_freq} capture_video_len={cfg.capture_video_len}: "
            f"{_si(rates['ppo_total_fps'])} fps total, {result['ppo_video_over_plain']:.2f} x d",
            file=log,
        )
    return result


def _si(value: float) -> str:
    for scale, suffix in ((1e6, " M"), (1e3, " k")):
        if value >= scale:
            return f"{value / scale:8.3f}{suffix}"
    return f"{value:8.1f}  "


def main(argv: list[str]) -> int:
    try:
        settings, as_json, overrides = parse_args(argv)
        cfg = compose_checked(overrides)
        check_run_config(cfg, compose_reference(overrides))
        check_batch(cfg)
        # anything else printed on stdout (verbose=True: the training's epoch lines) goes to stderr with --json
        with redirect_stdout(sys.stderr) if as_json else nullcontext():
            result = benchmark(cfg, settings, sys.stderr if as_json else sys.stdout)
    except USER_ERRORS as error:
        if os.getenv("ISAAC_RL_TRACEBACK"):
            raise
        print("\n".join(error_lines(error)), file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        print(__doc__)
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
