"""`lewm collect --env-kwargs`: env options reach the env, are recorded in the dataset, and bad ones are refused."""

import json

import pytest

from lewm_agents.cli import main
from lewm_agents.data import CollectConfig, DatasetError, DatasetReader, collect
from lewm_agents.data.sources import EnvKwargsError, parse_env_kwargs, resolve_source


def test_pairs_are_read_as_json_where_they_parse():
    assert parse_env_kwargs(["a=1", "b=0.5", "c=true", "d=null", "e=coverage", "f=[1, 2]", 'g="7"']) == {
        "a": 1, "b": 0.5, "c": True, "d": None, "e": "coverage", "f": [1, 2], "g": "7"
    }  # fmt: skip
    assert parse_env_kwargs('{"door_rule": "disc", "max_speed": 4}') == {"door_rule": "disc", "max_speed": 4}
    assert parse_env_kwargs(()) == {}


@pytest.mark.parametrize(
    ("items", "match"),
    [
        (["door_rule"], r"'door_rule' is not KEY=VALUE"),
        (["=disc"], r"is not KEY=VALUE"),
        (["a=1", "a=2"], r"sets 'a' twice"),
        (['{"a": 1'], r"is not valid JSON"),
        (["[1, 2]=x"], r"is not KEY=VALUE"),
    ],
)
def test_malformed_options_are_refused_before_anything_runs(items, match):
    with pytest.raises(EnvKwargsError, match=match):
        CollectConfig(env="tworoom", env_kwargs=tuple(items))


def test_options_the_env_does_not_take_are_named_with_the_ones_it_does():
    with pytest.raises(EnvKwargsError, match=r"lewm/TwoRoom-v1 takes no option 'door'.*door_rule.*max_speed"):
        resolve_source("tworoom", image_size=32, env_kwargs={"door": "disc"})
    with pytest.raises(EnvKwargsError, match=r"may not set 'image_size'.*--image-size"):
        resolve_source("tworoom", image_size=32, env_kwargs={"image_size": 64})


def test_options_are_recorded_in_the_dataset_and_guard_appends(tmp_path):
    out = tmp_path / "tworoom.h5"
    cfg = CollectConfig(env="tworoom", episodes=1, out=out, image_size=32, max_episode_steps=5, progress=False,
                        env_kwargs=("door_rule=disc", "max_speed=4.0"))  # fmt: skip
    collect(cfg)
    with DatasetReader(out) as r:
        assert r.env_kwargs["door_rule"] == "disc" and r.env_kwargs["max_speed"] == 4.0
    with pytest.raises(DatasetError, match=r"door_rule: file 'disc', this run None"):
        collect(CollectConfig(env="tworoom", episodes=1, out=out, image_size=32, max_episode_steps=5, progress=False))


def test_cli_passes_env_kwargs_and_reports_typed_errors(tmp_path, capsys):
    out = tmp_path / "t.h5"
    args = ["collect", "tworoom", "--episodes", "1", "--image-size", "32", "--max-episode-steps", "4",
            "--out", str(out), "--no-progress"]  # fmt: skip
    assert main([*args, "--env-kwargs", '{"success_radius": 20}']) == 0
    with DatasetReader(out) as r:
        assert json.loads(json.dumps(r.env_kwargs))["success_radius"] == 20
    assert main([*args, "--env-kwargs", "sucess_radius=20"]) == 1
    assert "takes no option 'sucess_radius'" in capsys.readouterr().err
