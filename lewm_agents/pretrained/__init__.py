"""Pretrained checkpoints shipped inside the package: ``lewm_agents/pretrained/<name>/``.

Each holds ``model.safetensors`` and ``config.json`` (a weights-only checkpoint, loadable by `load_checkpoint`),
``card.json`` (env, data source, protocol, success with its 95% interval, the command that reproduces it) and
``CARD.md`` (the same for people). Nothing is downloaded: they are package data (pyproject's package-data).

    >>> "pusht" in available() or available() == []
    True
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

PRETRAINED_DIR = Path(__file__).resolve().parent
"""Where the shipped checkpoints live."""
MAX_BYTES = 5 * 2**20
"""A shipped checkpoint (weights + config) stays under 5 MB."""


def available() -> list[str]:
    """Names of the shipped checkpoints (sorted)."""
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / "config.json").is_file())


def pretrained_path(name: str) -> Path:
    """The directory of the shipped checkpoint ``name`` (e.g. ``"pusht"``), ready for `load_checkpoint`.

    Raises:
        ValueError: no checkpoint of that name ships with this install.
    """
    path = PRETRAINED_DIR / name.strip().lower()
    if not (path / "config.json").is_file():
        raise ValueError(
            f"no pretrained checkpoint named {name!r}; this install ships {available() or 'none'}. Train one with "
            "`make benchmark ENV=<env> SCALE=small` and load it with MPCAgent.from_checkpoint(run_dir, ...)."
        )
    return path


def card(name: str) -> dict[str, Any]:
    """The card of a shipped checkpoint: env id, data source, protocol, success and interval, reproduce command."""
    return json.loads((pretrained_path(name) / "card.json").read_text())


def export_pretrained(checkpoint: str | Path, name: str, info: dict[str, Any], root: Path = PRETRAINED_DIR) -> Path:
    """Copy a checkpoint's weights and config (no optimiser state) into ``root/name`` with its card.

    Args:
        checkpoint: A run directory or a ``checkpoints/step_*`` directory.
        name: The shipped name (lower case), e.g. ``"pusht"``.
        info: The card: at least ``env_id``, ``data``, ``protocol``, ``success_rate``, ``ci95``, ``random``
            (rate and interval of the random policy) and ``command``.

    Raises:
        ValueError: a card field is missing, or the weights and config exceed `MAX_BYTES`.
    """
    from lewm_agents.checkpoint import find_checkpoint, write_config

    need = {"env_id", "data", "protocol", "success_rate", "ci95", "random", "command"}
    if need - set(info):
        raise ValueError(f"the card of {name!r} lacks {sorted(need - set(info))}; every shipped checkpoint has them.")
    src = find_checkpoint(checkpoint)
    size = sum((src / f).stat().st_size for f in ("model.safetensors", "config.json"))
    if size > MAX_BYTES:
        raise ValueError(f"{src} is {size / 2**20:.1f} MB; shipped checkpoints stay under {MAX_BYTES / 2**20:.0f} MB.")
    out = root / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    shutil.copyfile(src / "model.safetensors", out / "model.safetensors")  # plain 0644 file, not the run's mode
    config = json.loads((src / "config.json").read_text())
    config["pretrained"] = name
    write_config(out, config)  # with a fresh hash of its content, and only the hashes of the files copied
    (out / "card.json").write_text(json.dumps(info, indent=2) + "\n")
    for f in ("goal_policy.safetensors", "goal_policy.json"):  # the amortized goal policy, when trained (same weights)
        if (src / f).is_file():
            shutil.copyfile(src / f, out / f)
    lo, hi = info["ci95"]
    rlo, rhi = info["random"]["ci95"]
    (out / "CARD.md").write_text(
        f"# {name}: LeWM for `{info['env_id']}`\n\n"
        f"- success: {100 * info['success_rate']:.0f}% [95% CI {100 * lo:.0f}, {100 * hi:.0f}] on {info['protocol']}\n"
        f"- random policy on the same tasks: {100 * info['random']['success_rate']:.0f}% "
        f"[{100 * rlo:.0f}, {100 * rhi:.0f}]\n"
        f"- data: {info['data']}\n"
        f"- reproduce: `{info['command']}`\n"
        + "".join(f"- {k}: {v}\n" for k, v in info.items() if k not in need | {"random"})
    )
    return out
