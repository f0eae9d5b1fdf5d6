"""Diagnostics: the simulator ceiling, the eval-task statistics, latent cost vs distance, success vs steps."""

import json
import math

import numpy as np
import pytest

from lewm_agents.diagnose import (
    DiagnoseConfig,
    diagnose,
    latent_cost_vs_distance,
    protocol_ceiling,
    state_distance,
    success_curve,
    task_stats,
)
from lewm_agents.planning import PlanConfig


def test_pusht_distance_counts_position_and_angle():
    s = np.array([100.0, 100.0, 200.0, 200.0, 0.1, 0.0, 0.0])
    g = s.copy()
    g[4] = 0.1 + math.pi / 9  # the rule's angle threshold weighs as much as its 20 units
    assert state_distance("lewm/PushT-v0", s, g) == pytest.approx(20.0)
    g[4] = 2 * math.pi + 0.1  # wrapped: the same angle
    g[0] += 3.0
    assert state_distance("lewm/PushT-v0", s, g) == pytest.approx(3.0)


def test_ceiling_plans_through_the_simulator(tworoom_data):
    cfg = PlanConfig(num_samples=16, iterations=3, topk=4, horizon=2)
    r = protocol_ceiling(tworoom_data, episodes=2, goal_offset=5, budget=10, plan_config=cfg)
    assert r["episodes"] == 2 and len(r["episode_success"]) == 2
    assert r["env_steps_per_plan"] == 16 * 3 * 2 * 5  # samples x iterations x horizon x frameskip
    # a 5-step goal with a perfect model and room to replan: the simulator planner reaches it
    assert r["successes"] >= 1
    assert r["tables"][0]["rows"][0][1] == 2


def test_task_stats_and_figure(tworoom_data, tmp_path):
    r = task_stats(tworoom_data, episodes=10, goal_offset=5, figure=tmp_path / "t.png")
    assert 0.0 <= r["solved_at_start"] <= 1.0 and r["distance_median"] >= 0.0
    assert r["figures"] == [] or (tmp_path / "t.png").is_file()


def test_latent_cost_vs_distance_on_held_out_episodes(tiny_run, tworoom_data, tmp_path):
    r = latent_cost_vs_distance(tiny_run, tworoom_data, episodes=2, goal_offset=5)
    assert r["pairs"] > 0 and -1.0 <= r["spearman_latent"] <= 1.0 and -1.0 <= r["spearman_pixels"] <= 1.0
    assert 0.0 <= r["within_episode_share_latent"] <= 1.0 and 0.0 < r["within_episode_share_state"] <= 1.0
    assert [t["title"] for t in r["tables"]][1].startswith("Where does the latent's spread come from")


def test_success_curve_has_a_point_per_checkpoint(tiny_run, tworoom_data):
    from lewm_agents.checkpoint import list_checkpoints

    cfg = PlanConfig(num_samples=8, iterations=1, topk=2, horizon=1)
    r = success_curve(tiny_run, tworoom_data, episodes=2, plan_config=cfg)
    assert [p["step"] for p in r["points"]] == sorted(p["step"] for p in r["points"])
    assert len(r["points"]) == len(list_checkpoints(tiny_run)) >= 1


def test_diagnose_writes_json(tworoom_data, tmp_path):
    diagnose(DiagnoseConfig(what="tasks", data=tworoom_data, episodes=5, out=tmp_path))
    assert json.loads((tmp_path / "diagnose_tasks.json").read_text())["episodes"] == 5


def test_diagnose_needs_its_inputs():
    with pytest.raises(ValueError, match="--data"):
        DiagnoseConfig(what="ceiling")
    with pytest.raises(ValueError, match="--checkpoint"):
        DiagnoseConfig(what="curve")


def test_fixed_target_random_row_uses_the_coverage_rule():
    from lewm_agents.diagnose import fixed_target

    r = fixed_target(None, episodes=2)
    assert r["protocol"] == "fixed-target" and len(r["episode_success"]) == 2
    assert r["successes"] == sum(r["episode_success"])
    # best reward is clip(coverage / 0.95, 0, 1): a start from gym-pusht's distribution seldom covers the fixed T
    assert 0.0 <= r["mean_max_reward"] < 1.0
    assert r["tables"][0]["rows"][0][0] == "random"


