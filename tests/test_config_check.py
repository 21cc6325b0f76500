"""The whole config is checked before anything is built: each wrong key or value is named, exit code 2."""

import subprocess

import pytest
import torch
from conftest import REPO_ROOT, run_script_and_list_modules

from isaac_rl.rlgames.run_config import check_batch, check_run_config
from isaac_rl.utils.config import apply_cpu_num_envs, compose_config, compose_reference
from isaac_rl.utils.schema import ConfigError

PUSH_BOX = [f"hydra.searchpath=[file://{REPO_ROOT / 'examples' / 'custom_task' / 'cfg'}]", "task=PushBox"]


def problems(*overrides: str) -> list[str]:
    cfg = compose_config(list(overrides))
    try:
        check_run_config(cfg, compose_reference(list(overrides)))
    except ConfigError as error:
        return error.problems
    return []


@pytest.mark.parametrize(
    "overrides",
    [
        ["task=Cartpole"],
        ["task=Ant"],
        ["task=HumanoidAMP"],
        ["task=GymEnv"],
        ["task=GymEnv", "task.env.gym_id=CartPole-v1", "train=GymEnvDiscretePPO", "+task.env.make_kwargs.sutton_barto_reward=True"],
        PUSH_BOX,
        ["task=Ant", "num_envs=16", "seed=-1", "resume=True", "task.sim.nconmax=200", "+train.params.config.clip_actions=False"],
        ["task=Cartpole", "resume=runs/Cartpole/2026-01-01_00-00-00", "train.params.config.lr_schedule=null"],
    ],
)
def test_the_shipped_configs_and_valid_overrides_pass(overrides):
    assert problems(*overrides) == []


@pytest.mark.parametrize(
    "override,line",
    [
        ("train.params.config.learning_rate=fast", "train.params.config.learning_rate=fast: expected a number > 0"),
        ("train.params.config.gamma=fast", "train.params.config.gamma=fast: expected a number in (0, 1]"),
        ("train.params.config.gamma=1.5", "train.params.config.gamma=1.5: expected a number in (0, 1]"),
        ("train.params.config.entropy_coef=high", "train.params.config.entropy_coef=high: expected a number >= 0"),
        ("train.params.config.horizon_length=0", "train.params.config.horizon_length=0: expected a positive integer"),
        ("train.params.network.mlp.units=[32,big]", "train.params.network.mlp.units=[32, 'big']: expected a list of positive integers"),
        ("task.env.maxEffort=strong", "task.env.maxEffort=strong: expected a number"),
        ("task.sim.dt=abc", "task.sim.dt=abc: expected a number > 0"),
        ("task.sim.substeps=1.5", "task.sim.substeps=1.5: expected a positive integer"),
        ("task.sim.use_cuda_graph=maybe", "task.sim.use_cuda_graph=maybe: expected True or False"),
        ("task.sim.backend=physx", "task.sim.backend=physx: expected one of auto, warp, mujoco"),
        ("multi_gpu=yes", "multi_gpu=yes: expected True or False"),
        ("num_test_games=abc", "num_test_games=abc: expected a positive integer, or empty for one per env"),
        ("sim_device=gpu", "sim_device=gpu: expected 'cpu', 'cuda' or 'cuda:N'"),
        ("keep_checkpoints=-1", "keep_checkpoints=-1: expected an integer >= 0"),
        ("+task.env.noSuchKey=1", "task.env.noSuchKey=1: unknown key; task.env accepts asset, clipActions"),
        ("+train.params.config.learning_rat=1e-3", "train.params.config.learning_rat=0.001: unknown key; train.params.config accepts"),
        ("+num_env=4", "num_env=4: unknown key; the top level accepts cache_dir, capture_video, capture_video_freq, capture_video_len"),
    ],
)
def test_a_wrong_value_or_unknown_key_is_named_with_what_is_accepted(override, line):
    found = problems("task=Cartpole", override)
    assert len(found) == 1 and found[0].startswith(line), found


