"""trainer=rsl_rl and trainer=skrl: train, resume, play and export Cartpole through scripts/ as a user would."""

import importlib.util
import json
import re
import subprocess
import sys

import pytest
import torch
from conftest import REPO_ROOT, assert_training_time_goes_on, checkpoint_training_time, run_train

from isaac_rl import CFG_ROOT
from isaac_rl.tasks import TASK_MAP
from isaac_rl.utils.config import compose_config
from isaac_rl.utils.run_dirs import run_dirs

pytest.importorskip("rsl_rl")
pytest.importorskip("skrl")
TRAINERS = ["rsl_rl", "skrl"]
TINY = ["task=Cartpole", "num_envs=16"]
SUMMARY = re.compile(
    r"^isaac_rl: trained to epoch (?P<epoch>\d+) \((?P<here>\d+) in this run\), best mean episode reward (?P<best>-?[\d.]+), "
    r"last checkpoint (?P<checkpoint>\S+), run (?P<run>\S+), [\d.]+s$"
)


@pytest.fixture(scope="module", params=TRAINERS)
def trained(request, tmp_path_factory):
    """A 2-epoch run, then resumed to 3 epochs: (trainer, cwd, run dir, first stdout, resumed stdout)."""
    trainer = request.param
    cwd = tmp_path_factory.mktemp(trainer)
    first = run_train(*TINY, f"trainer={trainer}", "max_iterations=2", cwd=cwd)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    resumed = run_train(*TINY, f"trainer={trainer}", "max_iterations=3", "resume=True", cwd=cwd)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    runs = run_dirs(cwd / "runs" / f"Cartpole_{trainer}")
    assert len(runs) == 1, runs  # resume wrote into the same run
    return trainer, cwd, runs[0], first.stdout, resumed.stdout


def test_training_writes_the_run_layout_and_the_console_lines(trained):
    trainer, cwd, run, stdout, _ = trained
    assert (run / "config.yaml").is_file() and (run / "nn" / "last_Cartpole_ep_2.pth").is_file()
    assert list((run / "summaries").glob("events.out.tfevents.*"))
    config = (run / "config.yaml").read_text()
    assert f"trainer: {trainer}" in config and "agent:" in config
    assert f"isaac_rl: task Cartpole, 16 envs, sim cpu, rl cpu, physics MuJoCo C on cpu" in stdout
    assert f"trainer {trainer}, run {run.relative_to(cwd)}" in stdout
    assert "epoch 2/2: mean episode reward" in stdout and "fps total" in stdout
    assert "saved checkpoint" not in stdout  # as rl_games' runs: said with verbose=True only
    summary = SUMMARY.match(stdout.strip().splitlines()[-1])
    assert summary, stdout[-2000:]  # the run's last line, as rl_games' runs end
    assert summary["epoch"] == "2" and summary["here"] == "2" and summary["run"] == str(run.relative_to(cwd))
    assert summary["checkpoint"] == str((run / "nn" / "last_Cartpole_ep_2.pth").relative_to(cwd))


def test_resume_continues_from_the_newest_checkpoint(trained):
    _, cwd, run, _, stdout = trained
    relative = run.relative_to(cwd)
    assert f"resume: continuing {relative} from {relative / 'nn' / 'last_Cartpole_ep_2.pth'}" in stdout
    assert "epoch 3/3" in stdout and "epoch 1/" not in stdout and "epoch 2/" not in stdout
    assert (run / "nn" / "last_Cartpole_ep_3.pth").is_file()
    assert list(run.glob("config.resume_*.yaml"))
    first, resumed = (SUMMARY.match(out.strip().splitlines()[-1]) for out in trained[3:])
    assert resumed and resumed["epoch"] == "3" and resumed["here"] == "1", stdout[-2000:]
    # the best reward is the run's, the epochs before the resume included
    assert float(resumed["best"]) >= float(first["best"])
    before = checkpoint_training_time(run / "nn" / "last_Cartpole_ep_2.pth")  # the resume leaves it as it was
    assert_training_time_goes_on(before, run / "nn" / "last_Cartpole_ep_3.pth", stdout)


