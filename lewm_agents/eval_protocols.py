"""The evaluation protocols of ``lewm eval --protocol``: where the start and goal of each episode come from, which
success rule decides it, and the protocol card that says how a number was produced.

(Not to be confused with lewm_agents/protocols.py, the typing seams between methods and the planner.)

* ``dataset-goal`` (the paper's, reference/lewm.md §5.3): start/goal pairs drawn from the dataset, the goal the frame
  ``goal_offset`` steps after the start in the same episode, the env's own success rule. Any env with the goal
  interface.
* ``fixed-target`` (PushT only; gym-pusht's and Diffusion Policy's): every episode starts from gym-pusht's random
  start (``reset(seed=k, options={"start": "gym-pusht", "goal_state": FIXED_TARGET_STATE})``) and must push the block
  onto the one fixed T at (256, 256, pi/4); success is coverage > 95% (``success="coverage"``), 300 steps.
* ``ogbench-tasks`` (Cube only): OGBench's 5 evaluation tasks of ``cube-single``, episode i runs task ``i % 5 + 1``
  (``reset(seed=k, options={"task": k})``), 200 steps (OGBench's limit).

Outside ``dataset-goal`` the goal image is the env's own rendering of the goal state (``info["goal"]`` at reset), so
the agent sees the same kind of goal frame as under the paper's protocol.

Dimension letters: N episodes, S state size; frames are uint8 ``(h, w, 3)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

ProtocolName = Literal["dataset-goal", "fixed-target", "ogbench-tasks"]


@dataclass(frozen=True)
class EvalProtocol:
    """One protocol: the envs it applies to, its default budget and what it means."""

    name: str
    envs: tuple[str, ...] | None
    """Env ids without their version (``lewm/PushT``) it applies to; None: any env with the goal interface."""
    budget: int
    """Env steps per episode when ``--budget`` is not given."""
    description: str
    """One line for the protocol card."""
    env_kwargs: tuple[tuple[str, Any], ...] = ()
    """Env options the protocol sets on top of the dataset's (its success rule)."""


PROTOCOLS: dict[str, EvalProtocol] = {
    p.name: p
    for p in (
        EvalProtocol(
            "dataset-goal",
            None,
            50,
            "start and goal drawn from the dataset; the goal is the frame goal_offset steps after the start in the "
            "same episode (the paper's protocol)",
        ),
        EvalProtocol(
            "fixed-target",
            ("lewm/PushT",),
            300,  # gym-pusht's episode limit (lewm_envs.pusht.MAX_EPISODE_STEPS_GYM_PUSHT)
            "gym-pusht's random start, one fixed target: the T at (256, 256, pi/4); success is coverage > 95% "
            "(gym-pusht, Diffusion Policy)",
            (("success", "coverage"),),
        ),
        EvalProtocol(
            "ogbench-tasks",
            ("lewm/Cube",),
            200,  # OGBench's max_episode_steps of cube-single
            "OGBench cube-single's 5 evaluation tasks, episode i runs task i % 5 + 1, OGBench's start and goal",
        ),
    )
}


def _base(env_id: str) -> str:
    """``lewm/PushT-v1`` -> ``lewm/PushT``."""
    head, sep, version = env_id.rpartition("-v")
    return head if sep and version.isdigit() else env_id


def valid_protocols(env_id: str) -> list[str]:
    """The protocols that apply to ``env_id``."""
    return [n for n, p in PROTOCOLS.items() if p.envs is None or _base(env_id) in p.envs]


def check_protocol(name: str, env_id: str) -> EvalProtocol:
    """The protocol ``name``, after checking it applies to ``env_id``.

    Raises:
        ValueError: an unknown protocol, or one that does not apply to the env; the message lists the valid ones.
    """
    valid = valid_protocols(env_id)
    if name not in PROTOCOLS:
        raise ValueError(f"unknown --protocol {name!r}; valid for {env_id}: {', '.join(valid)}.")
    if name not in valid:
        only = ", ".join(PROTOCOLS[name].envs or ())
        raise ValueError(
            f"--protocol {name} applies only to {only}, but the data is from {env_id}. Valid protocols for {env_id}: "
            f"{', '.join(valid)}."
        )
    return PROTOCOLS[name]


def protocol_env_kwargs(name: str, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The dataset's env kwargs plus the protocol's own options (e.g. fixed-target's ``success="coverage"``)."""
    return {**env_kwargs, **dict(PROTOCOLS[name].env_kwargs)}


def reset_options(name: str, episodes: int) -> list[dict[str, Any]]:
    """The ``reset`` options of each of ``episodes`` episodes under a protocol that does not draw from the dataset.

    Example:
        >>> [o["task"] for o in reset_options("ogbench-tasks", 7)]
        [1, 2, 3, 4, 5, 1, 2]
    """
    if name == "fixed-target":
        from lewm_envs.pusht import FIXED_TARGET_STATE

        goal = np.asarray(FIXED_TARGET_STATE, dtype=np.float64)
        return [{"start": "gym-pusht", "goal_state": goal} for _ in range(episodes)]
    if name == "ogbench-tasks":
        from lewm_envs.cube import OGBENCH_TASKS

        return [{"task": i % len(OGBENCH_TASKS) + 1} for i in range(episodes)]
    raise ValueError(f"protocol {name!r} draws its episodes from the dataset; it has no fixed reset options.")


def env_tasks(env: Any, options: list[dict[str, Any]], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start states (N, S), goal states (N, S) and goal frames (N, h, w, 3) of episodes reset with ``options``.

    Episode i is reset with ``seed + i`` (as the evaluation resets it later, so the start is the same); the goal frame
    is the env's rendering of the goal state (``info["goal"]``).
    """
    starts, goals, frames = [], [], []
    for i, opts in enumerate(options):
        _, info = env.reset(seed=seed + i, options=opts)
        starts.append(np.asarray(info["state"]))
        goals.append(np.asarray(info["goal_state"]))
        frames.append(np.asarray(info["goal"]))
    return np.stack(starts), np.stack(goals), np.stack(frames)


def rendering(env_kwargs: dict[str, Any]) -> str:
    """How the frames were rendered, from the env kwargs: the reference look, or which faster / older style.

    Example:
        >>> rendering({"image_size": 64, "fast_render": True})
        'fast_render (no MSAA, shadows, reflections or skybox)'
        >>> rendering({"image_size": 64})
        'reference'
    """
    if env_kwargs.get("fast_render"):
        return "fast_render (no MSAA, shadows, reflections or skybox)"
    style = env_kwargs.get("render_style")
    if style not in (None, "reference"):
        return f"render_style={style}"
    return "reference"
