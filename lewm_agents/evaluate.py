"""Goal-reaching evaluation: the paper's protocol (reference/lewm.md §5.3) and the others of
lewm_agents/eval_protocols.py (``--protocol fixed-target`` for PushT, ``ogbench-tasks`` for Cube).

Start states are drawn (seeded, without replacement) from the dataset rows that have a frame ``goal_offset`` steps
later in the same episode; that later frame is the goal image and its state the goal state. The env is reset exactly
to the start and goal states, the policy gets ``budget`` steps, and an episode succeeds when the env terminates with
``info["is_success"]``. The success rate comes with a Wilson 95% interval.

Any registered method can be evaluated (its checkpoint picks `MPCAgent` or `PolicyAgent`: `load_agent`), or the
uniform random policy; every one under the same protocol, pairs and seeds. Every result carries its protocol card
(``result["protocol"]``: protocol, env id and kwargs, episodes, seed, budget, goal offset, planner, rendering).

Dimension letters: N episodes evaluated together, A action dim; frames are uint8 ``(height, width, 3)``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from lewm_agents.data import DatasetError, DatasetReader
from lewm_agents.data.sources import recorded_env
from lewm_agents.eval_protocols import (
    PROTOCOLS,
    ProtocolName,
    check_protocol,
    env_tasks,
    protocol_env_kwargs,
    rendering,
    reset_options,
)
from lewm_agents.methods import METHODS
from lewm_agents.planning import PlanConfig
from lewm_agents.runtime import Precision

EVAL_SEED = 42
"""The paper's evaluation seed (start-state draw and env resets)."""


@dataclass(frozen=True)
class EvalConfig:
    """Goal-reaching evaluation of a checkpoint (or of the random policy) under the paper's protocol."""

    checkpoint: Path | None = None
    """Run directory or checkpoints/step_* directory of any method; needed unless --policy random."""
    data: Path | None = None
    """Dataset the start/goal pairs come from (default: the checkpoint's training data)."""
    env: str | None = None
    """Gymnasium id of the env (default: the dataset's env)."""
    policy: str = "auto"
    """'auto' acts with the checkpoint's method (plans with a world model, asks a policy); a method name (lewm, pldm,
    gcbc, ...) does the same after checking the checkpoint is that method's; 'random' samples uniform actions (the
    sanity row)."""
    protocol: ProtocolName = "dataset-goal"
    """dataset-goal (the paper's: start/goal pairs from the dataset), fixed-target (PushT: gym-pusht's start, the T at
    (256, 256, pi/4), coverage > 95%) or ogbench-tasks (Cube: OGBench's 5 tasks); lewm_agents/eval_protocols.py."""
    episodes: int = 50
    """Start/goal pairs evaluated (the paper: 50)."""
    goal_offset: int = 25
    """The goal is the frame this many env steps after the start, in the same episode (dataset-goal only)."""
    budget: int | None = None
    """Env steps allowed per episode (default: the protocol's: 50 dataset-goal, 300 fixed-target, 200
    ogbench-tasks)."""
    legacy_env: bool = False
    """Evaluate on data recorded under an old version of a lewm env (e.g. lewm/PushT-v0), in the current env with the
    legacy options that reproduce the old one; without it such data is refused."""
    seed: int = EVAL_SEED
    """Seed of the start-state draw and of the env resets (the paper: 42)."""
    plan: PlanConfig = field(default_factory=PlanConfig)
    """Planner settings for world-model methods (the paper's CEM by default; --plan.solver mppi|gradient,
    --plan.time-budget-ms for a real-time cap, whose effect is reported as plan_iterations and plan_budget_hits)."""
    batch: int = 50
    """Episodes run side by side; their plans are solved in one batched call."""
    videos: int = 3
    """MP4s written (agent view beside the goal) for the first episodes."""
    out: Path | None = None
    """Directory for eval.json and videos (nothing written when None)."""
    name: str | None = None
    """Name of this evaluation in the files it writes (``eval_<name>.json``, ``videos/<name>_ep*.mp4``), e.g. the
    benchmark's ``tdmpc@native`` row; None: the method's name (or 'random')."""
    device: str = "auto"
    """Torch device for planning."""
    precision: Precision = "auto"
    """'bf16' runs the planner's model under bf16 autocast (also on CPU)."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        bad_budget = self.budget is not None and self.budget < 1
        if self.episodes < 1 or bad_budget or self.goal_offset < 1 or self.batch < 1 or self.videos < 0:
            raise ValueError("episodes, budget, goal_offset and batch must be >= 1, and videos >= 0.")
        if self.policy not in ("auto", "random", *METHODS):
            raise ValueError(f"unknown --policy {self.policy!r}; valid: auto, random, {', '.join(METHODS)}.")
        if self.policy != "random" and self.checkpoint is None:
            raise ValueError(f"--policy {self.policy} needs --checkpoint (a run directory from `lewm train`).")
        if self.name is not None and (not self.name or any(c in self.name for c in '/\\:*?"<>| ')):
            raise ValueError(
                f"--name {self.name!r} names files (eval_<name>.json, videos/<name>_ep*.mp4): give a non-empty name "
                "without path separators, spaces or shell wildcards, e.g. tdmpc@native."
            )


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a binomial rate (95% by default); well behaved at 0 and n successes."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # exact ends: the bounds are 0 and 1 there
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi


def sample_start_goal_pairs(
    reader: DatasetReader, n: int, goal_offset: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of n start states and of their goals ``goal_offset`` steps later in the same episode."""
    step_idx = reader.column("step_idx")  # (rows,)
    ep_len = reader.ep_len[reader.column("episode_idx")]  # (rows,) length of each row's episode
    valid = np.flatnonzero(step_idx <= ep_len - goal_offset - 1)
    if len(valid) < n:
        raise DatasetError(
            f"{reader.path} has {len(valid)} rows with a frame {goal_offset} steps later in the same episode, fewer "
            f"than the {n} evaluation episodes asked for. Collect more (or longer) episodes, or lower --episodes / "
            f"--goal-offset."
        )
    starts = np.random.default_rng(seed).choice(valid, size=n, replace=False)
    return starts, starts + goal_offset


