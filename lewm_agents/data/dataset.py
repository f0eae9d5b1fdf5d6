"""Training-time reading: clips of T frames ``frameskip`` rows apart with their action blocks, as torch tensors.

Dimension letters: N rows in the file, E episodes, L rows of one episode, T clip frames (num_steps), F frameskip,
A action dim, K clips, H = W image side, P / S proprio / state dims.

A clip starting at row ``s`` of an episode holds frames ``s, s+F, ..., s+(T-1)F`` and T action blocks; block i is the
F raw actions of rows ``s+iF .. s+iF+F-1`` (taken after frame i, leading to frame i+1), z-scored and flattened to F*A.
Every start ``0 .. L - T*F`` is a clip (stride 1), as in the official loader. The episode's final NaN action becomes
0 after normalising, as in LeWM's training code. Items are `lewm_agents.data.batch.Batch` es: on request also the
``proprio`` / ``state`` columns at the clip's frames, and a hindsight goal frame from the future of the same episode
(`HindsightGoals`).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lewm_agents.data.batch import EXTRA_FIELDS, Batch, HindsightGoals
from lewm_agents.data.format import DatasetError, DatasetReader

IN_MEMORY_LIMIT_BYTES = 2 * 1024**3
"""``in_memory=None`` loads the pixels into RAM when they take less than this."""
_STD_FLOOR = 1e-6


@dataclass(frozen=True)
class ActionStats:
    """Per-dimension z-score of the action column.

    Example:
        >>> stats = ActionStats(mean=(0.0, 1.0), std=(2.0, 1.0))
        >>> stats.normalize(np.array([[2.0, 1.0]])).tolist()
        [[1.0, 0.0]]
    """

    mean: tuple[float, ...]
    """Mean of each action dimension (A,)."""
    std: tuple[float, ...]
    """Standard deviation of each action dimension (A,), floored at 1e-6."""

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError(f"ActionStats needs equal, non-empty mean and std; got {len(self.mean)}, {len(self.std)}.")
        if min(self.std) <= 0:
            raise ValueError(f"ActionStats.std must be positive, got {self.std}.")

    def normalize(self, a: np.ndarray) -> np.ndarray:
        """(..., A) raw actions -> (..., A) z-scores (float32)."""
        return ((a - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)).astype(np.float32)

    def denormalize(self, a: np.ndarray) -> np.ndarray:
        """(..., A) z-scores -> (..., A) raw actions (float32)."""
        return (a * np.asarray(self.std, np.float32) + np.asarray(self.mean, np.float32)).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready form, saved next to checkpoints."""
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ActionStats:
        """Inverse of :meth:`to_dict`."""
        return cls(mean=tuple(float(x) for x in d["mean"]), std=tuple(float(x) for x in d["std"]))


def _episode_rows(reader: DatasetReader, episodes: Sequence[int]) -> np.ndarray:
    """(R,) row indices of the given episodes, concatenated."""
    return np.concatenate(
        [np.arange(reader.ep_offset[e], reader.ep_offset[e] + reader.ep_len[e]) for e in episodes]
        or [np.zeros(0, np.int64)]
    )


def compute_action_stats(reader: DatasetReader, episodes: Sequence[int] | None = None) -> ActionStats:
    """Mean and std of every action dimension over the non-NaN rows (each episode's last row is NaN).

    Args:
        reader: An open dataset.
        episodes: Episodes to use (e.g. the training split); None uses all.

    Returns:
        The statistics, std floored at 1e-6 so constant dimensions do not divide by zero.
    """
    action = reader.column("action").astype(np.float64)  # (N, A)
    if episodes is not None:
        action = action[_episode_rows(reader, _check_episodes(reader, episodes))]  # (R, A)
    action = action[~np.isnan(action).any(axis=1)]  # (R', A)
    if len(action) == 0:
        raise DatasetError(
            f"{reader.path}: the selected episodes have no finite action (every episode is a single row), so action "
            "statistics cannot be computed. Collect longer episodes or select other episodes."
        )
    std = np.maximum(action.std(axis=0), _STD_FLOOR)  # (A,)
    return ActionStats(mean=tuple(action.mean(axis=0).tolist()), std=tuple(std.tolist()))


