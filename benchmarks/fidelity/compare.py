"""Ours against the recorded references: the side-by-side error table of PushT and TwoRoom.

Replays every recorded sequence of ``tests/envs/fidelity/`` (see ``record_pusht.py`` and ``record_tworoom.py``) in
``lewm_envs`` and prints, per env, the median and max errors at steps 10, 50 and 100 and the fraction of sequences that
match (to 1e-6 units and rad, and within the 20-unit success tolerance), plus frame agreement at 224 px. Needs no
reference package. Run: ``.venv/bin/python benchmarks/fidelity/compare.py`` (a few seconds).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "envs" / "fidelity"
CHECK_STEPS = (10, 50, 100)


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(a - b) % (2 * math.pi)
    return np.minimum(d, 2 * math.pi - d)


def _full_state(env, info) -> np.ndarray:
    """The float64 state when the env exposes it (``info["state"]`` is float32, ~1e-5 units at 300)."""
    full = getattr(env, "_state", None)
    return full() if callable(full) else info["state"]


def pusht_rollouts(make_env, data) -> tuple[np.ndarray, list[np.ndarray]]:
    """Our states (N, T + 1, 7) for the swm fixture (NaN where our reset refused the start) and frames per kept seq."""
    out = np.full(data["states"].shape, np.nan)
    frames = []
    keep = {int(i): k for k, i in enumerate(data["frame_seq"])}
    for n in range(len(data["kind"])):
        env = make_env(relative=data["kind"][n] != "absolute")
        try:
            _, info = env.reset(seed=0, options={"state": data["start"][n], "goal_state": data["goal"][n]})
        except ValueError:
            continue
        states, seq_frames = [_full_state(env, info)], [env.render()]
        for t, a in enumerate(data["actions"][n]):
            _, _, _, _, info = env.step(a)
            states.append(_full_state(env, info))
            if n in keep and t + 1 in data["frame_steps"]:
                seq_frames.append(env.render())
        out[n] = np.array(states, dtype=np.float64)
        if n in keep:
            frames.append(np.array(seq_frames))
    return out, frames


def pusht_table(ours: np.ndarray, ref: np.ndarray) -> list[str]:
    rows = []
    for t in CHECK_STEPS:
        agent = np.linalg.norm(ours[:, t, :2] - ref[:, t, :2], axis=1)
        block = np.linalg.norm(ours[:, t, 2:4] - ref[:, t, 2:4], axis=1)
        angle = _angle(ours[:, t, 4], ref[:, t, 4])
        ok = ~np.isnan(agent)
        exact = ok & (agent < 1e-6) & (block < 1e-6) & (angle < 1e-6)
        within = ok & (agent < 20) & (block < 20) & (angle < math.pi / 9)
        rows.append(
            f"| {t} | {np.nanmedian(agent):.3g} / {np.nanmax(agent):.3g} | {np.nanmedian(block):.3g} / "
            f"{np.nanmax(block):.3g} | {np.nanmedian(angle):.3g} / {np.nanmax(angle):.3g} | "
            f"{exact.sum()}/{len(ok)} | {within.sum()}/{len(ok)} | {len(ok) - ok.sum()} |"
        )
    return rows


def tworoom_rollouts(make_env, data) -> tuple[np.ndarray, list[np.ndarray]]:
    out = np.full(data["states"].shape, np.nan, dtype=np.float64)
    frames = []
    keep = {int(i) for i in data["frame_seq"]}
    for n in range(len(data["kind"])):
        env = make_env()
        try:
            _, info = env.reset(seed=0, options={"state": data["start"][n], "goal_state": data["target"][n]})
        except ValueError:
            continue
        states, seq_frames = [info["state"]], [env.render()]
        for t, a in enumerate(data["actions"][n]):
            _, _, _, _, info = env.step(a)
            states.append(info["state"])
            if n in keep and t + 1 in data["frame_steps"]:
                seq_frames.append(env.render())
        out[n] = np.array(states, dtype=np.float64)
        if n in keep:
            frames.append(np.array(seq_frames))
    return out, frames


def tworoom_table(ours: np.ndarray, ref: np.ndarray) -> list[str]:
    rows = []
    for t in CHECK_STEPS:
        err = np.linalg.norm(ours[:, t] - ref[:, t], axis=1)
        ok = ~np.isnan(err)
        exact = ok & (err < 1e-4)  # float32 positions: 1e-4 is a few ulps at 200 units
        rows.append(
            f"| {t} | {np.nanmedian(err):.3g} / {np.nanmax(err):.3g} | {exact.sum()}/{len(ok)} | "
            f"{(ok & (err < 16)).sum()}/{len(ok)} | {len(ok) - ok.sum()} |"
        )
    return rows


def frame_row(name: str, ours: list[np.ndarray], ref: np.ndarray) -> str:
    if not ours or ours[0].shape[1:] != ref.shape[2:]:
        return f"| {name} | frames of another size |"
    a, b = np.array(ours).astype(np.int16), ref[: len(ours)].astype(np.int16)
    diff = np.abs(a - b).max(-1)  # (M, F, H, W)
    return (
        f"| {name} | {np.mean(diff == 0):.4f} | {np.mean(diff <= 2):.4f} | {np.abs(a - b).mean():.3f} | {diff.max()} |"
    )


def main() -> None:
    import lewm_envs  # noqa: F401
    from lewm_envs.pusht import PushTEnv
    from lewm_envs.two_room import TwoRoomEnv

    swm = np.load(FIXTURES / "pusht_swm.npz")
    ours, frames_p = pusht_rollouts(lambda **kw: PushTEnv(image_size=224, **kw), swm)
    print("PushT vs swm/PushT-v1 (48 sequences: median / max error; exact = all < 1e-6; within = success tolerance)")
    print("| step | agent xy | block xy | block angle (rad) | exact | within | refused |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(pusht_table(ours, swm["states"])))
    tr = np.load(FIXTURES / "tworoom_swm.npz")
    ours_t, frames_t = tworoom_rollouts(lambda: TwoRoomEnv(image_size=224), tr)
    print("\nTwoRoom vs swm/TwoRoom-v1 (48 sequences: agent xy error median / max; exact = < 1e-4)")
    print("| step | agent xy | exact | within 16 | refused |\n|---|---|---|---|---|")
    print("\n".join(tworoom_table(ours_t, tr["states"])))
    print("\nFrames at 224 px (fraction of pixels equal, within 2 levels, mean abs diff, max abs diff)")
    print("| env | equal | within 2 | mean abs | max |\n|---|---|---|---|---|")
    kept_p = [f for f, n in zip(frames_p, swm["frame_seq"]) if not np.isnan(ours[n, 0, 0])]
    print(frame_row("PushT", kept_p, swm["frames"]))
    print(frame_row("TwoRoom", frames_t, tr["frames"]))


if __name__ == "__main__":
    main()
