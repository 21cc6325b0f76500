"""A fixed-size, first-in-first-out store of AMP observations on one device.

Holds the demo observations (refreshed from the motion library every epoch)
and the replay of past policies' observations, which the discriminator also
trains on so that it does not forget what older policies looked like.

Where the next row goes and how many are stored are device tensors, and every
call has shapes fixed by its arguments: storing and sampling never wait on the
GPU, and they can be recorded in the fast agent's update graph.
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
        self._head = torch.zeros((), dtype=torch.long, device=self.device)  # next row to write
        self._size = torch.zeros((), dtype=torch.long, device=self.device)

    def __len__(self) -> int:
        """Rows stored (reads the device: not for the training loop)."""
        return int(self._size)

    @property
    def is_full(self) -> bool:
        return len(self) == self.capacity

    def store(self, obs: torch.Tensor) -> None:
        """Append rows of `obs`, overwriting the oldest once full (only the newest `capacity` rows of a big batch are kept)."""
        obs = obs.reshape(-1, self._data.shape[1])[-self.capacity :]
        self._write(obs, torch.full((), obs.shape[0], dtype=torch.long, device=self.device))

    def store_fraction(self, obs: torch.Tensor, keep_prob: float) -> None:
        """Store a random `keep_prob` share of the rows of `obs` (all of them while the buffer is still filling).

        Filling with everything first gives the discriminator a varied replay
        from the first epochs; afterwards a small share per epoch keeps a slowly
        changing mix of many past policies. The share is a fixed count of
        shuffled rows.
        """
        obs = obs.reshape(-1, self._data.shape[1])[-self.capacity :]
        n = obs.shape[0]
        count = torch.where(self._size >= self.capacity, int(round(keep_prob * n)), n)
        self._write(obs[torch.argsort(torch.rand(n, device=self.device))], count)

    def _write(self, rows: torch.Tensor, count: torch.Tensor) -> None:
        """The first `count` (a device scalar) of `rows` go in; all rows are written, the others with what they cover."""
        n = rows.shape[0]
        slots = (self._head + torch.arange(n, device=self.device)) % self.capacity
        keep = (torch.arange(n, device=self.device) < count).unsqueeze(1)
        self._data.index_copy_(0, slots, torch.where(keep, rows, self._data[slots]))
        self._head.copy_((self._head + count) % self.capacity)
        self._size.copy_(torch.clamp(self._size + count, max=self.capacity))

    def sample(self, n: int, when_empty: torch.Tensor | None = None) -> torch.Tensor:
        """`n` rows drawn uniformly with replacement from what is stored; `when_empty` ((n, dim)) while nothing is
        (zeros if not given)."""
        index = (torch.rand(n, device=self.device) * self._size).long().clamp_max(self.capacity - 1)
        rows = self._data[index]
        if when_empty is None:
            return rows
        return torch.where(self._size > 0, rows, when_empty)

    def contents(self) -> torch.Tensor:
        """The stored rows, oldest first (a copy; reads the device)."""
        size, head = len(self), int(self._head)
        if size < self.capacity:
            return self._data[:size].clone()
        return torch.cat((self._data[head:], self._data[:head]))
