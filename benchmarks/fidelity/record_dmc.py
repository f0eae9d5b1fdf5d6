"""Records tests/envs/fidelity/dmc_reference.npz: DeepMind Control tasks as dm_control itself runs them.

``lewm/DMC-v1`` is ``dm_control.suite.load(domain, task)`` with the seeding of stable-worldmodel's DMControl wrapper
(``task._random = RandomState(seed)`` at ``reset(seed=seed)``) and MuJoCo's default look. For cartpole-swingup and
cheetah-run this stores seeded starts, a 30-step episode under fixed random actions (states and rewards) and the
frame ``physics.render(64, 64, camera_id=0)`` of the start (what stable-worldmodel's DMC wrappers render).

Run it in a venv with dm-control 1.0.50 (the stable-worldmodel one, see record_reacher.py, has it):

    MUJOCO_GL=egl /work/ref/swm-mj/bin/python benchmarks/fidelity/record_dmc.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[2] / "tests" / "envs" / "fidelity" / "dmc_reference.npz"
TASKS = (("cartpole", "swingup"), ("cheetah", "run"))
STEPS = 30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    import dm_control
    from dm_control import suite

    out: dict[str, np.ndarray] = {}
    for domain, task in TASKS:
        env = suite.load(domain, task)
        physics = env.physics
        starts, frames, episodes, rewards, actions = [], [], [], [], []
        rng = np.random.default_rng(0)
        spec = env.action_spec()
        for seed in range(3):
            env.task._random = np.random.RandomState(seed)
            env.reset()
            starts.append(np.concatenate([physics.data.qpos, physics.data.qvel]))
            frames.append(physics.render(64, 64, camera_id=0))
            acts = rng.uniform(spec.minimum, spec.maximum, (STEPS, *spec.shape))
            states, rs = [], []
            for action in acts:
                time_step = env.step(action)
                states.append(np.concatenate([physics.data.qpos, physics.data.qvel]))
                rs.append(time_step.reward)
            episodes.append(states)
            rewards.append(rs)
            actions.append(acts)
        prefix = f"{domain}_{task}"
        out.update(
            {
                f"{prefix}_starts": np.stack(starts),
                f"{prefix}_frames": np.stack(frames),
                f"{prefix}_actions": np.stack(actions),
                f"{prefix}_states": np.stack(episodes),
                f"{prefix}_rewards": np.asarray(rewards),
            }
        )
    out["dm_control_version"] = np.array(getattr(dm_control, "__version__", "1.0.50"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
