"""Reward terms: a task's reward as a weighted sum of named functions, each term's episode sum logged.

A term is a plain torch function of the task (anything with the attributes
it reads) returning one value per env; its weight comes from the task's yaml.
A zero weight drops the term: it is never called. The reward of a step is the
terms' weighted sum in declaration order, optionally clipped from below
(IsaacGymEnvs' legged tasks clip at 0).

Each term's weighted sum over the running episode is kept on the device; right
after a step's reward, `logged_sums` holds it, including that step, so at the
step an episode ends (`reset_buf`) it is the whole episode's sum whichever
order VecTask resets in. `episode_extras()` hands these to
`extras["episode_sums"]` as `rew_<name>`; the training log averages them over
the episodes that ended (tensorboard `Episode/rew_<name>`).

Tensor work only: the step is captured in a CUDA graph and compiled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

RewardFunction = Callable[[Any], torch.Tensor]


class RewardTerms:
    def __init__(
        self,
        terms: Mapping[str, tuple[RewardFunction, float]],
        num_envs: int,
        device: torch.device | str,
        clip_min: float | None = None,
    ) -> None:
        """`terms`: name -> (function, weight); weights already include any dt scaling the task wants."""
        for name, term in terms.items():
            if not (isinstance(term, tuple) and len(term) == 2 and callable(term[0])):
                raise ValueError(f"reward term {name!r}: expected (function, weight), got {term!r}")
        self.weights = {name: float(weight) for name, (_, weight) in terms.items()}
        # zero-weight terms cost nothing: they are not called
        self.active = [(name, fn, float(weight)) for name, (fn, weight) in terms.items() if float(weight) != 0.0]
        self.clip_min = clip_min
        self.episode_sums = torch.zeros((num_envs, len(self.active)), device=device)
        self.logged_sums = torch.zeros_like(self.episode_sums)
        self._zeros = torch.zeros(num_envs, device=device)

    @property
    def names(self) -> list[str]:
        """The terms that are computed (non-zero weight), in order."""
        return [name for name, _, _ in self.active]

    def compute(self, task: Any) -> torch.Tensor:
        """This step's (num_envs,) reward; adds each weighted term to its episode sum."""
        weighted = [fn(task) * weight for _, fn, weight in self.active]
        if not weighted:
            return self._zeros.clone()
        reward = weighted[0]
        for value in weighted[1:]:
            reward = reward + value
        self.episode_sums += torch.stack(weighted, dim=1)
        self.logged_sums.copy_(self.episode_sums)
        return reward if self.clip_min is None else torch.clamp(reward, min=self.clip_min)

    def reset(self, env_mask: torch.Tensor) -> None:
        """Start new episode sums where `env_mask` (bool, (num_envs,)) is set."""
        self.episode_sums.masked_fill_(env_mask[:, None], 0.0)

    def episode_extras(self) -> dict[str, torch.Tensor]:
        """`rew_<name>` -> (num_envs,) episode sum so far, for `extras["episode_sums"]`."""
        return {f"rew_{name}": self.logged_sums[:, i] for i, name in enumerate(self.names)}
