"""The whole config is checked before anything is built: each wrong key or value is named, exit code 2."""

import time

import pytest
from conftest import REPO_ROOT, run_train

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
        ["task=Ant", "num_envs=16", "seed=-1", "resume=True", "task.sim.nconmax=200", "+train.params.config.value_bootstrap=True"],
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


# The values a new user tried (issue 10): each fails fast, names its key, exits 2, and writes nothing.
@pytest.mark.parametrize(
    "override",
    [
        "train.params.config.learning_rate=fast",
        "train.params.config.gamma=fast",
        "train.params.config.entropy_coef=high",
        "task.env.maxEffort=strong",
        "task.sim.dt=abc",
        "multi_gpu=yes",
        "num_test_games=abc",
        "task.sim.use_cuda_graph=maybe",
        "+task.env.noSuchKey=1",
    ],
)
def test_train_py_exits_2_within_seconds_naming_the_key(override, tmp_path):
    start = time.monotonic()
    result = run_train("task=Cartpole", override, cwd=tmp_path, timeout=60)
    elapsed = time.monotonic() - start
    key = override.lstrip("+").split("=")[0]
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.startswith(f"error: {key}="), result.stderr[-2000:]
    assert "expected" in result.stderr or "unknown key" in result.stderr
    assert "Traceback" not in result.stderr
    assert elapsed < 15, elapsed
    assert not (tmp_path / "runs").exists()

