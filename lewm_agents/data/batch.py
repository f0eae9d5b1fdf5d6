"""What a training batch holds, and how a method asks for it: `Batch`, `ClipSpec` and `HindsightGoals`.

Dimension letters: B batch (clips), T clip frames, h / w frame side, F = frameskip * A action block width, P proprio
dims, S state dims.

A method declares its data needs with a `ClipSpec` (frames per clip, extra per-frame columns, hindsight goals);
`ClipDataset` returns one `Batch` per clip (fields without the leading B) and `Batch.collate` stacks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import torch

EXTRA_FIELDS = ("proprio", "state")
"""Per-frame dataset columns a method may ask for (`ClipSpec.fields`)."""


class Batch(NamedTuple):
    """A batch of clips, the one argument of every `lewm_agents.protocols.Objective`.

    Optional fields are None unless the method's `ClipSpec` asks for them. One dataset item is a Batch without the
    leading B; `collate` stacks items (pass ``collate_fn=Batch.collate`` to a DataLoader over `ClipDataset`: torch's
    default collate cannot stack the None fields).

    Example:
        >>> item = Batch(torch.zeros(2, 8, 8, 3, dtype=torch.uint8), torch.zeros(2, 4))
        >>> batch = Batch.collate([item, item])
        >>> tuple(batch.pixels.shape), batch.goal_pixels is None, batch.size
        ((2, 2, 8, 8, 3), True, 2)
    """

    pixels: torch.Tensor
    """Frames ``(B, T, h, w, 3)`` uint8, ``frameskip`` env steps apart."""
    actions: torch.Tensor
    """Action blocks ``(B, T, F)`` float32, z-scored; block t leads from frame t to frame t + 1."""
    proprio: torch.Tensor | None = None
    """The ``proprio`` column at the clip's frames ``(B, T, P)`` float32 (when asked for)."""
    state: torch.Tensor | None = None
    """The ``state`` column at the clip's frames ``(B, T, S)`` float32 (when asked for)."""
    goal_pixels: torch.Tensor | None = None
    """A hindsight goal frame ``(B, h, w, 3)`` uint8 from the future of the same episode (when asked for)."""
    goal_offset: torch.Tensor | None = None
    """``(B,)`` int64: env steps from the clip's first frame to the goal frame (>= 1)."""

    @property
    def size(self) -> int:
        """B, the number of clips."""
        return len(self.pixels)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """The batch with every tensor moved to ``device``."""
        return Batch(*(None if t is None else t.to(device, non_blocking=non_blocking) for t in self))

    @staticmethod
    def collate(items: Sequence[Batch]) -> Batch:
        """Stack dataset items (Batches without the leading B) into one Batch; None fields stay None."""
        return Batch(*(None if field[0] is None else torch.stack(list(field)) for field in zip(*items)))


@dataclass(frozen=True)
class HindsightGoals:
    """How goals are drawn for goal-conditioned training: a frame from the future of the clip's own episode.

    The offset k (env steps from the clip's first frame) is drawn from ``min_offset .. K``, with K the episode's
    last frame (or ``min_offset + max_offset - 1`` frames ahead when capped), either uniformly (the default, OGBench's
    choice for GCBC: every reachable future state is an equally good goal for imitation, and the evaluation's goal
    distance, 25 steps, lies well inside the range), or geometrically (P(k) proportional to ``discount ** (k -
    min_offset)``, truncated at K; the choice of value-based GCRL, whose returns are discounted the same way).
    Draws are a pure function of (seed, clip, draw), so training resumes exactly.
    """

    distribution: Literal["uniform", "geometric"] = "uniform"
    """'uniform' over the reachable future of the episode, or 'geometric' (near goals more often)."""
    min_offset: int = 1
    """Smallest offset in env steps (1: the next frame)."""
    max_offset: int | None = None
    """Cap on the offset in env steps (None: up to the episode's last frame)."""
    discount: float = 0.99
    """geometric: the ratio of successive offsets' probabilities (mean offset about 1 / (1 - discount))."""

    def __post_init__(self) -> None:
        if self.distribution not in ("uniform", "geometric"):
            raise ValueError(
                f"HindsightGoals.distribution must be 'uniform' or 'geometric', got {self.distribution!r}."
            )
        if self.min_offset < 1 or (self.max_offset is not None and self.max_offset < self.min_offset):
            raise ValueError(
                f"HindsightGoals needs 1 <= min_offset <= max_offset (goals lie in the future), got "
                f"min_offset={self.min_offset}, max_offset={self.max_offset}."
            )
        if not 0.0 < self.discount < 1.0:  # nan fails this too
            raise ValueError(
                f"HindsightGoals.discount (--model.goals.discount) must be a finite number in (0, 1), got "
                f"{self.discount}."
            )

    def draw(self, remaining: int, rng: np.random.Generator) -> int:
        """One offset in ``min_offset .. min(remaining, max_offset)``; ``remaining`` (>= min_offset) is the number of
        env steps from the clip's first frame to the episode's last frame."""
        hi = remaining if self.max_offset is None else min(remaining, self.max_offset)
        n = hi - self.min_offset + 1  # reachable offsets
        if self.distribution == "uniform":
            return self.min_offset + int(rng.integers(n))
        # truncated geometric by inversion: P(j) ~ d^j for j in 0 .. n-1
        u = rng.random() * (1.0 - self.discount**n)
        return self.min_offset + min(n - 1, int(np.log1p(-u) / np.log(self.discount)))


@dataclass(frozen=True)
class ClipSpec:
    """What a method's training clips hold (see `lewm_agents.methods.Method.clips`)."""

    frames: int
    """T, frames per clip (each with its action block)."""
    fields: tuple[str, ...] = ()
    """Extra per-frame columns, from `EXTRA_FIELDS`."""
    goals: HindsightGoals | None = None
    """Hindsight goals (``goal_pixels``, ``goal_offset``), or None."""

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ValueError(f"ClipSpec.frames must be >= 1, got {self.frames}.")
        bad = [f for f in self.fields if f not in EXTRA_FIELDS]
        if bad:
            raise ValueError(f"unknown clip fields {bad}; valid: {', '.join(EXTRA_FIELDS)}.")
