"""Looking at a dataset: a contact sheet (grid of sample frames, PNG) and an MP4 of chosen episodes.

Dimension letters: S image side, R sheet rows (episodes), C sheet columns (frames per episode), L episode rows,
k integer upscale factor.
"""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Sequence

import numpy as np

from lewm_agents.data.format import DatasetError, DatasetReader

_GAP = 2  # pixels between sheet cells
_GAP_GREY = 128


def _upscale(frames: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of (..., S, S, 3) frames by an integer factor: sharp pixels, exact colours."""
    if factor == 1:
        return frames
    return np.repeat(np.repeat(frames, factor, axis=-3), factor, axis=-2)  # (..., kS, kS, 3)


def _check_episodes(reader: DatasetReader, episodes: Sequence[int]) -> list[int]:
    bad = [e for e in episodes if not -reader.num_episodes <= e < reader.num_episodes]
    if bad:
        raise DatasetError(
            f"Episode(s) {bad} do not exist: {reader.path} holds episodes 0..{reader.num_episodes - 1} "
            "(negative indices count from the end)."
        )
    return [e % reader.num_episodes for e in episodes]


def contact_sheet(
    path: str | os.PathLike, *, rows: int = 6, cols: int = 8, min_side: int = 96
) -> tuple[np.ndarray, list[int]]:
    """A grid of sample frames: one row per episode (spread over the file), frames spread over each episode.

    Args:
        path: The dataset file.
        rows: R, episodes shown (fewer when the file holds fewer).
        cols: C, frames per episode, evenly spaced from the first to the last row of the episode.
        min_side: Frames smaller than this are upscaled by an integer factor (nearest neighbour).

    Returns:
        The sheet, uint8 (R*(kS+2)-2, C*(kS+2)-2, 3), and the episode indices of its rows.

    Example:
        >>> sheet, episodes = contact_sheet("data/tworoom.h5", rows=4, cols=6)  # doctest: +SKIP
    """
    if rows < 1 or cols < 1:
        raise ValueError(f"contact_sheet needs rows >= 1 and cols >= 1, got {rows} and {cols}.")
    with DatasetReader(path) as reader:
        episodes = np.unique(np.linspace(0, reader.num_episodes - 1, min(rows, reader.num_episodes)).round())
        row_idx = []
        for e in episodes.astype(np.int64):
            steps = np.linspace(0, reader.ep_len[e] - 1, cols).round().astype(np.int64)  # (C,) repeats if L < C
            row_idx.append(reader.ep_offset[e] + steps)
        frames = reader.frames(np.concatenate(row_idx))  # (R*C, S, S, 3)
        size = reader.image_size
    factor = max(1, math.ceil(min_side / size))
    cell = size * factor + _GAP
    grid = frames.reshape(len(episodes), cols, size, size, 3)  # (R, C, S, S, 3)
    sheet = np.full((len(episodes) * cell - _GAP, cols * cell - _GAP, 3), _GAP_GREY, np.uint8)
    for r, row in enumerate(_upscale(grid, factor)):
        for c, frame in enumerate(row):
            sheet[r * cell : r * cell + size * factor, c * cell : c * cell + size * factor] = frame
    return sheet, episodes.astype(int).tolist()


def default_sheet_path(path: str | os.PathLike) -> pathlib.Path:
    """Where ``lewm info`` writes the contact sheet of ``path``: ``data/x.h5`` -> ``data/x.sheet.png``."""
    p = pathlib.Path(path)
    return p.with_name(f"{p.stem}.sheet.png")


def save_contact_sheet(
    path: str | os.PathLike, out: str | os.PathLike | None = None, *, rows: int = 6, cols: int = 8
) -> pathlib.Path:
    """Write :func:`contact_sheet` of ``path`` as a PNG to ``out`` (default: next to the file); return ``out``."""
    import imageio.v3 as iio

    sheet, _ = contact_sheet(path, rows=rows, cols=cols)
    target = pathlib.Path(out) if out is not None else default_sheet_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(target, sheet, extension=".png")
    return target


def write_video(
    path: str | os.PathLike,
    episodes: Sequence[int],
    out: str | os.PathLike,
    *,
    fps: int = 15,
    min_side: int = 256,
) -> dict[str, int]:
    """Write the chosen episodes one after another into an MP4 (H.264), small frames upscaled.

    Args:
        path: The dataset file.
        episodes: Episode indices (negative ones count from the end), in playing order.
        out: The ``.mp4`` to write.
        fps: Frames per second.
        min_side: Frames smaller than this are upscaled by an integer factor (nearest neighbour), so 64-px frames
            play at 256 px instead of being blurred by the player.

    Returns:
        ``frames`` written (the sum of the episodes' rows), ``side`` of the video frames, ``episodes``.

    Raises:
        DatasetError: An episode index does not exist, or the file is unreadable.
    """
    import imageio.v2 as imageio

    if not episodes:
        raise ValueError("write_video needs at least one episode index.")
    if fps < 1:
        raise ValueError(f"fps must be >= 1, got {fps}.")
    target = pathlib.Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with DatasetReader(path) as reader:
        chosen = _check_episodes(reader, episodes)
        factor = max(1, math.ceil(min_side / reader.image_size))
        side = reader.image_size * factor
        # yuv420p needs even sides; a multiple of 16 avoids ffmpeg's own rescaling.
        block = 16 if side % 16 == 0 else 2
        with imageio.get_writer(target, fps=fps, codec="libx264", quality=8, macro_block_size=block) as video:
            for e in chosen:
                lo = int(reader.ep_offset[e])
                frames = reader.frames(np.arange(lo, lo + int(reader.ep_len[e])))  # (L, S, S, 3)
                for frame in _upscale(frames, factor):
                    video.append_data(frame)
                written += len(frames)
    return {"frames": written, "side": side, "episodes": len(chosen)}