def test_attach_puts_diagnostics_into_the_cell_report(tworoom_data, tmp_path):
    from lewm_agents.diagnose import attached_entries

    cell = tmp_path / "cell"
    with pytest.raises(FileNotFoundError, match=r"no results\.json there"):
        diagnose(DiagnoseConfig(what="tasks", data=tworoom_data, episodes=5, attach=cell))
    cell.mkdir(exist_ok=True)
    results = {"schema": 2, "env": "tworoom", "scale": "smoke", "methods": {"random": {"acts": "random",
               "success_rate": 0.0, "successes": 0, "episodes": 5, "ci95": [0.0, 0.4]}},
               "tables": [{"title": "Kept", "columns": ["a"], "rows": [["1"]], "section": "Other"}]}  # fmt: skip
    (cell / "results.json").write_text(json.dumps(results))
    for _ in range(2):  # a rerun replaces its entries, it does not add them twice
        diagnose(DiagnoseConfig(what="tasks", data=tworoom_data, episodes=5, attach=cell))
    saved = json.loads((cell / "results.json").read_text())
    assert [t["title"] for t in saved["tables"]] == ["Kept", "Evaluation tasks"]
    assert saved["tables"][1]["section"] == "Diagnostics"
    assert "Evaluation tasks" in (cell / "report.md").read_text()
    assert (cell / "diagnostics" / "diagnose_tasks.json").is_file()
    figs = attached_entries(cell)["figures"]
    assert all((cell / f["path"]).is_file() for f in figs)
    assert attached_entries(tmp_path / "nowhere") == {"figures": [], "tables": []}


def test_plan_gap_executes_the_plan_in_the_env(tiny_run, tworoom_data):
    from lewm_agents.data import DatasetReader, compute_action_stats
    from lewm_agents.diagnose import plan_gap

    # a search that cannot leave the zero plan (the data's mean action): the env then moves the agent by the mean
    # action only, so the real outcome is the start, give or take that drift: its distance to the goal and its latent
    # cost (real / start = 1)
    still = PlanConfig(num_samples=8, iterations=2, topk=2, horizon=1, init_std=1e-6)
    r = plan_gap(tiny_run, tworoom_data, episodes=3, goal_offset=5, plan_config=still)
    with DatasetReader(tworoom_data) as reader:
        drift = 5.0 * 5 * float(np.linalg.norm(compute_action_stats(reader).mean))  # speed 5 x 5 steps x |mean|
    assert r["episodes"] == 3
    assert r["final_distance_median"] == pytest.approx(r["start_distance_median"], abs=drift + 0.5)
    assert r["plan_real_over_start"] == pytest.approx(1.0, abs=0.25)  # (the goal frame would give 0)
    assert len(r["tables"][0]["rows"][0]) == len(r["tables"][0]["columns"]) == 9
    assert r["tables"][0]["rows"][0][0] == "lewm"


def test_attached_runs_of_one_diagnostic_share_a_table(tmp_path):
    from lewm_agents.diagnose import attached_entries

    d = tmp_path / "diagnostics"
    d.mkdir()
    for name, rows in (("lewm", [["lewm", "0.1"]]), ("pldm", [["pldm", "0.2"]])):
        table = {"title": "Search or model?", "columns": ["model", "cost"], "rows": rows}
        (d / f"diagnose_plan-gap_{name}.json").write_text(json.dumps({"tables": [table]}))
    other = {"title": "Evaluation tasks", "columns": ["a"], "rows": [["1"]]}
    (d / "diagnose_tasks.json").write_text(json.dumps({"tables": [other]}))
    tables = attached_entries(tmp_path)["tables"]
    assert [t["title"] for t in tables] == ["Search or model?", "Evaluation tasks"]
    assert tables[0]["rows"] == [["lewm", "0.1"], ["pldm", "0.2"]]