def test_play_loads_the_checkpoint_and_plays_whole_episodes(trained):
    trainer, cwd, run, _, _ = trained
    played = run_train(*TINY, f"trainer={trainer}", "test=True", f"checkpoint={run / 'nn' / 'last_Cartpole_ep_3.pth'}", "num_test_games=8", cwd=cwd)
    assert played.returncode == 0, played.stdout[-2000:] + played.stderr[-2000:]
    assert "played 8 episodes: mean episode reward" in played.stdout
    last = played.stdout.strip().splitlines()[-1]
    assert re.match(rf"isaac_rl: played 8 episodes, mean episode reward -?[\d.]+, mean episode length [\d.]+; "
                    rf"checkpoint \S+last_Cartpole_ep_3.pth \(epoch 3, best mean episode reward -?[\d.]+ in training\), run {re.escape(str(run))}, [\d.]+s$", last), last  # fmt: skip


def test_a_checkpoint_of_another_trainer_is_refused_in_one_line(trained):
    trainer, cwd, run, _, _ = trained
    other = TRAINERS[1 - TRAINERS.index(trainer)]
    played = run_train(*TINY, f"trainer={other}", "test=True", f"checkpoint={run / 'nn' / 'last_Cartpole_ep_3.pth'}", cwd=cwd)
    assert played.returncode == 2
    assert played.stderr.splitlines()[0].startswith("error: checkpoint ") and "another trainer" in played.stderr


def test_export_writes_the_policy_with_deployment_metadata(trained):
    pytest.importorskip("onnxruntime")
    import onnxruntime

    from isaac_rl.envs.deployment import read_onnx_metadata
    from isaac_rl.trainers import common

    trainer, cwd, run, _, _ = trained
    checkpoint = run / "nn" / "last_Cartpole_ep_3.pth"
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "export_policy.py"), "task=Cartpole", f"trainer={trainer}", f"checkpoint={checkpoint}"],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    onnx_path = run / "nn" / "policy.onnx"
    assert result.stdout.strip().splitlines()[-1] == str(onnx_path)
    metadata = json.loads((run / "nn" / "policy.json").read_text())
    assert metadata["trainer"] == trainer and metadata["joint_names"] == ["slider_to_cart"]
    assert metadata["control_dt"] == pytest.approx(0.0166) and metadata["num_observations"] == 4
    assert read_onnx_metadata(onnx_path) == metadata

    # the ONNX file acts as the policy test=True plays, on real observations
    cfg = compose_config([*TINY, f"trainer={trainer}", "sim_device=cpu", "rl_device=cpu", f"checkpoint={checkpoint}"])
    task = common.build_task(cfg)
    policy = common.load_policy(cfg, task)
    observations = task.reset()["obs"]
    for _ in range(3):
        observations = task.step(policy(observations))[0]["obs"]
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    from_onnx = torch.from_numpy(session.run(["actions"], {"obs": observations.numpy()})[0])
    assert torch.allclose(from_onnx, policy(observations), atol=1e-5)


def test_sim_to_sim_plays_one_checkpoint_on_warp_and_mujoco(trained, capsys):
    trainer, cwd, run, _, _ = trained
    if trainer != "rsl_rl":
        pytest.skip("one trainer is enough: the comparison does not depend on it")
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    import sim_to_sim

    # a run directory, as evaluate.py takes it: its newest checkpoint (the trainers keep no best)
    difference, tolerance = sim_to_sim.main(["task=Cartpole", "trainer=rsl_rl", f"checkpoint={run}", "num_envs=8", "warp_device=cpu"])
    out = capsys.readouterr().out
    assert f"checkpoint: {run / 'nn' / 'last_Cartpole_ep_3.pth'}" in out
    assert "Cartpole mean episode reward: MuJoCo Warp (cpu)" in out and "MuJoCo C (cpu)" in out
    assert abs(difference) <= tolerance  # the same model on two engines: a few percent apart at most


