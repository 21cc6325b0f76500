"""Which process of a `torchrun` multi-GPU run this is, and which device it drives.

rl_games' own multi-GPU path (`multi_gpu: True`) opens the NCCL process group,
averages gradients and lets global rank 0 write checkpoints and summaries.
The environment is ours to place: each rank simulates its own envs on
`cuda:LOCAL_RANK`. Without CUDA the ranks run on the CPU and isaac_rl's agents
join a gloo group instead (isaac_rl/rlgames/fast_ppo.py): slow, but the same
launch, rendezvous and gradient averaging, for CPU clusters and tests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

TORCHRUN_HINT = "torchrun --nproc_per_node=<GPUs> scripts/train.py multi_gpu=True task=<Task>"


@dataclass(frozen=True)
class Rank:
    global_rank: int
    local_rank: int
    world_size: int

    @property
    def device(self) -> str:
        return f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu"

    @property
    def is_main(self) -> bool:
        return self.global_rank == 0


SINGLE = Rank(global_rank=0, local_rank=0, world_size=1)


def current_rank(multi_gpu: bool) -> Rank:
    """This process's rank from torchrun's environment; the single process when `multi_gpu` is off."""
    if not multi_gpu:
        return SINGLE
    missing = [name for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise ValueError(f"multi_gpu=True runs one process per GPU under torchrun (missing {', '.join(missing)}): {TORCHRUN_HINT}")
    rank = Rank(int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"]), int(os.environ["WORLD_SIZE"]))
    if torch.cuda.is_available() and rank.local_rank >= torch.cuda.device_count():
        raise ValueError(
            f"LOCAL_RANK={rank.local_rank} but this node has {torch.cuda.device_count()} GPU(s): "
            f"give --nproc_per_node at most the GPU count"
        )
    return rank


def bind(rank: Rank) -> None:
    """Make `rank.device` the current CUDA device, so that nothing of this rank lands on cuda:0 by default."""
    if torch.cuda.is_available():
        torch.cuda.set_device(rank.local_rank)


def shutdown() -> None:
    """Close the process group rl_games opened, so that a rank exits cleanly (PyTorch warns of a leak otherwise)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
