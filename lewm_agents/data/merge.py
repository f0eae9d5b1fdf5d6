"""Merging datasets: concatenate the episodes of several files of one env into a new file, re-indexed from 0.

The output is written episode by episode through :class:`EpisodeWriter`, so it is crash-safe like collection: a
kill leaves every copied episode readable, and running the same merge again resumes where it stopped (the output
records its inputs and their episode counts in its ``collection`` attribute, so a different merge is refused).
"""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Sequence
from typing import Any

from tqdm.auto import tqdm

from lewm_agents.data.format import DatasetError, DatasetReader, EpisodeWriter
from lewm_agents.data.sources import kwargs_conflicts


def _describe(reader: DatasetReader) -> dict[str, Any]:
    return {
        "env_id": reader.env_id,
        "image_size": reader.image_size,
        "action_dim": reader.action_dim,
        "columns": sorted(reader.columns),
    }


def _check_compatible(readers: list[DatasetReader]) -> None:
    """Every input must hold the same env (and env settings), image size, action space and columns."""
    first = readers[0]
    ref = _describe(first)
    for reader in readers[1:]:
        theirs = _describe(reader)
        diff = {k: (ref[k], theirs[k]) for k in ref if ref[k] != theirs[k]}
        if first.action_space and reader.action_space and first.action_space != reader.action_space:
            diff["action_space"] = (first.action_space, reader.action_space)
        diff.update(kwargs_conflicts(first.env_kwargs, reader.env_kwargs))
        if diff:
            detail = "; ".join(f"{k}: {a!r} in {first.path}, {b!r} in {reader.path}" for k, (a, b) in diff.items())
            raise DatasetError(
                f"Cannot merge {reader.path} into a dataset with {first.path}: they differ ({detail}). Merged datasets "
                "must come from the same env with the same settings, image size and action space; merge only "
                "compatible files."
            )


def merge_datasets(
    out: str | os.PathLike, inputs: Sequence[str | os.PathLike], *, progress: bool = False
) -> dict[str, float]:
    """Copy every episode of ``inputs`` (in order) into the new dataset ``out``.

    Args:
        out: The output file. It must not exist, unless it is an unfinished merge of the same inputs (then the merge
            resumes after its last committed episode).
        inputs: Dataset files of the same env, image size, action space and columns.
        progress: Show a progress bar.

    Returns:
        ``episodes`` and ``frames`` copied by this call, ``total_episodes`` in ``out``, ``inputs``, ``seconds``.

    Raises:
        DatasetError: An input is unreadable or incompatible with the others, or ``out`` exists and is not an
            unfinished merge of these inputs.
        ValueError: No input, or ``out`` is one of the inputs.
    """
    out_path = pathlib.Path(out)
    paths = [pathlib.Path(p) for p in inputs]
    if not paths:
        raise ValueError("merge needs at least one input dataset: lewm merge OUT IN1 IN2 ...")
    if any(out_path.resolve() == p.resolve() for p in paths):
        raise ValueError(f"The output {out_path} is also an input; write the merge to a new file.")
    start = time.perf_counter()
    readers: list[DatasetReader] = []
    try:
        for p in paths:
            readers.append(DatasetReader(p))
        _check_compatible(readers)
        first = readers[0]
        sources = [{"path": str(r.path.resolve()), "episodes": int(r.num_episodes)} for r in readers]
        policies = list(dict.fromkeys(r.policy for r in readers))
        existed = out_path.exists()
        with EpisodeWriter(
            out_path,
            env_id=first.env_id,
            image_size=first.image_size,
            action_dim=first.action_dim,
            policy="+".join(policies),
            env_kwargs=first.env_kwargs,
            action_space=first.action_space,
            collection={"merged_from": sources},
        ) as writer:
            if existed and writer.file_collection.get("merged_from") != sources:
                raise DatasetError(
                    f"{out_path} already exists and is not an unfinished merge of these inputs. Choose a new output "
                    "path (merge never overwrites or appends to an existing dataset)."
                )
            done, frames_before = writer.num_episodes, writer.num_frames
            total = sum(r.num_episodes for r in readers)
            with tqdm(total=total, initial=done, disable=not progress, unit="ep", desc="merge") as bar:
                k = 0
                for reader in readers:
                    for e in range(reader.num_episodes):
                        if k >= done:  # episodes before `done` were copied by an earlier, interrupted run
                            writer.write_episode(reader.episode(e))
                            bar.update(1)
                        k += 1
            return {
                "episodes": float(writer.num_episodes - done),
                "frames": float(writer.num_frames - frames_before),
                "total_episodes": float(writer.num_episodes),
                "inputs": float(len(readers)),
                "seconds": time.perf_counter() - start,
            }
    finally:
        for r in readers:
            r.close()
