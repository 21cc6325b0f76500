"""Each run writes into a directory of its own; resume continues one in place; the console says what runs."""

import hashlib
import re
from pathlib import Path

import pytest
from conftest import run_train

from isaac_rl.rlgames.checkpoint import load_checkpoint
from isaac_rl.utils.run_dirs import new_run_dir, newest_run_dir, remove_unstarted, run_dirs

SHORT = [
    "task=Cartpole", "num_envs=16", "train.params.config.save_frequency=2",
    "train.params.config.save_best_after=1", "keep_checkpoints=1",
]  # fmt: skip


def snapshot(directory: Path) -> dict[str, str]:
    """Every file under `directory` with a hash of its bytes."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.rglob("*")) if p.is_file()}


def train(cwd: Path, *overrides: str):
    result = run_train(*SHORT, *overrides, cwd=cwd)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two runs of one experiment, and what the first held before the second started."""
    cwd = tmp_path_factory.mktemp("runs")
    first = train(cwd, "max_iterations=6")
    first_dir = newest_run_dir(cwd / "runs" / "Cartpole")
    before = snapshot(first_dir)
    second = train(cwd, "max_iterations=2")
    return cwd, first, first_dir, before, second


def test_a_second_run_of_an_experiment_leaves_the_first_byte_identical(two_runs):
    cwd, _, first_dir, before, _ = two_runs
    runs = run_dirs(cwd / "runs" / "Cartpole")
    assert len(runs) == 2 and runs[0] == first_dir
    assert snapshot(first_dir) == before
    for run in runs:  # each holds its own config, checkpoints and summaries
        assert (run / "config.yaml").is_file() and list((run / "nn").glob("*.pth")) and any((run / "summaries").iterdir())
    # the second run's best checkpoint is its own: a 2-epoch policy, beside the first run's
    assert load_checkpoint(runs[1] / "nn" / "Cartpole.pth")["epoch"] <= 2


def test_keep_checkpoints_prunes_only_the_runs_own_and_the_last_epoch_is_saved_once(two_runs):
    cwd, _, first_dir, _, _ = two_runs
    periodic = sorted(p.name for p in (first_dir / "nn").glob("last_*.pth"))
    assert periodic == ["last_Cartpole_ep_6_rew_" + periodic[0].split("_rew_")[1]], periodic  # keep_checkpoints=1
    assert "-inf" not in " ".join(p.name for p in cwd.rglob("*.pth"))


def test_the_console_says_what_runs_with_one_line_per_epoch_and_an_eta(two_runs):
    cwd, first, first_dir, _, _ = two_runs
    start = [line for line in first.stdout.splitlines() if line.startswith("isaac_rl: task ")]
    expected = rf"isaac_rl: task Cartpole, 16 envs, sim cpu, rl cpu, physics MuJoCo C on cpu, \d+ thread\(s\), run {re.escape(str(first_dir.relative_to(cwd)))}"
    assert len(start) == 1 and re.fullmatch(expected, start[0]), start
    epochs = re.findall(r"^epoch (\d+)/6: .*, time [\d.]+s, ETA \w+, fps total \d+, frames (\d+)", first.stdout, re.M)
    assert [int(e) for e, _ in epochs] == [1, 2, 3, 4, 5, 6]
    assert [int(f) for _, f in epochs] == [16 * 16 * e for e in range(1, 7)]  # 16 envs x horizon 16
    assert "fps step:" not in first.stdout  # rl_games' own epoch line is replaced, not doubled


# what rl_games prints by itself as it builds and trains (issue 28)
RL_GAMES_CHATTER = ("self.seed", "Started to train", "Exact experiment name", "seq_length", "build mlp", "RunningMeanStd", "saving next best", "MAX EPOCHS NUM", "=> saved checkpoint")
SUMMARY = re.compile(
    r"^isaac_rl: trained to epoch (\d+) \((\d+) in this run\), best mean episode reward (-?[\d.]+), best checkpoint (\S+), run (\S+), [\d.]+s$"
)


