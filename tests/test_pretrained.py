"""Shipped checkpoints: every one loads and plans a step; export writes weights, config and card; errors name what
ships."""

import json

import gymnasium as gym
import pytest

import lewm_envs  # noqa: F401  (registers the lewm/* envs)
from lewm_agents import MPCAgent
from lewm_agents.checkpoint import load_checkpoint
from lewm_agents.planning import PlanConfig
from lewm_agents.pretrained import MAX_BYTES, available, card, export_pretrained, pretrained_path

CARD = {
    "env_id": "lewm/TwoRoom-v0",
    "data": "12 episodes, policy heuristic",
    "protocol": "dataset-goal, 50 pairs",
    "success_rate": 0.5,
    "ci95": [0.3, 0.7],
    "random": {"success_rate": 0.0, "ci95": [0.0, 0.07]},
    "command": "make benchmark ENV=tworoom SCALE=small",
}


@pytest.mark.parametrize("name", available())
def test_every_shipped_checkpoint_loads_and_plans_one_step(name):
    path = pretrained_path(name)
    size = sum((path / f).stat().st_size for f in ("model.safetensors", "config.json"))
    assert size <= MAX_BYTES
    info = card(name)
    assert {"env_id", "success_rate", "ci95", "random", "command"} <= set(info)
    cfg = PlanConfig(num_samples=8, iterations=1, topk=2)
    agent = MPCAgent.from_pretrained(name, config=cfg, device="cpu")
    env = gym.make(info["env_id"], image_size=agent.model.cfg.image_size)
    obs, env_info = env.reset(seed=0)
    agent.set_goal(env_info["goal"])
    action = agent.act(obs)
    assert env.action_space.contains(action)


def test_something_ships():
    assert {"pusht", "tworoom"} <= set(available())


def test_export_writes_a_loadable_checkpoint_with_its_card(tiny_run, tmp_path):
    out = export_pretrained(tiny_run, "tiny", CARD, root=tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["CARD.md", "card.json", "config.json", "model.safetensors"]
    assert json.loads((out / "card.json").read_text())["command"] == CARD["command"]
    ckpt = load_checkpoint(out)
    assert ckpt.model.cfg.history == 1
    assert "50%" in (out / "CARD.md").read_text()


def test_export_refuses_a_card_without_its_numbers(tiny_run, tmp_path):
    with pytest.raises(ValueError, match="ci95"):
        export_pretrained(tiny_run, "tiny", {k: v for k, v in CARD.items() if k != "ci95"}, root=tmp_path)


def test_unknown_name_lists_what_ships():
    with pytest.raises(ValueError, match="ships"):
        pretrained_path("no-such-env")


@pytest.mark.parametrize("with_data", [True, False])
def test_lewm_eval_pretrained_runs_the_protocol(tworoom_data, capsys, with_data):
    from lewm_agents.cli import main

    # without --data, a held-out dataset is collected with the card's policy first
    args = ["eval", "--pretrained", "tworoom", "--episodes", "2", "--videos", "0", "--no-progress"]
    args += ["--plan.num-samples", "8", "--plan.iterations", "1", "--plan.topk", "2"]
    args += ["--data", str(tworoom_data)] if with_data else []
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "success_rate" in out
    assert ("held-out episodes" in out) != with_data
