"""Wrong dtypes, shapes, NaN and inf into every public entry point that takes values rather than files: env ``step``
of each lewm env, ``agent.act`` / ``agent.predict`` (while planned actions are queued), and `lewm train` flags.

An input error names the argument or flag instead of a file: each row asserts one paragraph, no traceback, the
documented error type (ValueError; a usage error for flags), the argument named and the valid form stated (the fix),
and that nothing was lost: the refused call left the env / agent as it was (the next valid call gives what a twin
that never saw the bad input gives), and a refused `lewm train` wrote nothing.
"""

from __future__ import annotations

import functools
import pathlib
import re
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from tests.faults.harness import FIX_WORDS, Fault, FaultLog, Outcome, Seen, Verdict, _call, run_cli
from tests.faults.runs import STEP


def unclear_input(seen: Seen, names: Sequence[str], says: Sequence[str]) -> str | None:
    """Why an input error is not a clear one (None when it is): one paragraph, no traceback, the documented type,
    one of ``names`` (the argument or flag) and one of ``says`` (the valid form, or a fix)."""
    if seen.crashed:
        return f"crashed: {seen.crashed}"
    if seen.traceback or "Traceback (most recent call last)" in seen.message:
        return "a traceback reached the user"
    if seen.exit_code is None and not seen.expected_error:
        return f"raised {seen.error_type}, not the documented error type"
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", seen.message).split())  # tyro's usage box, unwrapped
    if not text:
        return "no message"
    if "\n\n" in seen.message.strip():
        return "more than one paragraph"
    if not any(n in text for n in names):
        return f"the message names none of {list(names)}"
    if not any(w.lower() in text.lower() for w in (*says, *FIX_WORDS)):
        return f"the message states neither the valid form nor a fix (expected one of {list(says)})"
    return None


def input_verdict(seen: Seen, names: Sequence[str], says: Sequence[str], unchanged: Callable[[], bool]) -> Verdict:
    refused = seen.crashed or seen.error_type or seen.exit_code not in (None, 0)
    if not refused:
        return Verdict(Outcome.SILENT, f"accepted: {str(seen.value)[:200]}")
    reason = unclear_input(seen, names, says)
    detail = " ".join(seen.message.split())[-400:]
    outcome = Outcome.CLEAR if reason is None else Outcome.UNCLEAR
    lost = 0 if unchanged() else 1
    return Verdict(outcome, (f"{reason}: " if reason else "") + detail, lost=lost)


# --- env step -------------------------------------------------------------------------------------------------

ENVS = {
    "tworoom": ("lewm/TwoRoom-v1", {}),
    "pusht": ("lewm/PushT-v1", {}),
    "reacher": ("lewm/Reacher-v1", {}),
    "cube": ("lewm/Cube-v1", {}),
    "dmc": ("lewm/DMC-v1", {"domain": "cartpole", "task": "swingup"}),
}


@functools.cache
def _env(name: str):
    import gymnasium as gym

    import lewm_envs  # noqa: F401

    env_id, kwargs = ENVS[name]
    return gym.make(env_id, image_size=32, **kwargs)


def bad_actions(dim: int) -> dict[str, object]:
    return {
        "nan": np.full(dim, np.nan, np.float32),
        "inf": np.full(dim, np.inf, np.float32),
        "neg-inf": np.full(dim, -np.inf, np.float64),
        "short": np.zeros(dim - 1, np.float32),
        "long": np.zeros(dim + 1, np.float32),
        "batched": np.zeros((2, dim), np.float32),
        "strings": np.array(["a"] * dim),
        "none": None,
    }


def env_fault(env: str, bad: str) -> Fault:
    def run(pristine: pathlib.Path, work: pathlib.Path) -> Verdict:
        e = _env(env)
        valid = np.zeros(e.action_space.shape, np.float32)
        e.reset(seed=0)
        want = e.step(valid)[0]  # what a valid step after the reset gives
        e.reset(seed=0)
        seen = _call(e.step, [bad_actions(e.action_space.shape[0])[bad]], (ValueError,))
        return input_verdict(seen, ["action"], ["must be"], unchanged=lambda: np.array_equal(e.step(valid)[0], want))

    return Fault("env step: bad action", f"step-{env}-{bad}", run)


STEP_FAULTS = [env_fault(env, bad) for env in ENVS for bad in bad_actions(2)]


# --- agent.act / predict --------------------------------------------------------------------------------------


@functools.cache
def _agents(run: pathlib.Path):
    """Two agents of the pristine run's checkpoint (one to feed bad input, its twin for comparison), their goal set
    and one valid call made: actions are queued."""
    import gymnasium as gym

    from lewm_agents.agent import MPCAgent
    from lewm_agents.planning import PlanConfig

    space = gym.spaces.Box(-1, 1, (2,), np.float32)
    plan = PlanConfig(num_samples=4, iterations=1, topk=2, horizon=2)
    agents = [MPCAgent.from_checkpoint(run, action_space=space, config=plan, device="cpu") for _ in range(2)]
    return agents