def test_the_console_holds_isaac_rl_lines_only_and_ends_with_a_summary(two_runs):
    cwd, first, first_dir, _, _ = two_runs
    lines = first.stdout.strip().splitlines()
    # the start-up line, one line per epoch, the summary: nothing of rl_games' own
    assert len(lines) == 1 + 6 + 1, first.stdout
    assert not [line for line in lines if any(chatter in line for chatter in RL_GAMES_CHATTER)]
    epoch, here, best, checkpoint, run = SUMMARY.match(lines[-1]).groups()
    assert (int(epoch), int(here), run) == (6, 6, str(first_dir.relative_to(cwd)))
    assert checkpoint == str((first_dir / "nn" / "Cartpole.pth").relative_to(cwd))
    rewards = [float(r) for r in re.findall(r"mean episode reward (-?[\d.]+)", "\n".join(lines[1:-1]))]
    assert float(best) == pytest.approx(max(rewards), abs=0.01)  # the best epoch's (save_best_after=1)
    assert float(best) == pytest.approx(float(load_checkpoint(cwd / checkpoint)["last_mean_rewards"]), abs=0.01)


def test_verbose_shows_rl_games_own_output_too(tmp_path):
    result = train(tmp_path, "max_iterations=1", "verbose=True")
    assert "Started to train" in result.stdout and "MAX EPOCHS NUM!" in result.stdout and "=> saved checkpoint" in result.stdout
    assert re.search(r"^epoch 1/1: ", result.stdout, re.M) and SUMMARY.match(result.stdout.strip().splitlines()[-1])


def test_resume_true_continues_the_newest_run_in_place_and_resume_dir_a_named_one(two_runs, tmp_path):
    cwd, _, first_dir, _, _ = two_runs
    second_dir = newest_run_dir(cwd / "runs" / "Cartpole")
    resumed = train(cwd, "resume=True", "max_iterations=4")
    assert f"resume: continuing {second_dir.relative_to(cwd)}" in resumed.stdout
    assert SUMMARY.match(resumed.stdout.strip().splitlines()[-1]).groups()[:2] == ("4", "2")
    assert re.search(r"^epoch 3/4: ", resumed.stdout, re.M) and not re.search(r"^epoch 1/4: ", resumed.stdout, re.M)
    assert run_dirs(cwd / "runs" / "Cartpole") == [first_dir, second_dir]  # in place: no new run directory
    assert list(second_dir.glob("config.resume_*.yaml"))  # the first config.yaml is kept

    named = train(cwd, f"resume={first_dir}", "max_iterations=7")
    assert re.search(r"^epoch 7/7: ", named.stdout, re.M)
    assert list((first_dir / "nn").glob("last_Cartpole_ep_7*.pth"))


def test_a_run_that_fails_before_it_starts_leaves_nothing_behind(tmp_path):
    bad_value = run_train(*SHORT, "task.env.resetDist=far", cwd=tmp_path)
    assert bad_value.returncode == 2
    # fails building the task, after the run directory was claimed: neither it nor runs/Cartpole/ nor runs/ stays
    missing_model = run_train(*SHORT, "task.env.asset=mjcf/no_such_model.xml", cwd=tmp_path)
    assert missing_model.returncode != 0
    assert not (tmp_path / "runs").exists()
    # another run's directory is left alone, and so the experiment directory holding it
    kept = new_run_dir(tmp_path / "runs" / "Cartpole")
    (kept / "config.yaml").write_text("task_name: Cartpole\n")
    assert run_train(*SHORT, "task.env.asset=mjcf/no_such_model.xml", cwd=tmp_path).returncode != 0
    assert run_dirs(tmp_path / "runs" / "Cartpole") == [kept]


def test_remove_unstarted_keeps_a_started_run_and_what_others_wrote(tmp_path):
    started = new_run_dir(tmp_path / "runs" / "X")
    (started / "config.yaml").write_text("")
    remove_unstarted(started, tmp_path / "runs")
    assert started.is_dir()
    unstarted = new_run_dir(tmp_path / "runs" / "Y")
    (unstarted / "nn").mkdir()
    remove_unstarted(unstarted, tmp_path / "runs")
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["X"]


def test_run_directories_never_collide_and_sort_by_start(tmp_path):
    made = [new_run_dir(tmp_path, now=1_700_000_000) for _ in range(3)]
    assert len(set(made)) == 3
    later = new_run_dir(tmp_path, now=1_700_000_100)
    assert run_dirs(tmp_path) == [*made, later] and newest_run_dir(tmp_path) == later
    (tmp_path / "not_a_run").mkdir()
    assert newest_run_dir(tmp_path) == later
