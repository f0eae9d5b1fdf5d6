import json

import numpy as np
import pytest

from lewm_agents.analysis.probe import ProbeRecipe, probe_latents, probe_run, probe_table, probe_targets

XY = {"agent_xy": ("state", (0, 1), "linear")}


def _frames_and_states(tworoom_data):
    from lewm_agents.data import DatasetReader

    with DatasetReader(tworoom_data) as r:
        return r.column("pixels"), r.column("state"), np.repeat(np.arange(r.num_episodes), r.ep_len)


def _red_centroid(frames: np.ndarray) -> np.ndarray:
    """A trivially informative 'encoder' of TwoRoom frames: the red dot's pixel centroid, plus 6 noise features."""
    w = np.clip(frames[..., 0].astype(np.float64) - frames[..., 1], 0, None)  # (N, h, w)
    ys, xs = np.mgrid[: frames.shape[1], : frames.shape[2]]
    m = w.sum((1, 2)) + 1e-6
    xy = np.stack([(w * xs).sum((1, 2)) / m, (w * ys).sum((1, 2)) / m], 1)
    return np.concatenate([xy, np.random.default_rng(0).normal(size=(len(frames), 6))], 1)


def test_probe_beats_its_floor_on_a_visible_quantity(tworoom_data):
    frames, state, ep = _frames_and_states(tworoom_data)
    fit, test = ep < 9, ep >= 9  # split by episode
    informative = _red_centroid(frames)
    floor = np.random.default_rng(1).normal(size=informative.shape)  # sees nothing of the frame
    recipe = ProbeRecipe(epochs=20)
    good = probe_latents(informative[fit], {"state": state[fit]}, informative[test], {"state": state[test]}, XY, recipe)
    bad = probe_latents(floor[fit], {"state": state[fit]}, floor[test], {"state": state[test]}, XY, recipe)
    for kind in ("linear", "mlp"):
        assert good["agent_xy"][kind]["r"] > 0.95 > 0.3 > bad["agent_xy"][kind]["r"]
        assert good["agent_xy"][kind]["mse"] < 0.1 < 0.5 < bad["agent_xy"][kind]["mse"]


def test_angles_are_probed_as_sine_and_cosine():
    rng = np.random.default_rng(0)
    angle = rng.uniform(0, 2 * np.pi, size=(600, 1))
    z = np.concatenate([np.sin(angle), np.cos(angle), rng.normal(size=(600, 2))], 1)  # wraps: linear in sin/cos
    out = probe_latents(z[:400], {"state": angle[:400]}, z[400:], {"state": angle[400:]},
                        {"angle": ("state", (0,), "angle")}, ProbeRecipe(epochs=2))  # fmt: skip
    assert out["angle"]["linear"]["r"] > 0.99


def test_envs_declare_their_probe_targets():
    assert set(probe_targets("lewm/PushT-v1", 7)) == {"agent_xy", "block_xy", "block_angle"}
    assert probe_targets("lewm/TwoRoom-v1", 2) == {"agent_xy": ("state", (0, 1), "linear")}
    assert list(probe_targets("NoSuchEnv-v0", 3)) == ["state[0]", "state[1]", "state[2]"]


def test_probe_command_gives_one_table_for_several_runs(tiny_run, tworoom_data, tmp_path):
    from lewm_agents.cli import main

    rc = main(["probe", str(tiny_run), str(tiny_run), "--data", str(tworoom_data), "--max-frames", "200",
               "--epochs", "2", "--out", str(tmp_path)])  # fmt: skip
    assert rc == 0
    table = json.loads((tmp_path / "probe.json").read_text())
    assert [row[1] for row in table["rows"]] == ["lewm", f"lewm ({tiny_run})"]
    assert (tmp_path / "probe.csv").read_text().startswith("property,model,linear MSE")
    runs = json.loads((tmp_path / "probe_runs.json").read_text())
    for r in runs.values():
        assert set(r["trained"]) == set(r["random_init"]) == {"agent_xy"}
        assert -1 <= r["trained"]["agent_xy"]["mlp"]["r"] <= 1


def test_probe_table_puts_methods_side_by_side():
    s = {"linear": {"mse": 0.1, "mse_std": 0.2, "r": 0.9}, "mlp": {"mse": 0.05, "mse_std": 0.1, "r": 0.95}}
    runs = {m: {"trained": {"a": s, "b": s}, "random_init": {"a": s, "b": s}} for m in ("lewm", "pldm")}
    rows = probe_table(runs)["rows"]
    assert [(r[0], r[1]) for r in rows] == [("a", "lewm"), ("a", "pldm"), ("b", "lewm"), ("b", "pldm")]


def test_probe_refuses_a_dataset_of_another_image_size(tiny_run, tmp_path):
    from lewm_agents.data import CollectConfig, collect

    other = tmp_path / "big.h5"
    collect(CollectConfig(env="tworoom", episodes=2, out=other, image_size=32, progress=False))
    with pytest.raises(ValueError, match="32-px"):
        probe_run(tiny_run, other)