def test_every_problem_is_reported_at_once_and_derived_keys_are_not_blamed():
    assert problems("task=Ant", "task.env.maxEpisodeLength=long", "train.params.config.tau=x") == [
        "task.env.maxEpisodeLength=long: expected a positive integer",
        "train.params.config.tau=x: expected a number in [0, 1]",
    ]
    # num_envs feeds task.env.numEnvs, num_actors and minibatch_size: only num_envs is named
    assert problems("task=Ant", "num_envs=many") == ["num_envs=many: expected a positive integer, or empty for the task's default"]
    assert problems("task=Ant", "train.params.config.horizon_length=fast") == [
        "train.params.config.horizon_length=fast: expected a positive integer"
    ]


def test_free_form_sections_take_any_key_and_gym_tasks_take_no_vectask_keys():
    assert problems("task=GymEnv", "+task.env.make_kwargs.g=9.81", "+task.env.make_kwargs.anything.nested=1") == []
    found = problems("task=GymEnv", "+task.env.maxEpisodeLength=100")
    assert found == ["task.env.maxEpisodeLength=100: unknown key; task.env accepts gym_id, make_kwargs, numEnvs, rayWorkers"]


def test_a_user_task_is_checked_against_the_keys_its_own_yaml_declares():
    assert problems(*PUSH_BOX, "task.env.targetRange=far") == ["task.env.targetRange=far: expected a number"]
    assert problems(*PUSH_BOX, "+task.env.targetRangee=1")[0].startswith("task.env.targetRangee=1: unknown key")


@pytest.mark.parametrize(
    "task,num_envs,minibatch",
    [("Ant", 4096, 32768), ("Ant", 16, 128), ("HumanoidAMP", 4096, 32768), ("HumanoidAMP", 8, 64), ("Cartpole", 512, 8192), ("Cartpole", 7, 112)],
)
def test_minibatches_follow_num_envs_and_keep_isaacgymenvs_values_at_the_default(task, num_envs, minibatch):
    cfg = compose_config([f"task={task}", f"num_envs={num_envs}"])
    assert cfg.train.params.config.minibatch_size == minibatch
    check_batch(cfg)  # tiles the batch


def test_a_minibatch_that_does_not_tile_the_batch_is_refused_with_one_that_does():
    cfg = compose_config(["task=Cartpole", "num_envs=10", "train.params.config.minibatch_size=100"])
    with pytest.raises(ConfigError, match=r"minibatch_size=100: expected a divisor of horizon_length x num_envs = 16 x 10 = 160"):
        check_batch(cfg)


def test_without_cuda_a_big_task_starts_its_cpu_default_unless_the_user_chose():
    cfg = compose_config(["task=Ant"])
    assert apply_cpu_num_envs(cfg, cuda=True) is None and cfg.task.env.numEnvs == 4096
    note = apply_cpu_num_envs(cfg, cuda=False)
    assert note == "no GPU: Ant starts 64 envs instead of its GPU default 4096 (choose with num_envs=N)"
    assert cfg.task.env.numEnvs == 64 and cfg.train.params.config.num_actors == 64
    assert cfg.train.params.config.minibatch_size == 512
    for chosen in (["num_envs=128"], ["task.env.numEnvs=128"]):
        cfg = compose_config(["task=Ant", *chosen])
        assert apply_cpu_num_envs(cfg, cuda=False) is None and cfg.task.env.numEnvs == 128
    cfg = compose_config(["task=Cartpole"])  # small enough for a CPU already
    assert apply_cpu_num_envs(cfg, cuda=False) is None and cfg.task.env.numEnvs == 512


HEAVY = ("torch", "rl_games", "mujoco", "warp")


def run_script(script: str, *args: str, cwd) -> tuple[subprocess.CompletedProcess, list[str]]:
    """scripts/<script> as a user runs it, and the heavy modules (torch, rl_games, mujoco, warp) it imported."""
    return run_script_and_list_modules(script, *args, cwd=cwd, modules=HEAVY)