def make_env(tasks: EvalTasks, budget: int) -> gym.Env:
    """The env the data was recorded from, made with the same kwargs (image size, DMC domain/task, ...)."""
    kwargs = {k: v for k, v in tasks.env_kwargs.items() if k != "max_episode_steps"} or {"image_size": tasks.image_size}
    return gym.make(tasks.env_id, max_episode_steps=budget, **kwargs)


def _write_video(path: Path, frames: list[np.ndarray], fps: int = 10) -> None:
    import imageio.v2 as imageio

    scale = max(1, 256 // frames[0].shape[0])  # nearest-neighbour upscale so 64-px frames are watchable
    with imageio.get_writer(str(path), fps=fps, codec="libx264", quality=7, macro_block_size=1) as w:
        for f in frames:
            w.append_data(np.repeat(np.repeat(f, scale, axis=0), scale, axis=1))


@dataclass
class EvalTasks:
    """Start/goal pairs of one evaluation, read from the dataset."""

    env_id: str
    image_size: int
    env_kwargs: dict[str, Any]
    data: Path
    start_states: np.ndarray  # (n, S)
    goal_states: np.ndarray  # (n, S)
    goal_frames: np.ndarray  # (n, h, w, 3)
    protocol: str = "dataset-goal"
    options: list[dict[str, Any]] | None = None
    """Per-episode reset options of a protocol that does not reset to dataset states (None: dataset-goal)."""

    def reset_options(self, i: int) -> dict[str, Any]:
        """The ``reset`` options of episode i: the protocol's, or the dataset's start and goal states."""
        if self.options is not None:
            return self.options[i]
        return {"state": self.start_states[i], "goal_state": self.goal_states[i]}


class UniformPolicy:
    """The random sanity row: uniform actions in the env's Box, with SB3's ``predict`` signature."""

    def __init__(self, action_space: gym.spaces.Box, seed: int) -> None:
        self.space, self.rng = action_space, np.random.default_rng(seed)

    def predict(
        self, observation: np.ndarray, state: Any = None, episode_start: Any = None, deterministic: bool = False
    ) -> tuple[np.ndarray, Any]:
        n = len(observation)
        return self.rng.uniform(self.space.low, self.space.high, (n, *self.space.shape)).astype(np.float32), state


def recorded_dataset(ckpt_meta: dict[str, Any], checkpoint: Any) -> Path:
    """The training dataset a checkpoint records, found from any working directory: relative to the run directory
    (a project moved as a whole), at its absolute path (a run directory copied elsewhere), as given (relative to the
    current directory, as before), or relative to a folder above the checkpoint (runs written before the first two
    were recorded: ``lewm train data/d.h5 --out runs/x`` ran in a folder above ``runs/x``)."""
    from lewm_agents.checkpoint import find_checkpoint

    data = ckpt_meta.get("dataset", {})
    given = str(data.get("path", ""))
    if given in ("", "."):
        raise ValueError(
            "no dataset to draw start/goal pairs from: pass --data PATH (the HDF5 file from lewm collect)."
        )
    ckpt = find_checkpoint(checkpoint)
    run = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt
    tried = [run / data["path_from_run"]] if data.get("path_from_run") else []
    tried += [Path(data["path_absolute"])] if data.get("path_absolute") else []
    tried += [Path(given)]
    tried += [] if Path(given).is_absolute() else [folder / given for folder in ckpt.parents]
    for path in tried:
        if path.is_file():
            return path
    raise DatasetError(
        f"the training dataset {given} recorded in {ckpt / 'config.json'} is not there (looked at "
        f"{', '.join(str(p) for p in dict.fromkeys(tried).keys())[:600]}): it was moved or deleted. Pass --data PATH "
        f"(the HDF5 file from lewm collect) to evaluate on it."
    )


def load_tasks(cfg: EvalConfig, ckpt_meta: dict[str, Any]) -> EvalTasks:
    """Draw the start/goal pairs, after checking the dataset can drive the env and matches the checkpoint."""
    data_path = Path(cfg.data) if cfg.data else recorded_dataset(ckpt_meta, cfg.checkpoint)
    with DatasetReader(data_path) as reader:
        if "state" not in reader.columns:
            raise DatasetError(
                f"{data_path} has no 'state' column, so the env cannot be reset to its start and goal states. Record "
                f"the data from an env that reports info['state'] (all lewm/* envs do)."
            )
        m = ckpt_meta.get("model")
        if m and (m["action_dim"] != reader.action_dim or m["image_size"] != reader.image_size):
            raise DatasetError(
                f"{data_path} has action_dim {reader.action_dim} and {reader.image_size}-px frames but the "
                f"checkpoint {cfg.checkpoint} was trained on action_dim {m['action_dim']} and {m['image_size']}-px "
                f"frames. Evaluate it on data from the env it was trained on (its dataset is "
                f"{ckpt_meta.get('dataset', {}).get('path', 'recorded in its config.json')})."
            )
        starts, goals = sample_start_goal_pairs(reader, cfg.episodes, cfg.goal_offset, cfg.seed)
        states = reader.column("state")
        return EvalTasks(
            env_id=cfg.env or reader.env_id,
            image_size=reader.image_size,
            env_kwargs=dict(reader.env_kwargs),
            data=data_path,
            start_states=states[starts],
            goal_states=states[goals],
            goal_frames=reader.frames(goals),
        )


def protocol_tasks(cfg: EvalConfig, ckpt_meta: dict[str, Any]) -> tuple[EvalConfig, EvalTasks]:
    """The episodes of ``cfg.protocol`` and ``cfg`` with the protocol's budget filled in.

    The dataset is read and checked by `load_tasks` (the env it was recorded from, its match with the checkpoint);
    then its env version is checked (`lewm_agents.data.sources.recorded_env`: data from an old version is refused
    unless ``cfg.legacy_env``) and the protocol must apply to that env. Outside dataset-goal the starts and goals
    come from the env (lewm_agents/eval_protocols.py), so only one pair is drawn from the data.
    """
    drawn = cfg.protocol == "dataset-goal"
    tasks = load_tasks(cfg if drawn else replace(cfg, episodes=1, goal_offset=1), ckpt_meta)
    env_id, env_kwargs = recorded_env(tasks.env_id, tasks.env_kwargs, legacy=cfg.legacy_env)
    protocol = check_protocol(cfg.protocol, env_id)
    cfg = replace(cfg, budget=cfg.budget or protocol.budget)
    kwargs = protocol_env_kwargs(cfg.protocol, env_kwargs)
    tasks = replace(tasks, env_id=env_id, env_kwargs=kwargs, protocol=cfg.protocol)
    if drawn:
        return cfg, tasks
    options = reset_options(cfg.protocol, cfg.episodes)
    env = make_env(tasks, cfg.budget)
    try:
        starts, goals, frames = env_tasks(env, options, cfg.seed)  # (N, S), (N, S), (N, h, w, 3)
    finally:
        env.close()
    return cfg, replace(tasks, start_states=starts, goal_states=goals, goal_frames=frames, options=options)


def protocol_card(
    cfg: EvalConfig, tasks: EvalTasks, ckpt_meta: dict[str, Any], acts: str, success_rule: Any
) -> dict[str, Any]:
    """How a result was produced: protocol, env id + kwargs, episodes, seed, budget, goal offset, planner, rendering,
    and whether the starts come from the episodes the checkpoint was trained on."""
    trained_on = ckpt_meta.get("dataset", {}).get("path")
    if cfg.protocol != "dataset-goal":
        from_training: bool | None = False  # the env's own starts
    elif trained_on:
        from_training = Path(trained_on).resolve() == Path(tasks.data).resolve()
    else:
        from_training = None  # no checkpoint (the random policy)
    return {
        "name": cfg.protocol,
        "description": PROTOCOLS[cfg.protocol].description,
        "env_id": tasks.env_id,
        "env_kwargs": json.loads(json.dumps(tasks.env_kwargs, default=str)),
        "episodes": cfg.episodes,
        "seed": cfg.seed,
        "budget": cfg.budget,
        "goal_offset": cfg.goal_offset if cfg.protocol == "dataset-goal" else None,
        "plan": asdict(cfg.plan) if acts == "plan" else None,
        "plan_precision": cfg.precision if acts == "plan" else None,
        "rendering": rendering(tasks.env_kwargs),
        "starts_from_training_episodes": from_training,
        "success_rule": success_rule if isinstance(success_rule, str) else _rule(tasks.env_kwargs),
    }


def _rule(env_kwargs: dict[str, Any]) -> str | None:
    """The success rule an env option chose (e.g. PushT's success="coverage"), or None for the env's default."""
    rule = env_kwargs.get("success")
    return f"success={rule}" if isinstance(rule, str) else None


def _observes_state(policy: Any) -> bool:
    """Whether ``policy`` acts on the env's state vector (a state-input world model) rather than on frames."""
    return getattr(policy, "observes", "pixels") == "state"


def _run_batch(
    envs: list[gym.Env], ids: list[int], tasks: EvalTasks, policy: Any, cfg: EvalConfig, record: set[int]
) -> tuple[dict[int, bool], dict[int, int], dict[int, list[np.ndarray]]]:
    """Run episodes ``ids`` side by side; returns success and steps per episode, and frames of those in `record`."""
    resets = [env.reset(seed=cfg.seed + i, options=tasks.reset_options(i)) for env, i in zip(envs, ids)]
    obs = [o for o, _ in resets]
    frames = {i: [np.concatenate([obs[j], tasks.goal_frames[i]], axis=1)] for j, i in enumerate(ids) if i in record}
    # A state-input model (the encoder="state" diagnostic) observes info["state"] and the goal state, not frames.
    states = [np.asarray(info["state"], dtype=np.float32) for _, info in resets] if _observes_state(policy) else None
    if hasattr(policy, "set_goal"):
        goals = tasks.goal_states[ids].astype(np.float32) if states is not None else tasks.goal_frames[ids]
        policy.set_goal(goals)  # (n, h, w, 3) or (n, S): one goal per env
    success = dict.fromkeys(ids, False)
    steps = dict.fromkeys(ids, cfg.budget)
    active = set(ids)
    for t in range(cfg.budget):
        # every env is planned together (finished ones too), so each replanning is one batched call
        seen = np.stack(obs if states is None else states)  # (n, h, w, 3) or (n, S)
        actions, _ = policy.predict(seen, episode_start=np.full(len(ids), t == 0))
        for j, i in enumerate(ids):
            if i not in active:
                continue
            obs[j], _, terminated, truncated, info = envs[j].step(actions[j])
            if states is not None:
                states[j] = np.asarray(info["state"], dtype=np.float32)
            if i in frames:
                frames[i].append(np.concatenate([obs[j], tasks.goal_frames[i]], axis=1))
            if terminated or truncated:
                active.discard(i)
                success[i], steps[i] = bool(terminated and info.get("is_success", False)), t + 1
        if not active:
            break
    return success, steps, frames


def evaluate(cfg: EvalConfig) -> dict[str, Any]:
    """Run the protocol and return the metrics (see module docstring); writes eval_<name>.json and videos under
    cfg.out."""
    from tqdm.auto import tqdm

    import lewm_envs  # noqa: F401  (registers the lewm/* envs)

    ckpt_meta: dict[str, Any] = {}
    name, acts = "random", "random"
    if cfg.policy != "random":
        from lewm_agents.checkpoint import verify_checkpoint

        ckpt_meta = verify_checkpoint(cfg.checkpoint)  # a damaged checkpoint is the first problem to report
        name = ckpt_meta["method"]
        if cfg.policy not in ("auto", name):
            raise ValueError(
                f"--policy {cfg.policy} asks for a {cfg.policy} checkpoint, but {cfg.checkpoint} holds a {name} one. "
                f"Pass --policy auto (or {name}), or the run directory of a {cfg.policy} run."
            )
        acts = METHODS[name].acts
    cfg, tasks = protocol_tasks(cfg, ckpt_meta)
    envs = [make_env(tasks, cfg.budget) for _ in range(min(cfg.batch, cfg.episodes))]
    if cfg.policy != "random":
        from lewm_agents.agent import load_agent

        policy: Any = load_agent(
            cfg.checkpoint,
            action_space=envs[0].action_space,
            plan=cfg.plan,
            device=cfg.device,
            precision=cfg.precision,
        )
    else:
        policy = UniformPolicy(envs[0].action_space, cfg.seed)
    success_rule = getattr(envs[0].unwrapped, "success_rule", None) or envs[0].unwrapped.metadata.get("success_rule")
    out = Path(cfg.out) if cfg.out else None
    if out:
        (out / "videos").mkdir(parents=True, exist_ok=True)
    success = np.zeros(cfg.episodes, dtype=bool)
    steps_taken = np.full(cfg.episodes, cfg.budget, dtype=np.int64)
    videos: list[str] = []
    t_start = time.perf_counter()
    stem = cfg.name or name  # the files' name: the method's, or the caller's (a benchmark row)
    bar = tqdm(total=cfg.episodes, disable=not cfg.progress, desc=f"eval {stem}", unit="ep", dynamic_ncols=True)
    for lo in range(0, cfg.episodes, len(envs)):
        ids = list(range(lo, min(lo + len(envs), cfg.episodes)))
        ok, steps, frames = _run_batch(envs, ids, tasks, policy, cfg, record=set(range(cfg.videos)) if out else set())
        for i in ids:
            success[i], steps_taken[i] = ok[i], steps[i]
        for i, f in frames.items():
            path = out / "videos" / f"{stem}_ep{i:03d}_{'success' if success[i] else 'fail'}.mp4"
            _write_video(path, f)
            videos.append(str(path))
        bar.update(len(ids))
    bar.close()
    for env in envs:
        env.close()
    k, n = int(success.sum()), cfg.episodes
    result: dict[str, Any] = {
        "policy": name,
        "name": stem,
        "acts": acts,
        "env_id": tasks.env_id,
        "checkpoint": str(cfg.checkpoint) if cfg.checkpoint else None,
        "data": str(tasks.data),
        "episodes": n,
        "successes": k,
        "success_rate": k / n,
        "ci95": list(wilson_interval(k, n)),
        "episode_success": success.tolist(),
        "steps": steps_taken.tolist(),
        "seconds": time.perf_counter() - t_start,
        "videos": videos,
        "protocol": protocol_card(cfg, tasks, ckpt_meta, acts, success_rule),
        "success_rule": success_rule if isinstance(success_rule, str) else None,
        "plan_ms": None,
    }
    if acts != "random":  # time per decision: a plan call, or a policy query (encoding included)
        calls, sizes = np.asarray(policy.plan_times_ms), np.asarray(policy.plan_batch_sizes)
        iters = np.asarray(policy.plan_iterations)
        result.update(
            plan_ms=float((calls / sizes).mean()),
            plan_call_ms=float(calls.mean()),
            plan_call_ms_max=float(calls.max()),
            plan_batch=float(sizes.mean()),
            num_plan_calls=len(calls),
            plan_iterations=float(iters.mean()),
            plan_iterations_min=int(iters.min()),
            plan_budget_hits=int(np.sum(policy.plan_budget_hits)),
            plan_precision=policy.precision_used,  # what ran ('auto' is settled by measurement on a CPU)
        )
        if getattr(policy, "calibration", None) is not None:
            result["plan_calibration_ms"] = policy.calibration.ms
    if acts == "plan":
        result["plan_config"] = asdict(cfg.plan)
    if out:
        (out / f"eval_{stem}.json").write_text(json.dumps(result, indent=2))
    return result
