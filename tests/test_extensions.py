"""Extending without forking: a user's task and cfg dirs, extension modules, and plain gymnasium envs."""

import csv
import importlib
import os
import re
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO_ROOT, run_train
from omegaconf import OmegaConf

from isaac_rl import tasks
from isaac_rl.rlgames import gym_env, launch
from isaac_rl.rlgames.checkpoint import newest_checkpoint
from isaac_rl.rlgames.extensions import load_extensions
from isaac_rl.rlgames.gym_env import make_gym_creator
from isaac_rl.utils.config import compose_config
from isaac_rl.utils.run_dirs import new_run_dir, newest_run_dir

CUSTOM_TASK = REPO_ROOT / "examples" / "custom_task"
CUSTOM_GYM_ENV = REPO_ROOT / "examples" / "custom_gym_env"


def _epoch_rewards(stdout: str) -> list[float]:
    return [float(r) for r in re.findall(r"mean episode reward (-?[\d.]+)", stdout)]


def test_a_user_task_trains_from_its_own_cfg_dir_with_an_extension_observer(tmp_path, monkeypatch):
    # the user's code is importable from PYTHONPATH; their yaml is found through hydra's search path
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(CUSTOM_TASK), os.environ.get("PYTHONPATH", "")]))
    result = run_train(
        "task=PushBox", f"hydra.searchpath=[file://{CUSTOM_TASK / 'cfg'}]", "extensions=[reward_log]",
        "max_iterations=25", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rewards = _epoch_rewards(result.stdout)
    assert rewards[-1] > rewards[0] + 20, rewards  # PushBox (examples/custom_task) learns
    run = newest_run_dir(tmp_path / "runs" / "PushBox")
    with (run / "reward_log.csv").open() as file:
        rows = list(csv.DictReader(file))
    # the extension's observer saw the same epochs as isaac_rl's own, and wrote into the run's directory
    assert [round(float(r["mean_reward"]), 2) for r in rows] == pytest.approx(rewards, abs=0.011)
    assert "class_path: push_box:PushBox" in (run / "config.yaml").read_text()
    assert list((run / "nn").glob("last_PushBox_ep_25*.pth"))


def test_a_user_task_built_from_parts_alone_trains_and_logs_its_reward_terms(tmp_path, monkeypatch):
    # examples/custom_task/box_speed.py: commands, an observation group, reward terms and VecTask's episode
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(CUSTOM_TASK), os.environ.get("PYTHONPATH", "")]))
    result = run_train("task=BoxSpeed", f"hydra.searchpath=[file://{CUSTOM_TASK / 'cfg'}]", "max_iterations=40", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rewards = _epoch_rewards(result.stdout)
    assert rewards[-1] > rewards[0] + 1.0, rewards  # at most 4 (200 steps x dt 0.02 x tracking weight 1)
    tracking = [float(v) for v in re.findall(r"rew_tracking_speed (-?[\d.]+)", result.stdout)]
    assert tracking and tracking[-1] > tracking[0], tracking  # the term's episode sum, on the epoch line
    assert "rew_effort" not in result.stdout  # weight 0: not computed, not logged


@pytest.fixture
def user_code(monkeypatch):
    """examples/custom_task importable as a user's code is; isaac_rl's registries restored afterwards."""
    monkeypatch.syspath_prepend(str(CUSTOM_TASK))
    monkeypatch.setattr(launch, "_runner_hooks", [])
    monkeypatch.setattr(tasks, "TASK_MAP", dict(tasks.TASK_MAP))
    for module in ("push_box", "counting_ppo"):  # imported afresh, so that they register again
        monkeypatch.delitem(sys.modules, module, raising=False)


def _run_cartpole(run_dir: Path, *overrides: str, checkpoint: str | None = None, test: bool = False) -> launch.RunResult:
    """Train (or play) Cartpole in this process, as a user's own launcher would: launch.build_runner and launch.run."""
    cfg = compose_config(["task=Cartpole", "num_envs=16", "sim_device=cpu", "rl_device=cpu", *overrides])
    task_cfg = OmegaConf.to_container(cfg.task, resolve=True)
    train_cfg = OmegaConf.to_container(cfg.train, resolve=True)
    train_cfg["params"]["config"].update(
        train_dir=str(run_dir.parent), full_experiment_name=run_dir.name, device="cpu", device_name="cpu",
        keep_checkpoints=cfg.keep_checkpoints, player={"use_vecenv": True, "games_num": 16},
    )  # fmt: skip
    train_cfg["params"]["torch_threads"] = 1  # rl_games would set 4 for the whole test process

    def create_env(**_):
        return tasks.make("Cartpole", cfg=task_cfg, rl_device="cpu", sim_device="cpu", graphics_device_id=0, headless=True)

    return launch.run(launch.build_runner(create_env), train_cfg, test=test, checkpoint=checkpoint)


def test_a_runner_hook_adds_an_algo_that_a_train_config_selects(user_code, tmp_path):
    load_extensions(["counting_ppo"])  # examples/custom_task/counting_ppo.py: launch.add_runner_hook at import
    run = new_run_dir(tmp_path / "runs" / "Cartpole")
    _run_cartpole(run, "train.params.algo.name=counting_ppo", "max_iterations=2")
    checkpoint = newest_checkpoint(run / "nn")
    # only CountingPPO writes this: the run used the algo the hook registered
    assert launch.load_checkpoint(checkpoint)["counting_ppo"] == {"updates": 2}

    played = _run_cartpole(run, "train.params.algo.name=counting_ppo", checkpoint=str(checkpoint), test=True)
    assert played.episodes >= 16 and played.mean_length > 0  # played by the player the hook registered under that name

    # hooks run after isaac_rl registers its own agents, so a hook may replace those too
    launch.add_runner_hook(lambda runner: runner.algo_factory.register_builder("a2c_continuous", lambda **_: "replaced"))
    assert launch.build_runner(None).algo_factory.create("a2c_continuous") == "replaced"


def test_a_users_agent_gets_atomic_pruned_checkpoints_and_resumes_through_the_mixin(user_code, tmp_path, monkeypatch):
    load_extensions(["counting_ppo"])  # CountingPPO(SafeCheckpointMixin, A2CAgent), with state of its own
    renames = []
    replace = os.replace

    def spy_replace(src, dst):
        renames.append((Path(src), Path(dst)))
        replace(src, dst)

    monkeypatch.setattr(os, "replace", spy_replace)
    run = new_run_dir(tmp_path / "runs" / "Cartpole")
    nn_dir = run / "nn"
    every_epoch = [
        "train.params.algo.name=counting_ppo", "train.params.config.save_frequency=1",
        "train.params.config.save_best_after=1", "keep_checkpoints=2",
    ]  # fmt: skip
    _run_cartpole(run, *every_epoch, "max_iterations=4")

    # atomic: every checkpoint got its name by the rename of a complete temporary file beside it
    saved = [(src, dst) for src, dst in renames if dst.suffix == ".pth"]
    assert saved and all(src.parent == dst.parent and src.name.startswith(f".{dst.name}.") and src.suffix == ".tmp" for src, dst in saved)
    assert set(nn_dir.glob("*.pth")) <= {dst for _, dst in saved} and not list(nn_dir.glob(".*.tmp"))
    # pruned: of the 4 periodic checkpoints, keep_checkpoints=2 are left, and the best beside them
    periodic = sorted(launch.load_checkpoint(p)["epoch"] for p in nn_dir.glob("last_*.pth"))
    assert periodic == [3, 4] and (nn_dir / "Cartpole.pth").is_file()

    stopped = launch.load_checkpoint(newest_checkpoint(nn_dir))
    assert (stopped["epoch"], stopped["counting_ppo"]) == (4, {"updates": 4})
    _run_cartpole(run, *every_epoch, "max_iterations=6", checkpoint=str(newest_checkpoint(nn_dir)))
    resumed = launch.load_checkpoint(newest_checkpoint(nn_dir))
    # resumed through the mixin: epoch and frame go on, and the agent's own state came back (4 restored + 2)
    assert (resumed["epoch"], resumed["frame"], resumed["counting_ppo"]) == (6, stopped["frame"] // 4 * 6, {"updates": 6})


def test_a_task_class_registered_in_code_or_by_its_path_is_resolved_and_built(user_code):
    tasks.register("PushBoxByPath", "push_box:PushBox")
    assert "push_box" not in sys.modules  # a path is imported on first use, not when registered
    push_box = tasks.resolve("PushBoxByPath")
    assert push_box is importlib.import_module("push_box").PushBox
    tasks.register("PushBoxByClass", push_box)
    assert tasks.resolve("PushBoxByClass") is push_box

    cfg = {"env": {"numEnvs": 4, "maxEffort": 20.0, "targetRange": 1.0}, "sim": {"dt": 0.02, "substeps": 2}}
    env = tasks.make("PushBoxByClass", cfg=cfg, rl_device="cpu", sim_device="cpu", graphics_device_id=0, headless=True)
    env.reset()
    obs, rew, resets, _ = env.step(torch.ones(4, 1))
    assert obs["obs"].shape == (4, 2) and rew.shape == resets.shape == (4,)
    assert (env.box_vel > 0).all()  # the action pushed every box


def test_a_discrete_gymnasium_env_learns(tmp_path):
    result = run_train(
        "task=GymEnv", "task.env.gym_id=CartPole-v1", "train=GymEnvDiscretePPO", "max_iterations=30", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rewards = _epoch_rewards(result.stdout)
    assert max(rewards[-5:]) > 3 * rewards[0] and max(rewards[-5:]) > 60, rewards
    assert (newest_run_dir(tmp_path / "runs" / "CartPole-v1") / "nn" / "CartPole-v1.pth").is_file()


def test_a_continuous_gymnasium_env_trains_and_plays(tmp_path):
    train = run_train("task=GymEnv", "task.env.gym_id=Pendulum-v1", "max_iterations=3", "num_envs=8", cwd=tmp_path)
    assert train.returncode == 0, train.stdout[-2000:] + train.stderr[-2000:]
    checkpoint = next((newest_run_dir(tmp_path / "runs" / "Pendulum-v1") / "nn").glob("last_*.pth"))
    play = run_train("task=GymEnv", "num_envs=4", "test=True", f"checkpoint={checkpoint}", cwd=tmp_path)
    assert play.returncode == 0, play.stdout[-2000:] + play.stderr[-2000:]
    match = re.search(r"^isaac_rl: played \d+ episodes, mean episode reward (-?[\d.]+), mean episode length ([\d.]+)", play.stdout, re.M)
    assert match and float(match.group(2)) == 200  # Pendulum-v1 episodes are 200 steps
    assert -2000 < float(match.group(1)) < 0


def test_a_gymnasium_env_of_a_users_module_trains_with_make_kwargs(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(CUSTOM_GYM_ENV), os.environ.get("PYTHONPATH", "")]))
    result = run_train(
        "task=GymEnv", "task.env.gym_id=point_env:Point-v0", "+task.env.make_kwargs.episode_length=4",
        "experiment=Point", "num_envs=4", "max_iterations=1", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    # examples/custom_gym_env/point_env.py was imported for its id; PointEnv got episode_length=4 (its default is
    # 100), and within 4 steps of speed 0.1 the point cannot leave the line: every episode is 4 steps
    lengths = re.findall(r"mean episode length ([\d.]+)", result.stdout)
    assert lengths and set(lengths) == {"4.0"}, lengths
    assert list((newest_run_dir(tmp_path / "runs" / "Point") / "nn").glob("last_Point_ep_1*.pth"))


def test_gymnasium_observations_are_flattened_and_truncations_are_time_outs(monkeypatch):
    monkeypatch.syspath_prepend(str(CUSTOM_GYM_ENV))

    def point_envs(**make_kwargs) -> gym_env.GymVecEnv:
        gym_env.register_gym(make_gym_creator("point_env:Point-v0", make_kwargs), "cpu", seed=0)
        return gym_env.GymVecEnv(gym_env.ENV_NAME, num_actors=2)

    envs = point_envs(episode_length=3)
    assert envs.reset().shape == (2, 2)  # the Dict of position and target, flattened
    for _ in range(3):
        _, _, dones, extras = envs.step(torch.zeros(2, 1))
    assert dones.tolist() == [1, 1] and extras["time_outs"].tolist() == [True, True]  # truncated

    envs = point_envs()
    envs.reset()
    ended = torch.zeros(2, dtype=torch.bool)
    for _ in range(16):  # from |position| <= 0.5 at 0.1 a step, off the line within 16 steps: terminated
        _, _, dones, extras = envs.step(torch.ones(2, 1))
        assert not extras["time_outs"].any()
        ended |= dones.bool()
    assert ended.all()


def test_a_gymnasium_task_with_a_vectask_train_config_is_refused(tmp_path):
    result = run_train("task=GymEnv", "train=CartpolePPO", cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "is a gymnasium env (task.env.gym_id) but its train config has env_name: rlgpu" in result.stderr


def test_an_unknown_gymnasium_id_is_refused():
    with pytest.raises(ValueError, match=r"task.env.gym_id='Pendulm-v1' with make_kwargs=\{\} could not be made: .*Expected a registered gymnasium id"):
        make_gym_creator("Pendulm-v1")


def test_a_task_class_path_that_does_not_import_is_refused():
    tasks.register("Missing", "no_such_module.tasks:Missing")
    try:
        with pytest.raises(ValueError, match=r"task 'Missing': cannot load 'no_such_module.tasks:Missing'.*PYTHONPATH"):
            tasks.resolve("Missing")
    finally:
        del tasks.TASK_MAP["Missing"]


@pytest.mark.parametrize(
    "modules,message",
    [("reward_log", "expected a list of importable module names"), (["no_such_extension"], "'no_such_extension' could not be imported")],
)
def test_bad_extensions_are_refused(modules, message):
    with pytest.raises(ValueError, match=message):
        load_extensions(modules)


def test_multi_gpu_outside_torchrun_is_refused(monkeypatch):
    from isaac_rl.rlgames import distributed

    assert distributed.current_rank(False) == distributed.SINGLE
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match=r"under torchrun \(missing RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT\): torchrun --nproc_per_node"):
        distributed.current_rank(True)


def test_a_rank_closes_its_process_group_on_exit(tmp_path):
    import torch.distributed as dist

    from isaac_rl.rlgames import distributed

    distributed.shutdown()  # no group yet: nothing to do
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    assert dist.is_initialized()
    distributed.shutdown()
    assert not dist.is_initialized()
