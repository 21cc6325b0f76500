"""Every trainer on two GPUs of one host: `torchrun --nproc_per_node=2 scripts/train.py multi_gpu=True`, as a user runs it.

For rl_games (Ant), rsl_rl (Anymal) and skrl (Ant): each rank on its own GPU, one process group (a second init
would fail the run), rank 0 alone writing the run and printing epoch lines whose frames count both ranks' envs.
"""

import os
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest
import torch
from conftest import REPO_ROOT
from omegaconf import OmegaConf

from isaac_rl import CFG_ROOT
from isaac_rl.rlgames.checkpoint import load_checkpoint
from isaac_rl.utils.run_dirs import run_dirs

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.device_count() < 2, reason="needs 2 GPUs"),
]

NUM_ENVS = 256
EPOCHS = 2


@dataclass(frozen=True)
class Case:
    trainer: str
    task: str
    experiment: str  # runs/<experiment>/
    checkpoint_glob: str  # the last epoch's checkpoint in the run's nn/

    def steps_per_epoch(self) -> int:
        """Steps of every env per epoch, from the trainer's shipped config."""
        if self.trainer == "rl_games":
            return int(OmegaConf.select(OmegaConf.load(CFG_ROOT / "train" / f"{self.task}PPO.yaml"), "params.config.horizon_length"))
        config = OmegaConf.load(CFG_ROOT / "train" / self.trainer / f"{self.task}.yaml")
        return int(config.num_steps_per_env if self.trainer == "rsl_rl" else config.agent.rollouts)

    def checkpoint_epoch(self, path) -> int:
        if self.trainer == "rl_games":
            return int(load_checkpoint(path)["epoch"])
        from isaac_rl.trainers import common

        return common._library(self.trainer).checkpoint_progress(str(path))[0]


CASES = [
    Case("rl_games", "Ant", "Ant", f"last_Ant_ep_{EPOCHS}_*.pth"),
    Case("rsl_rl", "Anymal", "Anymal_rsl_rl", f"last_Anymal_ep_{EPOCHS}.pth"),
    Case("skrl", "Ant", "Ant_skrl", f"last_Ant_ep_{EPOCHS}.pth"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.trainer for case in CASES])
def test_two_gpus_train_one_policy_and_rank_0_writes_the_run(case, tmp_path):
    if case.trainer != "rl_games":
        pytest.importorskip(case.trainer)
    launcher = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(REPO_ROOT / "scripts" / "train.py"), "multi_gpu=True", f"task={case.task}", f"trainer={case.trainer}",
        f"num_envs={NUM_ENVS}", f"max_iterations={EPOCHS}", "headless=True",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "NCCL_NVLS_ENABLE": "0"}
    result = subprocess.run(launcher, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout

    # each rank simulates on its own GPU
    for rank in range(2):
        assert re.search(rf"^isaac_rl: task {case.task}, {NUM_ENVS} envs, sim cuda:{rank}, rl cuda:{rank}, ", out, re.M), out[-3000:]
    # rank 0 alone prints the epochs; their frames count both ranks' envs
    frames = [int(f) for f in re.findall(rf"^epoch \d+/{EPOCHS}: .*frames (\d+)", out, re.M)]
    per_epoch = 2 * NUM_ENVS * case.steps_per_epoch()
    assert frames == [per_epoch * (i + 1) for i in range(EPOCHS)], out[-3000:]
    assert len(re.findall(r"^isaac_rl: trained to epoch ", out, re.M)) == 1, out[-3000:]

    # one run directory, rank 0's, with the last epoch's checkpoint
    assert [path.name for path in (tmp_path / "runs").iterdir()] == [case.experiment]
    (run,) = run_dirs(tmp_path / "runs" / case.experiment)
    assert (run / "config.yaml").is_file()
    (checkpoint,) = (run / "nn").glob(case.checkpoint_glob)
    assert case.checkpoint_epoch(checkpoint) == EPOCHS
