"""Several machines: two torchrun launchers ("nodes") meet at one c10d rendezvous and train one policy (CPU, gloo)."""

import os
import re
import socket
import subprocess
import sys

import pytest
import torch
from conftest import REPO_ROOT

from isaac_rl.rlgames.checkpoint import load_checkpoint
from isaac_rl.utils.run_dirs import newest_run_dir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU (gloo) path; GPUs take NCCL")
def test_two_nodes_train_one_policy_over_a_c10d_rendezvous(tmp_path):
    port = free_port()
    launcher = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1",
        "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{port}", "--rdzv_id=isaac-rl-test",
        str(REPO_ROOT / "scripts" / "train.py"), "multi_gpu=True", "task=Cartpole", "num_envs=32", "max_iterations=3",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    # the same command on each "node"; they share the run directory (as nodes would share storage)
    nodes = [subprocess.Popen(launcher, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [node.communicate(timeout=600) for node in nodes]
    for node, (stdout, stderr) in zip(nodes, outputs):
        assert node.returncode == 0, stdout[-3000:] + stderr[-3000:]
    printed = "".join(stdout for stdout, _ in outputs)
    # rank 0 alone prints epochs; its frames count both ranks' envs: 2 x 32 envs x horizon per epoch
    frames = [int(f) for f in re.findall(r"^epoch \d+/3: .*frames (\d+)", printed, re.MULTILINE)]
    assert len(frames) == 3, printed[-3000:]
    horizon = frames[0] // 64
    assert frames == [64 * horizon * (i + 1) for i in range(3)]
    run = newest_run_dir(tmp_path / "runs" / "Cartpole")
    (checkpoint,) = (run / "nn").glob("last_Cartpole_ep_3_*.pth")
    assert load_checkpoint(checkpoint)["epoch"] == 3