FRAME = np.full((32, 32, 3), 90, np.uint8)
GOAL = np.full((32, 32, 3), 200, np.uint8)
BAD_OBS = {
    "state-vector": np.zeros(10),
    "frame-64px": np.zeros((64, 64, 3), np.uint8),
    "grayscale": np.zeros((32, 32), np.uint8),
    "channels-first": np.zeros((3, 32, 32), np.uint8),
    "int64": np.zeros((32, 32, 3), np.int64),
    "nan": np.full((32, 32, 3), np.nan, np.float32),
    "inf": np.full((32, 32, 3), np.inf, np.float32),
    "float-0-255": np.full((32, 32, 3), 255.0),
    "strings": np.full((32, 32, 3), "x"),
    "empty-batch": np.zeros((0, 32, 32, 3), np.uint8),
}
CALLS = {
    "act": lambda agent, obs: agent.act(obs),
    "predict": lambda agent, obs: agent.predict(obs),
    "predict-dict": lambda agent, obs: agent.predict({"pixels": obs, "goal": GOAL}),
    "predict-goal": lambda agent, obs: agent.predict({"pixels": FRAME, "goal": obs}),
}


def agent_fault(call: str, bad: str) -> Fault:
    def run(pristine: pathlib.Path, work: pathlib.Path) -> Verdict:
        agent, twin = _agents(pristine / "checkpoints" / STEP)
        for a in (agent, twin):
            a.set_goal(GOAL)
            a.act(FRAME)  # a valid call: planned actions are queued from here
        seen = _call(CALLS[call], [agent, BAD_OBS[bad]], (ValueError,))
        names = ["goal"] if call == "predict-goal" else ["observation"]
        return input_verdict(
            seen,
            names,
            ["must", "pass ", "convert"],
            unchanged=lambda: np.array_equal(agent.act(FRAME), twin.act(FRAME)),
        )

    return Fault("agent: bad observation", f"agent-{call}-{bad}", run)


AGENT_FAULTS = [agent_fault(call, bad) for call in ("act", "predict-dict", "predict-goal") for bad in BAD_OBS] + [
    agent_fault("predict", bad) for bad in ("state-vector", "frame-64px", "nan")
]


# --- lewm train flags -----------------------------------------------------------------------------------------

FLAGS: dict[str, tuple[str, ...]] = {
    "lr-nan": ("--lr", "nan"),
    "lr-inf": ("--lr", "inf"),
    "lr-negative": ("--lr", "-1"),
    "lr-text": ("--lr", "fast"),
    "weight-decay-nan": ("--weight-decay", "nan"),
    "warmup-1.5": ("--warmup", "1.5"),
    "grad-clip-0": ("--grad-clip", "0"),
    "val-fraction-inf": ("--val-fraction", "inf"),
    "epochs-nan": ("--epochs", "nan"),
    "time-limit-negative": ("--time-limit", "-1"),
    "collapse-std-neg-inf": ("--collapse-std", "-inf"),
    "lam-nan": ("--lam", "nan"),
    "lam-negative": ("--lam", "-0.5"),
    "dropout-1": ("--model.predictor-dropout", "1"),
    "batch-size-1": ("--batch-size", "1"),
    "max-steps-0": ("--max-steps", "0"),
    "pldm-weight-nan": ("--method", "pldm", "--model.std-coeff", "nan"),
    "gcbc-discount-inf": ("--method", "gcbc", "--model.goals.discount", "inf"),
}


FLAG_BASE = (
    "--preset", "smoke", "--model.image-size", "32", "--model.patch-size", "8", "--max-steps", "1", "--device", "cpu",
    "--num-workers", "0", "--no-progress",
)  # fmt: skip
"""Flags every method takes (the smallest run, should a bad flag be accepted)."""


def flag_fault(name: str) -> Fault:
    flags = FLAGS[name]
    flag = flags[-2]
    field = flag.removeprefix("--").removeprefix("model.").removeprefix("goals.").replace("-", "_")

    def run(pristine: pathlib.Path, work: pathlib.Path) -> Verdict:
        out = work / "out"
        seen = run_cli("train", pristine.parent / "data.h5", *FLAG_BASE, *flags, "--out", out)
        names = [flag, field, "--model." + flag.removeprefix("--")]
        return input_verdict(seen, names, ["must be", "invalid"], unchanged=lambda: not (out / "checkpoints").exists())

    return Fault("lewm train: bad flag", f"train-flag-{name}", run)


FLAG_FAULTS = [flag_fault(name) for name in FLAGS]


@pytest.mark.parametrize("fault", STEP_FAULTS, ids=str)
def test_env_step_fault(fault: Fault, tmp_path: pathlib.Path, fault_log: FaultLog):
    verdict = fault_log.check(fault, tmp_path, tmp_path)  # records the row for the figure
    assert verdict.outcome in fault.expect and verdict.lost == 0, verdict.detail


@pytest.mark.parametrize("fault", [*AGENT_FAULTS, *FLAG_FAULTS], ids=str)
def test_run_input_fault(fault: Fault, pristine_run: pathlib.Path, tmp_path: pathlib.Path, fault_log: FaultLog):
    verdict = fault_log.check(fault, pristine_run, tmp_path)  # records the row for the figure
    assert verdict.outcome in fault.expect and verdict.lost == 0, verdict.detail


def test_rows_are_unique() -> None:
    names = [f.name for f in (*STEP_FAULTS, *AGENT_FAULTS, *FLAG_FAULTS)]
    assert len(names) == len(set(names))