# Bad input a new user tries (issues 10 and 28): one line naming the key and what is accepted, exit code 2,
# nothing written, and nothing heavy imported: the config, the paths and the devices are checked first.
@pytest.mark.parametrize(
    "overrides,line",
    [
        (["train.params.config.learning_rate=fast"], "train.params.config.learning_rate=fast: expected a number > 0"),
        (["train.params.config.gamma=fast"], "train.params.config.gamma=fast: expected a number in (0, 1]"),
        (["train.params.config.entropy_coef=high"], "train.params.config.entropy_coef=high: expected a number >= 0"),
        (["task.env.maxEffort=strong"], "task.env.maxEffort=strong: expected a number"),
        (["task.sim.dt=abc"], "task.sim.dt=abc: expected a number > 0"),
        (["multi_gpu=yes"], "multi_gpu=yes: expected True or False"),
        (["verbose=loud"], "verbose=loud: expected True or False"),
        (["num_test_games=abc"], "num_test_games=abc: expected a positive integer"),
        (["task.sim.use_cuda_graph=maybe"], "task.sim.use_cuda_graph=maybe: expected True or False"),
        (["+task.env.noSuchKey=1"], "task.env.noSuchKey=1: unknown key; task.env accepts"),
        (["task=Cartpol"], "task=Cartpol: no such task (did you mean Cartpole?); known: Ant, Anymal, AnymalTerrain"),
        (["task=NoSuch"], "task=NoSuch: no such task; known: Ant, Anymal, AnymalTerrain, BallBalance, "),
        (["train=CartpolPPO"], "train=CartpolPPO: no such train config (did you mean CartpolePPO?)"),
        (["foo=1"], "foo=1: unknown key; the top level accepts cache_dir, capture_video"),
        (["num_env=4"], "num_env=4: unknown key (did you mean num_envs?); the top level accepts"),
        (["task.env.maxEfort=3"], "task.env.maxEfort=3: unknown key (did you mean task.env.maxEffort?); task.env accepts asset"),
        (["num_envs=[1"], "num_envs=[1: no viable alternative at input '[1' (expected key=value"),
        (["test=True", "checkpoint=runs/none/nn/x.pth"], "checkpoint 'runs/none/nn/x.pth' does not exist; expected a .pth file"),
        (["test=True"], "checkpoint=: none given, and runs/Cartpole holds no run to play; train first"),
        (["test=True", "checkpoint=notes.txt"], "checkpoint 'notes.txt' is a text file (it begins 'epoch 40 was best'), not a checkpoint; expected a .pth file"),
        (["test=True", "checkpoint=empty_dir"], "checkpoint 'empty_dir' is a directory with no run holding a checkpoint (nn/*.pth); expected"),
        (["checkpoint=runs_of_nothing/2026-01-01_00-00-00"], "checkpoint 'runs_of_nothing/2026-01-01_00-00-00': run runs_of_nothing/2026-01-01_00-00-00 has no checkpoint yet"),
        (["task=HumanoidAMP", "task.env.motion_file=clips/none.npz"], "task.env.motion_file=clips/none.npz: not found (looked at"),
        (["sim_device=cuda:99", "rl_device=cpu"], "sim_device=cuda:99: "),
    ],
)
def test_train_py_refuses_bad_input_in_one_line_before_any_heavy_import(overrides, line, tmp_path):
    (tmp_path / "notes.txt").write_text("epoch 40 was best\n")
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "runs_of_nothing" / "2026-01-01_00-00-00" / "nn").mkdir(parents=True)
    result, loaded = run_script("train.py", "task=Cartpole", *overrides, cwd=tmp_path)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stderr.startswith(f"error: {line}"), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    if line.startswith("sim_device"):  # what the machine has, said before torch looks
        assert ("this machine has" if torch.cuda.is_available() else "CUDA is not available on this machine; use sim_device=cpu") in result.stderr
    assert loaded == [], f"imported {loaded} before refusing the input"
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("script", ["train.py", "evaluate.py", "export_policy.py", "benchmark.py"])
def test_every_script_answers_help(script, tmp_path):
    first_line = (REPO_ROOT / "scripts" / script).read_text().split('"""')[1].strip().splitlines()[0]
    for flag in ("--help", "-h"):
        result, _ = run_script(script, flag, cwd=tmp_path)
        assert result.returncode == 0 and result.stdout.startswith(first_line), result.stdout[:500] + result.stderr[-2000:]
    result, _ = run_script(script, "--fast", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error: unknown option '--fast'; accepted: --help"), result.stderr
