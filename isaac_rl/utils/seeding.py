"""Seeding every random number generator a run touches."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def set_seed(seed: int, torch_deterministic: bool = False, rank: int = 0) -> int:
    """Seed python, numpy and torch; `seed=-1` draws one. Returns the seed used.

    `rank` offsets the seed so that each process of a multi-GPU run explores differently.
    """
    if seed == -1:
        seed = 42 if torch_deterministic else np.random.randint(0, 10000)
    seed += rank
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    torch.cuda.manual_seed_all(seed)
    if torch_deterministic:
        # cuBLAS needs this to be deterministic (CUDA >= 10.2).
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True)
    return seed