def test_a_bad_trainer_name_fails_in_one_line(tmp_path):
    result = run_train("task=Cartpole", "trainer=sb3", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: trainer=sb3: expected one of rl_games, rsl_rl, skrl"


def test_a_task_without_a_config_for_the_trainer_fails_in_one_line(tmp_path):
    # HumanoidAMP learns with AMP's discriminator, an rl_games algorithm: PPO alone in the other libraries
    result = run_train("task=HumanoidAMP", "trainer=skrl", cwd=tmp_path)
    assert result.returncode == 2
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: trainer=skrl has no config for task HumanoidAMP: expected ") and "Anymal" in first


def configs(trainer: str) -> list[str]:
    return sorted(path.stem for path in (CFG_ROOT / "train" / trainer).glob("*.yaml"))


def test_every_task_but_amp_has_a_config_for_both_libraries():
    assert configs("rsl_rl") == configs("skrl") == sorted(set(TASK_MAP) - {"HumanoidAMP"})


@pytest.mark.parametrize("trainer", TRAINERS)
@pytest.mark.parametrize("task", [task for task in configs("rsl_rl") if task != "Cartpole"])  # Cartpole: `trained`
def test_every_config_trains_its_task(task, trainer, tmp_path):
    if task.startswith("ShadowHand") and importlib.util.find_spec("gymnasium_robotics") is None:
        pytest.skip('needs pip install -e ".[hands]"')
    result = run_train(f"task={task}", f"trainer={trainer}", "num_envs=4", "max_iterations=1", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert re.search(r"^epoch 1/1: ", result.stdout, re.M), result.stdout[-2000:]
    if task == "ShadowHandOpenAI_FF":  # the asymmetric critic reads the 211 states, the policy the 42 observations
        (checkpoint,) = (tmp_path / "runs").glob("*/*/nn/last_*.pth")
        weights = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if trainer == "rsl_rl":
            inputs = weights["actor_state_dict"]["obs_normalizer._mean"].shape[-1], weights["critic_state_dict"]["obs_normalizer._mean"].shape[-1]
        else:
            inputs = weights["policy"]["net_container.0.weight"].shape[1], weights["value"]["net_container.0.weight"].shape[1]
        assert inputs == (42, 211)


@pytest.mark.parametrize("trainer", TRAINERS)
def test_time_outs_reach_the_library_as_time_outs(trainer):
    """An episode cut by the time limit is bootstrapped by both libraries: they must see it as a time-out."""
    from isaac_rl.trainers import common, rsl_rl, skrl

    cfg = compose_config(["task=Cartpole", "num_envs=4", "sim_device=cpu", "rl_device=cpu", "task.env.maxEpisodeLength=4", "task.env.resetDist=100.0"])
    task = common.build_task(cfg)
    actions = torch.zeros(4, 1)
    if trainer == "rsl_rl":
        env = rsl_rl._vec_env_class()(task)
        env.get_observations()
        outs = [env.step(actions) for _ in range(4)]
        time_outs = [out[3]["time_outs"].bool() for out in outs]
        dones = [out[2].bool() for out in outs]
        assert all(torch.equal(t, d) for t, d in zip(time_outs, dones)) and any(t.all() for t in time_outs)
    else:
        env = skrl._wrapper(task)
        env.reset()
        outs = [env.step(actions) for _ in range(4)]
        assert any(out[3].all() for out in outs) and not any(out[2].any() for out in outs)


def test_deployment_metadata_of_anymal_names_its_joints_gains_and_pose():
    from isaac_rl.envs.deployment import deployment_metadata
    from isaac_rl.trainers import common

    cfg = compose_config(["task=Anymal", "num_envs=1", "sim_device=cpu", "rl_device=cpu"])
    metadata = deployment_metadata(common.build_task(cfg), "Anymal", "rsl_rl", "x.pth")
    assert metadata["joint_names"][:3] == ["LF_HAA", "LF_HFE", "LF_KFE"] and len(metadata["joint_names"]) == 12
    assert metadata["kp"] == [85.0] * 12 and metadata["kd"] == [2.0] * 12
    assert metadata["default_joint_positions"][:3] == [0.03, 0.4, -0.8]
    assert metadata["action_scale"] == 0.5 and metadata["control_dt"] == pytest.approx(0.02)
    assert sum(term["size"] for term in metadata["observation_terms"]) == metadata["num_observations"] == 48
    # the task's declared observation group, in order, with its scales
    terms = {term["name"]: term for term in metadata["observation_terms"]}
    assert list(terms)[0] == "base_lin_vel" and terms["base_lin_vel"]["scale"] == 2.0 and terms["dof_vel"]["scale"] == 0.05
    json.dumps(metadata)  # all plain JSON


@pytest.mark.gpu
@pytest.mark.parametrize("trainer", TRAINERS)
def test_training_on_cuda_runs_the_captured_step_under_the_librarys_inference_mode(trainer, tmp_path):
    """rsl_rl collects under torch.inference_mode and skrl under no_grad: the step graph is captured and
    compiled there, and the update that follows must not touch an inference tensor of the task."""
    result = run_train("task=Cartpole", "num_envs=512", f"trainer={trainer}", "max_iterations=5", "sim_device=cuda:0", "rl_device=cuda:0", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "physics MuJoCo Warp on cuda:0" in result.stdout and "epoch 5/5" in result.stdout


@pytest.mark.gpu
@pytest.mark.parametrize("trainer", TRAINERS)
def test_the_adapters_step_without_a_host_sync(trainer):
    """Past the task's own captured step, the adapters add device work only (clones, the episode sums)."""
    from isaac_rl.trainers import common, rsl_rl, skrl

    cfg = compose_config(["task=Anymal", "num_envs=256", "sim_device=cuda:0", "rl_device=cuda:0"])
    task = common.build_task(cfg)
    if trainer == "rsl_rl":
        env = rsl_rl._vec_env_class()(task)
        env.get_observations()
    else:
        env = skrl._wrapper(task)
        env.reset()
    actions = torch.zeros(256, task.num_actions, device="cuda:0")
    for _ in range(3):  # the task's warm-up steps and its graph capture
        env.step(actions)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(5):
            env.step(actions)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert set(env.episode_stats.flush()) == {"lin_vel_error", "ang_vel_error"}


def torchrun_environment(monkeypatch, world_size: int) -> None:
    """This process's environment as torchrun gives it to rank 0 of `world_size` (nothing listens at the address)."""
    for name, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": str(world_size), "LOCAL_WORLD_SIZE": str(world_size),
                        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29999"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal without CUDA")
@pytest.mark.parametrize("trainer", TRAINERS)
def test_multi_gpu_without_cuda_fails_in_one_line_before_the_library_opens_a_group(trainer, tmp_path, monkeypatch):
    """skrl opens its NCCL group when imported: were it imported before the check, rank 0 of 2 would wait for
    rank 1 at the rendezvous (or fail inside NCCL) instead of saying what is wrong."""
    torchrun_environment(monkeypatch, world_size=2)
    result = run_train(*TINY, f"trainer={trainer}", "multi_gpu=True", cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stderr.splitlines()[0] == f"error: trainer={trainer} multi_gpu=True needs CUDA: {trainer}'s multi-GPU training is NCCL only"
    assert not (tmp_path / "runs").exists()


def test_torchrun_without_multi_gpu_fails_in_one_line(tmp_path, monkeypatch):
    torchrun_environment(monkeypatch, world_size=2)
    result = run_train(*TINY, "trainer=skrl", cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stderr.splitlines()[0].startswith("error: trainer=skrl under torchrun (WORLD_SIZE=2) needs multi_gpu=True: torchrun --nproc_per_node=")


def test_skrl_seeds_each_rank_as_isaac_rl_does(monkeypatch):
    """isaac_rl hands the adapter `seed + RANK` already and skrl's Runner adds the rank again in distributed runs:
    the adapter takes it off, so that rank 1 of a run with seed=7 draws from seed 8, not 9."""
    from skrl import config
    from skrl.utils import set_seed

    from isaac_rl.trainers import skrl

    assert skrl._skrl_seed(8) == 8 and skrl._world_size() == 1  # WORLD_SIZE unset: one process
    monkeypatch.setattr(config.torch, "_is_distributed", True)
    monkeypatch.setattr(config.torch, "_rank", 1)
    monkeypatch.setattr(config.torch, "_world_size", 2)
    assert skrl._world_size() == 2
    set_seed(skrl._skrl_seed(8))  # what skrl's Runner does with the config's seed
    assert torch.initial_seed() == 8


def test_a_skrl_rank_other_than_0_trains_writes_nothing_and_stops_when_told(tmp_path, monkeypatch, capsys):
    """A rank other than 0 trains without a run directory: no epoch line, no file, and a stop agreed after an
    epoch saves nothing there (rank 0 saves)."""
    from isaac_rl.rlgames.interrupt import StopRequest, TrainingInterrupted
    from isaac_rl.trainers import common, skrl

    monkeypatch.chdir(tmp_path)
    cfg = compose_config([*TINY, "trainer=skrl", "sim_device=cpu", "rl_device=cpu"])
    agent_cfg = common.load_trainer_config("skrl", "Cartpole")
    result = skrl.train(common.build_task(cfg), agent_cfg, run_dir=None, checkpoint=None, max_iterations=2, keep_checkpoints=5, seed=1)
    assert result.epoch == 2 and result.last_checkpoint is None
    assert "epoch " not in capsys.readouterr().out
    stop = StopRequest()
    stop.signum = 15  # as SIGTERM's handler leaves it
    with pytest.raises(TrainingInterrupted) as stopped:
        skrl.train(common.build_task(cfg), agent_cfg, run_dir=None, checkpoint=None, max_iterations=3, keep_checkpoints=5, seed=1, stop=stop)
    assert stopped.value.epoch == 1 and stopped.value.checkpoint is None
    assert list(tmp_path.iterdir()) == []
