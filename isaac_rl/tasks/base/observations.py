"""Observation groups: named terms with scale, clip and noise, declared once.

A term is a plain torch function of the task returning (num_envs, size)
values. Each term's value is clipped (if `clip`), then multiplied by `scale`
(a number or one per column). The group is the terms concatenated in
declaration order; with a noise level, uniform noise of half-width
`noise x scale x level` (noise in the term's own units) is added to the
whole vector in one draw, as IsaacGymEnvs' legged tasks do. The observation
size (`numObservations`, or `numStates` for an asymmetric critic), the noise
vector and the layout (`layout`, `describe()`) all follow from the one
declaration, so adding a term touches one line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

ObservationFunction = Callable[[Any], torch.Tensor]


@dataclass(frozen=True)
class ObsTerm:
    fn: ObservationFunction
    size: int
    scale: float | Sequence[float] = 1.0
    clip: float | None = None
    noise: float = 0.0
    """Half-width of the uniform noise, in the term's units (before `scale`)."""

    def scales(self) -> list[float]:
        scale = [float(self.scale)] * self.size if isinstance(self.scale, (int, float)) else [float(s) for s in self.scale]
        if len(scale) != self.size:
            raise ValueError(f"an observation term of size {self.size} got {len(scale)} scales {list(self.scale)}")
        return scale


class ObservationGroup:
    def __init__(self, terms: Mapping[str, ObsTerm], noise_level: float | None = None) -> None:
        """`noise_level` None: no noise at all (the draw is skipped)."""
        for name, term in terms.items():
            if not isinstance(term, ObsTerm) or term.size < 1:
                raise ValueError(f"observation term {name!r}: expected an ObsTerm of size >= 1, got {term!r}")
            term.scales()  # checked here, not at the first step
        self.terms = dict(terms)
        self.noise_level = noise_level
        self.layout: dict[str, slice] = {}
        start = 0
        for name, term in self.terms.items():
            self.layout[name] = slice(start, start + term.size)
            start += term.size
        self.size = start
        self._scales: dict[str, float | torch.Tensor] = {}
        self._noise: torch.Tensor | None = None

    def noise_vector(self) -> torch.Tensor:
        """(size,) half-widths of the uniform noise (zeros without a noise level)."""
        level = 0.0 if self.noise_level is None else float(self.noise_level)
        return torch.tensor([t.noise * s * level for t in self.terms.values() for s in t.scales()], dtype=torch.float32)

    def to(self, device: torch.device | str) -> ObservationGroup:
        """Build the scale and noise tensors on `device` once, before the first `compute`."""
        for name, term in self.terms.items():
            scales = term.scales()
            same = all(s == scales[0] for s in scales)
            self._scales[name] = scales[0] if same else torch.tensor(scales, dtype=torch.float32, device=device)
        self._noise = self.noise_vector().to(device) if self.noise_level is not None else None
        return self

    def compute(self, task: Any) -> torch.Tensor:
        """(num_envs, size): every term, clipped, scaled, concatenated; noise added."""
        parts = []
        for name, term in self.terms.items():
            value = term.fn(task)
            if term.clip is not None:
                value = torch.clamp(value, -term.clip, term.clip)
            scale = self._scales[name]
            parts.append(value if isinstance(scale, float) and scale == 1.0 else value * scale)
        obs = torch.cat(parts, dim=-1)
        if self._noise is not None:
            obs = obs + (2.0 * torch.rand_like(obs) - 1.0) * self._noise
        return obs

    def term_info(self) -> list[dict[str, Any]]:
        """The terms in order as plain values: name, size, clip (applied first), scale, noise; what a deployed policy reads."""
        return [
            {"name": name, "size": t.size, "scale": t.scale if isinstance(t.scale, (int, float)) else list(t.scale), "clip": t.clip, "noise": t.noise}
            for name, t in self.terms.items()
        ]

    def describe(self) -> str:
        """The layout, one line per term: columns, name, scale, clip, noise."""
        lines = []
        for name, term in self.terms.items():
            span = self.layout[name]
            notes = [f"x {term.scale}" if term.scale != 1.0 else "", f"clip +-{term.clip}" if term.clip else ""]
            notes.append(f"noise {term.noise}" if term.noise else "")
            lines.append(f"{span.start:4d}:{span.stop:<4d} {name} " + ", ".join(note for note in notes if note))
        return "\n".join(lines)
