"""What a training run reports while it runs: per-step metrics in ``metrics.jsonl``, TensorBoard scalars, and a
warning when the latents collapse. Method-agnostic: it logs whatever metrics the objective returns.

``<run>/metrics.jsonl`` holds one JSON object per optimizer step (``step`` counts finished steps, from 1) with the
objective's metrics (``loss`` and its terms, e.g. LeWM's ``pred_loss`` and ``sigreg_loss``), ``grad_norm`` and
``lr``; on log steps also the objective's statistics (e.g. ``emb_std``, ``eff_rank``), and ``val_*`` entries on the
steps that validated. A resumed run first drops the entries after its checkpoint's step, then appends: the file
always reads as one uninterrupted run. Under DDP the values are the means over ranks, i.e. the global-batch values.

Dimension letters: S steps buffered between two flushes, K values in all.
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from lewm_agents.distributed import all_mean

METRICS_FILE = "metrics.jsonl"
_PER_FRAME = re.compile(r"^(.+)_t(\d+)$")  # e.g. sigreg_t2: a statistic of one clip frame


class CollapseWarning(UserWarning):
    """The latents' effective rank stayed below the collapse threshold for several logs in a row."""


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The entries of ``<run_dir>/metrics.jsonl`` in file order; a torn last line (a killed writer) is skipped."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # only the line being written when the process died can be incomplete
        if isinstance(entry, dict) and isinstance(entry.get("step", 0), int):
            out.append(entry)  # a line of other JSON (another tool's, a damaged byte) is not one of our entries
    return out