def split_episodes(num_episodes: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split episode indices into train and validation sets (by episode, so no clip straddles the split).

    Args:
        num_episodes: E.
        val_fraction: Fraction of episodes for validation, in [0, 1). A positive fraction gives at least one
            validation episode when E >= 2; training always keeps at least one.
        seed: Seed of the shuffle.

    Returns:
        Sorted (E_train,) and (E_val,) int64 episode indices, disjoint and together covering range(E).
    """
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be >= 1, got {num_episodes}.")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}.")
    num_val = 0 if val_fraction == 0 else max(1, round(num_episodes * val_fraction))
    num_val = min(num_val, num_episodes - 1)
    order = np.random.default_rng(seed).permutation(num_episodes)  # (E,)
    return np.sort(order[num_val:]).astype(np.int64), np.sort(order[:num_val]).astype(np.int64)


def _check_episodes(reader: DatasetReader, episodes: Sequence[int]) -> np.ndarray:
    selected = np.asarray(episodes, np.int64).reshape(-1)  # (E',)
    if selected.size and (selected.min() < 0 or selected.max() >= reader.num_episodes):
        raise IndexError(f"episode indices must lie in [0, {reader.num_episodes}) for {reader.path}, got {episodes}.")
    return selected


class ClipDataset(torch.utils.data.Dataset):
    """Clips of ``num_steps`` frames, ``frameskip`` rows apart, with their normalised action blocks.

    Items are `Batch` es without the leading B: ``pixels`` uint8 (T, H, W, 3), ``actions`` float32 (T, F*A), and on
    request ``proprio`` / ``state`` (T, P) and a hindsight ``goal_pixels`` (H, W, 3) with its ``goal_offset``. A
    DataLoader over it needs ``collate_fn=Batch.collate``. The HDF5 file is opened lazily in each process, so
    DataLoader workers (fork or spawn) each get their own handle.

    The index is a clip number, or a pair ``(clip, draw)``: the goal of a clip is drawn from a generator seeded with
    ``(seed, clip, draw)``, so a sampler that passes the training step as ``draw`` (``StepBatches(draws=True)``) gets
    new goals every epoch and the same ones on a resumed run; a plain clip number is draw 0 (fixed goals, e.g. for
    validation).

    Args:
        path: Dataset file.
        num_steps: T, frames per clip (history + predictions).
        frameskip: F, rows between consecutive clip frames (= actions per block).
        action_stats: Normalisation of the actions (compute it on the training episodes).
        episodes: Episodes to draw clips from; None uses all.
        in_memory: Load the selected episodes' pixels into RAM. None: only when they take less than 2 GiB.
        fields: Extra per-frame columns to return, from ``("proprio", "state")``.
        goals: Draw a hindsight goal per clip (then every clip has at least ``goals.min_offset`` later frames).
        seed: Seed of the goal draws.

    Example:
        >>> ds = ClipDataset("data/pusht.h5", num_steps=4, frameskip=5, action_stats=stats)  # doctest: +SKIP
        >>> ds[0].pixels.shape, ds[0].actions.shape  # (4, 64, 64, 3) uint8, (4, 10) float32  # doctest: +SKIP
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        num_steps: int,
        frameskip: int,
        action_stats: ActionStats,
        episodes: Sequence[int] | None = None,
        in_memory: bool | None = None,
        fields: Sequence[str] = (),
        goals: HindsightGoals | None = None,
        seed: int = 0,
    ) -> None:
        if num_steps < 1 or frameskip < 1:
            raise ValueError(f"num_steps and frameskip must be >= 1, got {num_steps} and {frameskip}.")
        bad = [f for f in fields if f not in EXTRA_FIELDS]
        if bad:
            raise ValueError(f"unknown ClipDataset fields {bad}; valid: {', '.join(EXTRA_FIELDS)}.")
        self.path = pathlib.Path(path)
        self.num_steps, self.frameskip, self.action_stats = num_steps, frameskip, action_stats
        self.fields, self.goals, self.seed = tuple(fields), goals, seed
        with DatasetReader(self.path) as reader:
            if len(action_stats.mean) != reader.action_dim:
                raise ValueError(
                    f"action_stats has {len(action_stats.mean)} dims, {self.path} has action_dim={reader.action_dim}; "
                    "compute the stats on this dataset (compute_action_stats)."
                )
            selected = np.arange(reader.num_episodes) if episodes is None else _check_episodes(reader, episodes)
            self.action_dim = reader.action_dim
            self.frame_shape: tuple[int, int, int] = (reader.image_size, reader.image_size, 3)
            span = num_steps * frameskip  # rows covered by one clip's actions
            if goals is not None:  # a clip needs a frame min_offset rows after its first one
                span = max(span, goals.min_offset + 1)
            counts = np.maximum(reader.ep_len[selected].astype(np.int64) - span + 1, 0)  # (E',) clips per episode
            if counts.sum() == 0:
                raise DatasetError(
                    f"No clips in {self.path}: every selected episode is shorter than num_steps*frameskip = "
                    f"{num_steps}*{frameskip} = {span} rows (longest: {int(reader.ep_len[selected].max(initial=0))}). "
                    "Lower num_steps or frameskip, or collect longer episodes (--max-episode-steps)."
                )
            self.clip_index: np.ndarray = np.stack(
                [np.repeat(selected, counts), np.concatenate([np.arange(c) for c in counts])], axis=1
            ).astype(np.int64)  # (K, 2): (episode, start)
            self._ep_offset = reader.ep_offset.copy()  # (E,)
            self._ep_len = reader.ep_len.astype(np.int64)  # (E,)
            missing = [f for f in self.fields if f not in reader.columns]
            if missing:
                raise DatasetError(
                    f"{self.path} has no {missing} column(s), which this method trains on. Record the data from an "
                    f"env that reports them in info (all lewm/* envs report 'state' and 'proprio'), or pick a method "
                    f"that does not need them."
                )
            self._columns = {f: reader.column(f).astype(np.float32) for f in self.fields}  # (N, P) each
            action = action_stats.normalize(reader.column("action"))  # (N, A)
            self._action = np.nan_to_num(action, nan=0.0)  # (N, A): the final NaN row becomes 0 after normalising
            rows = _episode_rows(reader, selected[counts > 0])  # (R,) rows any clip can touch
            if in_memory is None:
                in_memory = len(rows) * int(np.prod(self.frame_shape)) < IN_MEMORY_LIMIT_BYTES
            # In memory: pixels of the clip-bearing episodes only, with a map from file row to position.
            self._pixels: np.ndarray | None = reader.frames(rows) if in_memory else None  # (R, H, W, 3)
            self._row_pos: np.ndarray | None = None
            if in_memory:
                self._row_pos = np.full(reader.num_frames, -1, np.int64)  # (N,)
                self._row_pos[rows] = np.arange(len(rows))
        self._reader: DatasetReader | None = None
        self._reader_pid: int | None = None

    def __len__(self) -> int:
        """Number of clips K."""
        return len(self.clip_index)

    def __getitem__(self, index: int | tuple[int, int]) -> Batch:
        """Clip ``index`` (or ``(clip, draw)``, see the class docstring) as a `Batch` without the leading B."""
        i, draw = index if isinstance(index, tuple) else (index, 0)
        if not -len(self) <= i < len(self):
            raise IndexError(f"clip {i} out of range for {len(self)} clips")
        i = int(i) % len(self)
        episode, start = self.clip_index[i]
        first = int(self._ep_offset[episode] + start)
        rows = first + np.arange(self.num_steps) * self.frameskip  # (T,)
        goal_row = None
        if self.goals is not None:
            rng = np.random.default_rng([self.seed, i, int(draw)])
            offset = self.goals.draw(int(self._ep_len[episode] - 1 - start), rng)  # env steps to the goal frame
            goal_row = first + offset
            rows = np.append(rows, goal_row)  # read with the clip's frames: one read
        frames = self._frames(rows)  # (T[+1], H, W, 3)
        span = self.num_steps * self.frameskip
        actions = self._action[first : first + span]  # (T*F, A): row-major, so each block is time-major
        actions = actions.reshape(self.num_steps, self.frameskip * self.action_dim)  # (T, F*A)
        extra = {f: torch.from_numpy(col[rows[: self.num_steps]]) for f, col in self._columns.items()}  # (T, P)
        return Batch(
            pixels=torch.from_numpy(np.ascontiguousarray(frames[: self.num_steps])),
            actions=torch.from_numpy(actions.copy()),
            goal_pixels=None if goal_row is None else torch.from_numpy(np.ascontiguousarray(frames[-1])),
            goal_offset=None if goal_row is None else torch.tensor(goal_row - first, dtype=torch.int64),
            **extra,
        )

    def _frames(self, rows: np.ndarray) -> np.ndarray:
        """Frames of file rows ``(R,)`` (increasing) -> ``(R, H, W, 3)`` uint8, from memory or the file."""
        if self._pixels is not None:
            return self._pixels[self._row_pos[rows]]  # (R, H, W, 3)
        return self._get_reader().frames(rows)  # (R, H, W, 3)

    def _get_reader(self) -> DatasetReader:
        """The reader of this process: a handle inherited through fork is never reused."""
        if self._reader is None or self._reader_pid != os.getpid():
            self._reader = DatasetReader(self.path)
            self._reader_pid = os.getpid()
        return self._reader

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_reader"], state["_reader_pid"] = None, None  # h5py handles cannot be pickled
        return state

    def close(self) -> None:
        """Close this process's file handle (it is reopened on the next lazy read)."""
        if self._reader is not None and self._reader_pid == os.getpid():
            self._reader.close()
        self._reader = None

    def __repr__(self) -> str:
        return (
            f"ClipDataset({str(self.path)!r}, clips={len(self)}, num_steps={self.num_steps}, "
            f"frameskip={self.frameskip}, in_memory={self._pixels is not None})"
        )
