"""What every optimizer step sees, as pure functions of the step: the learning rate and the clips of its batch.

A resumed run (or one with another number of processes) therefore sees exactly the batches and learning rates the
uninterrupted run would have seen.

Dimension letters: B global batch (clips per step), K clips in the dataset.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from lewm_agents.distributed import DistEnv


def lr_at(step: int, total_steps: int, peak: float, warmup: float) -> float:
    """Linear warm-up over `warmup * total_steps` steps, then cosine decay to 0 at `total_steps` (per step).

    Example:
        >>> [round(lr_at(s, 100, 1.0, 0.1), 3) for s in (0, 9, 55, 99)]
        [0.1, 1.0, 0.5, 0.0]
    """
    warm = max(1, round(warmup * total_steps)) if warmup > 0 else 0
    if step < warm:
        return peak * (step + 1) / warm
    progress = (step - warm) / max(1, total_steps - warm)
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class StepBatches(torch.utils.data.Sampler):
    """Clip indices of every step from `start` to `total`: epoch e is a permutation drawn from (seed, e) cut into full
    batches. A pure function of the step, so a resumed run sees exactly the batches it would have seen. Under DDP,
    rank r of `world` takes the r-th slice of every global batch. With ``draws``, each index comes as ``(clip,
    step)``, the seed of whatever the dataset draws per item (hindsight goals: `ClipDataset`).

    Example:
        >>> batches = list(StepBatches(10, 4, seed=0, start=0, total=3))
        >>> [len(b) for b in batches], len(set(batches[0] + batches[1]))
        ([4, 4, 4], 8)
    """

    def __init__(
        self,
        num_clips: int,
        batch_size: int,
        seed: int,
        start: int,
        total: int,
        rank: int = 0,
        world: int = 1,
        draws: bool = False,
    ) -> None:
        if batch_size % world:
            raise ValueError(f"batch_size {batch_size} must be divisible by the {world} processes.")
        self.n, self.bs, self.seed, self.start, self.total = num_clips, batch_size, seed, start, total
        self.rank, self.world, self.draws = rank, world, draws
        self.per_epoch = num_clips // batch_size
        if self.per_epoch == 0 and total > start:
            raise ValueError(f"{num_clips} clips make no full batch of {batch_size}.")

    def __len__(self) -> int:
        return max(0, self.total - self.start)

    def __iter__(self) -> Iterator[list[int] | list[tuple[int, int]]]:
        epoch, perm = -1, torch.empty(0, dtype=torch.long)
        local = self.bs // self.world
        for step in range(self.start, self.total):
            if step // self.per_epoch != epoch:
                epoch = step // self.per_epoch
                perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 7919 + epoch))
            b = step % self.per_epoch
            idx = perm[b * self.bs : (b + 1) * self.bs]  # (B,) global batch
            share = idx[self.rank * local : (self.rank + 1) * local].tolist()  # this rank's share
            yield [(i, step) for i in share] if self.draws else share


def rank_batches(
    num_clips: int, batch_size: int, batches: int, env: DistEnv | None = None, seed: int = 0
) -> list[list[int]]:
    """This rank's share of the first `batches` global batches of a fixed, seeded permutation: validation order.

    Shuffled because consecutive clips come from one episode: a batch of them is one short trajectory, whose
    embeddings are far from N(0, I) however good the encoder is, so SIGReg on it would be meaningless. Seeded, so
    every validation pass (and every rank) sees the same clips.

    Example:
        >>> full = rank_batches(10, 4, 2, seed=1)
        >>> halves = [rank_batches(10, 4, 2, DistEnv(rank=r, world=2), seed=1) for r in (0, 1)]
        >>> [h0 + h1 for h0, h1 in zip(*halves)] == full, len(set(sum(full, [])))
        (True, 8)
    """
    env = env or DistEnv()
    local = batch_size // env.world
    perm = torch.randperm(num_clips, generator=torch.Generator().manual_seed(seed)).tolist()
    out = []
    for b in range(min(batches, num_clips // batch_size)):
        glob = perm[b * batch_size : (b + 1) * batch_size]  # (B,) global batch
        out.append(glob[env.rank * local : (env.rank + 1) * local])
    return out
