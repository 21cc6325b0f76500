"""Several machines: two torchrun launchers ("nodes") meet at one c10d rendezvous and train one policy (CPU, gloo; on a
host with two GPUs, one GPU per "node", NCCL)."""

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


def train_on_two_nodes(tmp_path, task: str, num_envs: int, epochs: int, gpus: bool) -> None:
    """Two torchrun launchers, one process each, meet at a c10d rendezvous on this host and train `task`; checks the
    epochs rank 0 prints and its last checkpoint."""
    port = free_port()
    launcher = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1",
        "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{port}", "--rdzv_id=isaac-rl-test",
        str(REPO_ROOT / "scripts" / "train.py"), "multi_gpu=True", f"task={task}", f"num_envs={num_envs}",
        f"max_iterations={epochs}", "headless=True",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "NCCL_NVLS_ENABLE": "0"}
    # the same command on each "node"; they share the run directory (as nodes would share storage); on one host each
    # "node" sees its own GPU, as a node of one GPU would
    devices = [{"CUDA_VISIBLE_DEVICES": str(node)} if gpus else {} for node in range(2)]
    nodes = [
        subprocess.Popen(launcher, cwd=tmp_path, env={**env, **device}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for device in devices
    ]  # fmt: skip
    outputs = [node.communicate(timeout=900) for node in nodes]
    for node, (stdout, stderr) in zip(nodes, outputs):
        assert node.returncode == 0, stdout[-3000:] + stderr[-3000:]
    printed = "".join(stdout for stdout, _ in outputs)
    # rank 0 alone prints epochs; its frames count both ranks' envs: 2 x num_envs x horizon per epoch
    frames = [int(f) for f in re.findall(rf"^epoch \d+/{epochs}: .*frames (\d+)", printed, re.MULTILINE)]
    assert len(frames) == epochs, printed[-3000:]
    horizon = frames[0] // (2 * num_envs)
    assert frames == [2 * num_envs * horizon * (i + 1) for i in range(epochs)]
    run = newest_run_dir(tmp_path / "runs" / task)
    (checkpoint,) = (run / "nn").glob(f"last_{task}_ep_{epochs}_*.pth")
    assert load_checkpoint(checkpoint)["epoch"] == epochs


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU (gloo) path; GPUs take NCCL")
def test_two_nodes_train_one_policy_over_a_c10d_rendezvous(tmp_path):
    train_on_two_nodes(tmp_path, "Cartpole", num_envs=32, epochs=3, gpus=False)


two_gpus = pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.device_count() < 2, reason="needs 2 GPUs")


@pytest.mark.gpu
@two_gpus
def test_two_single_gpu_nodes_train_ant_over_a_c10d_rendezvous(tmp_path):
    train_on_two_nodes(tmp_path, "Ant", num_envs=1024, epochs=6, gpus=True)