def truncate_metrics(run_dir: str | os.PathLike, step: int) -> int:
    """Keep only the entries of steps <= ``step`` (atomically: temp file + rename). Returns the entries kept."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return 0
    kept = [e for e in read_metrics(run_dir) if int(e.get("step", 0)) <= step]
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text("".join(json.dumps(e) + "\n" for e in kept))
    os.replace(tmp, path)
    return len(kept)


class Monitor:
    """Buffers per-step values on the device and writes them at flushes (one host sync per flush, not per step).

    Every rank calls ``step`` and ``flush`` (the flush averages over ranks); only the main rank writes files.

    Args:
        out: the run directory.
        start_step: the step the run starts (or resumes) from; later entries of metrics.jsonl are dropped.
        latent_dim: D, for the collapse threshold (None: only the std test applies).
        collapse_fraction: warn when the effective rank stays below this fraction of D (dimensional collapse) ...
        collapse_std: ... or the mean per-dimension std of the latents below this (SIGReg aims at 1; a point mass
            keeps a meaningless effective rank, since the rank is scale-free) ... The trainer passes the method's
            criterion (`lewm_agents.methods.Method.collapse_std` / ``collapse_rank``, e.g. 1e-5 for TD-MPC-style's
            SimNorm latents) unless ``--collapse-std`` / ``--collapse-rank`` are given.
        collapse_patience: ... for this many consecutive logs. The test needs the objective to report ``eff_rank``
            and ``emb_std``; without them it is skipped.
        collapse_hint: the method's advice, appended to the warning (e.g. "Raise --lam (the SIGReg weight)").
        write: whether this process writes files (the main rank).
        config: the run's config, logged once to TensorBoard as text when the run starts.

    Example:
        >>> m = Monitor("/tmp/run", start_step=0, latent_dim=8, write=False)
        >>> m.step(1, 0.1, {"loss": torch.tensor(1.0), "grad_norm": torch.tensor(2.0)})
        >>> m.flush()[0]["loss"]
        1.0
    """

    def __init__(
        self,
        out: str | os.PathLike,
        *,
        start_step: int,
        latent_dim: int | None,
        collapse_fraction: float = 0.02,
        collapse_std: float = 0.05,
        collapse_patience: int = 3,
        collapse_hint: str = "",
        write: bool = True,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.out, self.write = Path(out), write
        self.threshold = collapse_fraction * latent_dim if latent_dim else 0.0
        self.std_floor, self.patience, self.hint = collapse_std, collapse_patience, collapse_hint
        self._low = 0
        self._pending: list[tuple[int, float, dict[str, torch.Tensor]]] = []
        self._extra: dict[int, dict[str, float]] = {}
        self._writer = None
        self._file = None
        if write:
            from torch.utils.tensorboard import SummaryWriter

            self.out.mkdir(parents=True, exist_ok=True)
            truncate_metrics(self.out, start_step)
            self._file = open(self.out / METRICS_FILE, "a")  # held open for the whole run
            self._writer = SummaryWriter(str(self.out / "tb"), purge_step=start_step or None)
            if start_step == 0 and config is not None:
                self._writer.add_text("config", "```json\n" + json.dumps(config, indent=2) + "\n```")

    def step(self, step: int, lr: float, metrics: dict[str, torch.Tensor]) -> None:
        """Buffer the scalar metrics (tensors on the device) of finished step ``step``; every rank passes the same
        keys."""
        self._pending.append((step, lr, {k: v.detach() for k, v in metrics.items()}))

    def add(self, step: int, values: dict[str, float]) -> None:
        """Attach more values (e.g. validation) to the metrics.jsonl entry of ``step``."""
        self._extra.setdefault(step, {}).update(values)

    def flush(self) -> list[dict[str, Any]]:
        """Write the buffered steps to metrics.jsonl (rank means under DDP; a collective: every rank calls it).

        Returns:
            The entries written.

        Raises:
            FloatingPointError: a loss was not finite; nothing after the last checkpoint is trusted.
        """
        if not self._pending:
            return []
        flat = torch.stack([v.float().reshape(()) for _, _, m in self._pending for v in m.values()])  # (K,)
        vals = iter(all_mean(flat).tolist())  # one host sync (and one all-reduce) for every buffered value
        entries = []
        for step, lr, m in self._pending:
            row = {k: next(vals) for k in m}
            entry = {"step": step, **row, "lr": lr, **self._extra.pop(step, {})}
            if not all(math.isfinite(v) for v in row.values()):
                bad = ", ".join(f"{k} {v:.4g}" for k, v in row.items())
                raise FloatingPointError(
                    f"the loss became non-finite at step {step} ({bad}). Lower --lr, keep --grad-clip 1.0, or "
                    f"resume from the last checkpoint in {self.out}/checkpoints with --resume."
                )
            entries.append(entry)
        self._pending.clear()
        if self._file is not None:
            self._file.write("".join(json.dumps(e) + "\n" for e in entries))
            self._file.flush()
        return entries

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """TensorBoard scalars for step ``step`` (``train/``, ``val/`` and ``charts/`` tags) and the collapse check
        (main rank only: one warning per run, not one per process)."""
        if not self.write:
            return
        if self._writer is not None:
            for k, v in metrics.items():
                per_frame = _PER_FRAME.match(k)
                if k.startswith("val_"):
                    tag = f"val/{k[4:]}"
                elif per_frame:
                    tag = f"train/{per_frame.group(1)}_per_step/t{per_frame.group(2)}"
                elif k in ("lr", "clips_per_s", "step_ms"):
                    tag = f"charts/{k}"
                else:
                    tag = f"train/{k}"
                self._writer.add_scalar(tag, v, step)
        if "eff_rank" in metrics and "emb_std" in metrics:
            low = metrics["eff_rank"] < self.threshold or metrics["emb_std"] < self.std_floor
            self._low = self._low + 1 if low else 0
            if self._low == self.patience:  # warn once per collapse episode, not at every later log
                warnings.warn(
                    f"the latents look collapsed at step {step}: for {self.patience} logs the effective rank "
                    f"({metrics['eff_rank']:.2f} now) stayed below {self.threshold:.2f} or the embedding std "
                    f"({metrics['emb_std']:.3g} now) below {self.std_floor}. "
                    + (f"{self.hint}, lower --lr, or check" if self.hint else "Lower --lr, or check")
                    + " that the frames differ across the batch.",
                    CollapseWarning,
                    stacklevel=2,
                )

    def close(self) -> None:
        """Flush and close the files (call ``flush`` first to write buffered steps)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._file is not None:
            self._file.close()
            self._file = None
