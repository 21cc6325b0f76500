"""What `checkpoint=` means (a file, a run, an experiment), and what the console keeps of rl_games' output."""

import io
import os
from contextlib import redirect_stdout

import pytest
import torch

from isaac_rl.rlgames.console import rl_games_output
from isaac_rl.utils.run_dirs import new_run_dir, resolve_checkpoint


def save(path, epoch: int, mtime: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": epoch}, path)
    os.utime(path, ns=(mtime * 10**9, mtime * 10**9))


def test_a_run_directory_means_its_best_checkpoint_else_its_newest(tmp_path):
    run = new_run_dir(tmp_path / "runs" / "Ant", now=1_700_000_000)
    save(run / "nn" / "last_Ant_ep_5_rew_1.00.pth", 5, 10)
    assert resolve_checkpoint(run) == (run / "nn" / "last_Ant_ep_5_rew_1.00.pth", f"checkpoint: {run}/nn/last_Ant_ep_5_rew_1.00.pth (the newest of run {run})")
    save(run / "nn" / "Ant.pth", 3, 8)  # the best is older than the last periodic one, and still the one played
    save(run / "nn" / "last_Ant_ep_9_rew_0.50.pth", 9, 20)
    for form in (run, run / "nn", str(run)):
        assert resolve_checkpoint(form) == (run / "nn" / "Ant.pth", f"checkpoint: {run}/nn/Ant.pth (the best of run {run})")
    assert resolve_checkpoint(run / "nn" / "last_Ant_ep_9_rew_0.50.pth") == (run / "nn" / "last_Ant_ep_9_rew_0.50.pth", None)


def test_an_experiment_directory_means_its_newest_run_with_a_checkpoint(tmp_path):
    experiment = tmp_path / "runs" / "Ant"
    older = new_run_dir(experiment, now=1_700_000_000)
    save(older / "nn" / "Ant.pth", 3, 10)
    newer = new_run_dir(experiment, now=1_700_000_100)
    save(newer / "nn" / "Ant.pth", 1, 5)  # newer by its start, whatever the files' times
    new_run_dir(experiment, now=1_700_000_200)  # started, nothing saved yet: skipped
    (experiment / "notes").mkdir()
    assert resolve_checkpoint(experiment)[0] == newer / "nn" / "Ant.pth"


@pytest.mark.parametrize(
    "content,what",
    [(b"", "an empty file"), (b"hello\nworld\n", "a text file (it begins 'hello')"), (b"\x89PNG\r\n\x1a\n\0\0", "a file of another kind (it begins b'\\x89PNG")],
)
def test_a_file_that_is_not_a_checkpoint_is_named_for_what_it_is(content, what, tmp_path):
    path = tmp_path / "policy.pth"
    path.write_bytes(content)
    with pytest.raises(ValueError) as refused:
        resolve_checkpoint(path)
    assert f"checkpoint '{path}' is {what}" in str(refused.value) and "not a checkpoint; expected a .pth file" in str(refused.value)


def test_missing_paths_and_directories_without_runs_say_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'nowhere.pth' does not exist; expected a .pth file written by training, a run directory"):
        resolve_checkpoint("nowhere.pth")
    with pytest.raises(FileNotFoundError, match=r"is a directory with no run holding a checkpoint \(nn/\*.pth\)"):
        resolve_checkpoint(tmp_path)
    run = new_run_dir(tmp_path / "runs" / "Ant")
    with pytest.raises(FileNotFoundError, match=r"has no checkpoint yet"):
        resolve_checkpoint(run)


def _print_from(module_name: str, text: str) -> None:
    """print() called by a function whose module is `module_name`."""
    exec("def say(text):\n    print(text)\n", namespace := {"__name__": module_name})
    namespace["say"](text)


def test_the_console_drops_what_rl_games_prints_and_keeps_the_rest():
    out = io.StringIO()
    with redirect_stdout(out):
        with rl_games_output(verbose=False):
            _print_from("rl_games.common.a2c_common", "MAX EPOCHS NUM!")
            _print_from("rl_games", "self.seed = 42")
            _print_from("isaac_rl.rlgames.observer", "epoch 1/1: ...")
            _print_from("rl_games_extra", "a package of another name")
        with rl_games_output(verbose=True):
            _print_from("rl_games.torch_runner", "Started to train")
        _print_from("rl_games.torch_runner", "outside the block")
    assert out.getvalue().splitlines() == ["epoch 1/1: ...", "a package of another name", "Started to train", "outside the block"]
