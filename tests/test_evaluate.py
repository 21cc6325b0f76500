"""scripts/evaluate.py reports a task's episode statistics as the training log does: per step over the played steps."""

import copy
import importlib.util
from types import SimpleNamespace

import pytest
import torch
from conftest import REPO_ROOT
from test_anymal import BASE_CFG as ANYMAL_CFG
from test_biped import make_biped

from isaac_rl import tasks
from isaac_rl.rlgames.observer import RLGPUAlgoObserver

spec = importlib.util.spec_from_file_location("evaluate_script", REPO_ROOT / "scripts" / "evaluate.py")
evaluate_script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(evaluate_script)


class RecordedTask:
    """`task` as evaluate() plays it, each step's extras['episode'] and done flags kept."""

    def __init__(self, task) -> None:
        self.task = task
        self.steps: list[tuple[dict[str, torch.Tensor], torch.Tensor]] = []

    def __getattr__(self, name):
        return getattr(self.task, name)

    def step(self, actions):
        obs, reward, reset, extras = self.task.step(actions)
        self.steps.append(({key: value.clone() for key, value in extras["episode"].items()}, reset.clone()))
        return obs, reward, reset, extras


class ScalarWriter:
    """Keeps what the training log writes to tensorboard."""

    def __init__(self) -> None:
        self.scalars: dict[str, float] = {}

    def add_scalar(self, tag: str, value: float, step: float) -> None:
        self.scalars[tag] = value


def training_log(steps: list[tuple[dict[str, torch.Tensor], torch.Tensor]]) -> dict[str, float]:
    """Episode/<key> as rl_games' training log (isaac_rl's observer) writes it for an epoch of these steps."""
    writer = ScalarWriter()
    algo = SimpleNamespace(writer=writer, ppo_device="cpu", frame=len(steps), curr_frames=len(steps), max_epochs=1,
                           game_rewards=SimpleNamespace(current_size=0))  # fmt: skip
    observer = RLGPUAlgoObserver()
    observer.after_init(algo)
    for episode, reset in steps:
        observer.process_infos({"episode": episode}, reset.bool())
    observer.after_print_stats(len(steps), 1, 1.0)
    return {tag.removeprefix("Episode/"): value for tag, value in writer.scalars.items() if not tag.endswith("/time")}


def short_episodes(task_name: str):
    """4 envs of `task_name` with episodes of 20 steps (BipedFlat: new commands every 10, as its 20 s and 10 s)."""
    if task_name == "BipedFlat":
        return make_biped(num_envs=4, pushRobots=False, episodeLength_s=0.4, resampleInterval_s=0.2)
    cfg = copy.deepcopy(ANYMAL_CFG)
    cfg["env"]["numEnvs"] = 4
    cfg["env"]["learn"]["episodeLength_s"] = 0.4
    cfg["sim"]["backend"] = "mujoco"
    return tasks.make("Anymal", cfg=cfg, rl_device="cpu", sim_device="cpu", graphics_device_id=0, headless=True)


@pytest.mark.parametrize("task_name", ["BipedFlat", "Anymal"])
def test_play_reports_the_training_logs_per_step_tracking_errors_and_their_values_at_the_last_step(task_name):
    # the robots stand (zero actions) through their short episodes: every env times out at the same step and no
    # step of a second episode is played
    torch.manual_seed(0)
    task = RecordedTask(short_episodes(task_name))
    result = evaluate_script.evaluate(task, lambda obs: torch.zeros(obs.shape[0], task.num_actions), episodes=1)
    assert result["episodes"] == 4 and result["mean_length"] == task.max_episode_length - 1
    length = int(result["mean_length"])
    first_episode = task.steps[:length]
    assert not any(reset.any() for _, reset in first_episode[:-1]) and first_episode[-1][1].all()

    logged = training_log(first_episode)
    last_step = first_episode[-1][0]
    for key in ("lin_vel_error", "ang_vel_error"):
        # what train logs as Episode/<key> is what play reports as mean_<key>, over the same steps
        assert result[f"mean_{key}"] == pytest.approx(logged[key], rel=1e-5)
        assert result[f"final_{key}"] == pytest.approx(float(last_step[key].mean()), rel=1e-5)
    assert logged["lin_vel_error"] > 0.05  # standing still while asked to walk: there is an error to compare
    text = evaluate_script.statistics_text(result)
    assert f", mean lin_vel_error {result['mean_lin_vel_error']:.3f} (final {result['final_lin_vel_error']:.3f})" in text


def test_only_the_steps_of_counted_episodes_enter_the_per_step_mean():
    # 2 envs, 1 episode each: the env whose episode ends first plays on (its next episodes are not counted)
    # while the other finishes; the mean is over the counted episodes' steps only
    torch.manual_seed(0)
    task = RecordedTask(make_biped(num_envs=2, pushRobots=False, episodeLength_s=2.0, resampleInterval_s=1.0))

    def actor(obs):  # env 0 folds (all targets at -1) and falls soon; env 1 stands for a while
        return torch.stack((-torch.ones(21), torch.zeros(21)))

    result = evaluate_script.evaluate(task, actor, episodes=1)
    resets = torch.stack([reset for _, reset in task.steps]).bool()
    ends = [int(torch.nonzero(resets[:, env])[0]) for env in range(2)]
    assert ends[0] != ends[1], ends  # one env ended first, then played steps that are not counted
    expected = {
        key: sum(float(torch.stack([episode[key][env] for episode, _ in task.steps[: end + 1]]).sum()) for env, end in enumerate(ends))
        / sum(end + 1 for end in ends)
        for key in ("lin_vel_error", "ang_vel_error")
    }  # fmt: skip
    for key, value in expected.items():
        assert result[f"mean_{key}"] == pytest.approx(value, rel=1e-5)
