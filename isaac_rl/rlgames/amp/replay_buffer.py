"""A fixed-size, first-in-first-out store of AMP observations on one device.

Holds the demo observations (refreshed from the motion library every epoch)
and the replay of past policies' observations, which the discriminator also
trains on so that it does not forget what older policies looked like.
"""

from __future__ import annotations

import torch


class AMPReplayBuffer:
    def __init__(self, capacity: int, obs_dim: int, device: torch.device | str) -> None:
        if capacity <= 0:
            raise ValueError(f"AMP buffer capacity must be a positive integer, got {capacity}")
        self.capacity = int(capacity)
        self.device = torch.device(device)
        self._data = torch.zeros((self.capacity, obs_dim), dtype=torch.float32, device=self.device)
        self._head = 0  # next row to write
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def is_full(self) -> bool:
        return self._size == self.capacity

    def store(self, obs: torch.Tensor) -> None:
        """Append rows of `obs`, overwriting the oldest once full (only the newest `capacity` rows of a big batch are kept)."""
        obs = obs.reshape(-1, self._data.shape[1])[-self.capacity :]
        n = obs.shape[0]
        first = min(n, self.capacity - self._head)
        self._data[self._head : self._head + first] = obs[:first]
        self._data[: n - first] = obs[first:]
        self._head = (self._head + n) % self.capacity
        self._size = min(self._size + n, self.capacity)

    def store_fraction(self, obs: torch.Tensor, keep_prob: float) -> None:
        """Store a random `keep_prob` share of the rows of `obs` (all of them while the buffer is still filling).

        Filling with everything first gives the discriminator a varied replay
        from the first epochs; afterwards a small share per epoch keeps a slowly
        changing mix of many past policies. The share is a fixed count drawn by
        permutation, so no data-dependent shapes (and host syncs) arise.
        """
        obs = obs.reshape(-1, self._data.shape[1])
        if not self.is_full:
            self.store(obs)
            return
        count = int(round(keep_prob * obs.shape[0]))
        if count > 0:
            self.store(obs[torch.randperm(obs.shape[0], device=obs.device)[:count]])

    def sample(self, n: int) -> torch.Tensor:
        """`n` rows drawn uniformly with replacement from what is stored."""
        if self._size == 0:
            raise RuntimeError("cannot sample from an empty AMP buffer")
        return self._data[torch.randint(0, self._size, (n,), device=self.device)]

    def contents(self) -> torch.Tensor:
        """The stored rows, oldest first (a copy)."""
        if not self.is_full:
            return self._data[: self._size].clone()
        return torch.cat((self._data[self._head :], self._data[: self._head]))
