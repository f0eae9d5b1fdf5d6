"""Every registered method, through the seams only: its record is complete, a few steps lower its loss, save -> load
predicts or acts identically, and its agent runs in SB3's evaluate_policy over a vector env."""

import dataclasses
import json
import warnings
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch

from lewm_agents.agent import MPCAgent, PolicyAgent, load_agent
from lewm_agents.checkpoint import load_checkpoint, save_checkpoint
from lewm_agents.data import ActionStats, ClipDataset, DatasetReader, compute_action_stats
from lewm_agents.data.batch import Batch
from lewm_agents.methods import METHODS, SCALES, config_from_dict, get_method
from lewm_agents.planning import PlanConfig
from lewm_agents.protocols import Policy, WorldModel
from lewm_agents.train import Learner, config_from_args, train, train_preset

NAMES = list(METHODS)
STATS = ActionStats(mean=(0.1, -0.2), std=(0.5, 0.7))


def tiny_config(name: str):
    """The smoke preset with TwoRoom's history of 1 and few SIGReg directions, where the method has them."""
    cfg = train_preset(name, "smoke").model
    names = {f.name for f in dataclasses.fields(cfg)}
    return replace(
        cfg, **{k: v for k, v in {"history": 1, "num_proj": 32, "predictor_dropout": 0.0}.items() if k in names}
    )


@pytest.mark.parametrize("name", NAMES)
def test_the_record_is_complete(name):
    m = get_method(name)
    assert m.name == name and m.label and m.acts in ("plan", "policy")
    assert set(SCALES) <= set(m.presets)
    for preset, cfg in m.presets.items():
        assert isinstance(cfg, m.config) and dataclasses.is_dataclass(cfg), preset
        assert {"image_size", "action_dim", "frameskip"} <= {f.name for f in dataclasses.fields(cfg)}
        assert config_from_dict(m.config, json.loads(json.dumps(cfg.to_dict()))) == cfg  # the checkpoint round trip
        assert m.clips(cfg).frames >= 1
        json.dumps(m.hparams(cfg))
        assert train_preset(name, preset).model == cfg
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.presets["smoke"].image_size = 3  # type: ignore[misc]
    with torch.device("meta"):
        model = m.build(m.presets["smoke"])
    assert isinstance(model, WorldModel if m.acts == "plan" else Policy)


def test_unknown_method_and_a_config_of_another_method_are_refused():
    with pytest.raises(ValueError, match="registered methods: lewm, pldm, gcbc"):
        get_method("dreamerv3")
    with pytest.raises(ValueError, match="PLDMConfig"):
        replace(train_preset("pldm", "smoke"), model=train_preset("lewm", "smoke").model)


def _fixed_batch(data, name, cfg, n=32):
    spec = get_method(name).clips(cfg)
    with DatasetReader(data) as r:
        stats = compute_action_stats(r)
    ds = ClipDataset(data, num_steps=spec.frames, frameskip=cfg.frameskip, action_stats=stats, goals=spec.goals)
    return Batch.collate([ds[i] for i in np.linspace(0, len(ds) - 1, n).astype(int)])


@pytest.mark.parametrize("name", NAMES)
def test_a_few_steps_lower_the_loss(tworoom_data, name):
    cfg = replace(tiny_config(name), action_dim=2)
    batch = _fixed_batch(tworoom_data, name, cfg)
    learner = Learner(replace(train_preset(name, "smoke"), model=cfg), cfg, torch.device("cpu"))

    def loss() -> float:  # the training objective (BatchNorm on batch statistics), with fixed SIGReg directions
        learner.model.train()
        with torch.no_grad():
            return float(learner.make_objective(torch.Generator().manual_seed(0))(batch)[0])

    before = loss()
    for _ in range(15):
        metrics = learner.step(batch, lr=1e-3)
    assert set(metrics) >= {"loss", "grad_norm"} and all(v.dim() == 0 for v in metrics.values())
    assert loss() < 0.8 * before, name


@pytest.mark.parametrize("name", NAMES)
def test_the_collapse_criterion_flags_a_constant_encoder_and_not_a_fresh_one(tworoom_data, tmp_path, name):
    """Each method's own criterion (Method.collapse_std / collapse_rank, through TrainConfig and the Monitor): every
    world model reports latent statistics, a batch whose frames are all one frame (the encoder's output is then
    constant) is warned about, the same model on varied frames is not."""
    from lewm_agents.monitor import CollapseWarning, Monitor

    cfg = replace(tiny_config(name), action_dim=2)
    batch = _fixed_batch(tworoom_data, name, cfg, n=16)
    frame = batch.pixels[:1, :1]  # (1, 1, h, w, 3)
    one = batch._replace(
        pixels=frame.expand_as(batch.pixels).clone(),
        goal_pixels=None if batch.goal_pixels is None else frame[:, 0].expand_as(batch.goal_pixels).clone(),
    )
    recipe = replace(train_preset(name, "smoke"), model=cfg)
    learner = Learner(recipe, cfg, torch.device("cpu"))
    learner.model.train()
    std_floor, rank_frac = recipe.collapse_criterion()
    assert (std_floor, rank_frac) == (get_method(name).collapse_std, get_method(name).collapse_rank)
    warned = {}
    for kind, b in (("constant", one), ("varied", batch)):
        with torch.no_grad():
            _, metrics = learner.make_objective(torch.Generator().manual_seed(0))(b, with_stats=True)
        if get_method(name).acts == "policy" and "emb_std" not in metrics:
            pytest.skip(f"{name} acts with a policy and reports no latent statistics: nothing to judge")
        monitor = Monitor(tmp_path / kind, start_step=0, latent_dim=learner.model.latent_dim, write=True,
                          collapse_std=std_floor, collapse_fraction=rank_frac, collapse_patience=2)  # fmt: skip
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for step in (1, 2):
                monitor.log(step, {k: float(metrics[k]) for k in ("emb_std", "eff_rank")})
        monitor.close()
        warned[kind] = sum(issubclass(w.category, CollapseWarning) for w in caught)
    assert warned == {"constant": 1, "varied": 0}


def test_a_collapse_flag_overrides_the_methods_criterion():
    tdmpc = train_preset("tdmpc", "smoke")
    assert tdmpc.collapse_criterion() == (get_method("tdmpc").collapse_std, 0.02)
    assert replace(tdmpc, collapse_std=0.05).collapse_criterion() == (0.05, 0.02)  # --collapse-std: LeWM's floor
    assert replace(tdmpc, collapse_rank=0.5).collapse_criterion()[1] == 0.5
    assert get_method("tdmpc").collapse_std < 1e-4 < 0.05 == get_method("lewm").collapse_std


def _trained(name):
    torch.manual_seed(0)
    model = get_method(name).build(replace(tiny_config(name), action_dim=2))
    for p in model.parameters():  # AdaLN-zero and zero-init heads: perturb so every path matters
        p.data += 0.05 * torch.randn_like(p)
    model.train()
    model.encode(torch.randint(0, 256, (8, 2, 64, 64, 3), dtype=torch.uint8))  # moves BatchNorm running stats
    return model.eval()


@pytest.mark.parametrize("name", NAMES)
def test_save_load_predicts_and_acts_identically(tmp_path, name):
    model = _trained(name)
    path = save_checkpoint(tmp_path / "checkpoints" / "step_00000001", model, method=name, action_stats=STATS)
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.method == name and json.loads((path / "config.json").read_text())["method"] == name
    assert type(ckpt.model) is type(model) and ckpt.config == model.cfg and not ckpt.model.training
    pixels = torch.randint(0, 256, (2, 2, 64, 64, 3), dtype=torch.uint8)
    with torch.no_grad():
        z, z2 = model.encode(pixels), ckpt.model.encode(pixels)
        torch.testing.assert_close(z, z2, rtol=0, atol=0)
        if get_method(name).acts == "plan":
            actions = torch.randn(2, 4, 3, 10)  # (B, S, H, F)
            z_hat, z_hat2 = model.rollout(z[:, :1], actions), ckpt.model.rollout(z2[:, :1], actions)
            torch.testing.assert_close(z_hat, z_hat2, rtol=0, atol=0)
            torch.testing.assert_close(
                model.goal_cost(z_hat, z[:, 1], actions),
                ckpt.model.goal_cost(z_hat2, z2[:, 1], actions),
                rtol=0,
                atol=0,
            )
        else:
            torch.testing.assert_close(model.act(z[:, 0], z[:, 1]), ckpt.model.act(z2[:, 0], z2[:, 1]), rtol=0, atol=0)


@pytest.fixture(scope="module")
def tiny_runs(tworoom_data, tmp_path_factory):
    """Every method trained for a few steps on the shared TwoRoom data: {name: run directory}."""
    runs = {}
    for name in NAMES:
        run = tmp_path_factory.mktemp("runs") / name
        base = train_preset(name, "smoke")
        cfg = replace(base, data=tworoom_data, out=run, model=tiny_config(name), max_steps=6, batch_size=16,
                      progress=False, device="cpu", val_batches=1, bn_recalibration=2)  # fmt: skip
        train(cfg)
        runs[name] = run
    return runs


def _goal_env(seed_offset=0, max_steps=15):
    from lewm_agents.wrappers import GoalConditioned

    def make():
        env = GoalConditioned(gym.make("lewm/TwoRoom-v1", image_size=64, max_episode_steps=max_steps))
        env.reset(seed=seed_offset)
        return env

    return make


@pytest.mark.parametrize("name", NAMES)
def test_every_method_acts_in_sb3_evaluate_policy(tiny_runs, name):
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv

    venv = DummyVecEnv([_goal_env(), _goal_env()])
    venv.seed(3)
    plan = PlanConfig(num_samples=16, iterations=2, topk=4, horizon=3, receding_horizon=1)
    agent = load_agent(tiny_runs[name], action_space=venv.action_space, plan=plan, device="cpu")
    assert isinstance(agent, MPCAgent if get_method(name).acts == "plan" else PolicyAgent)
    rewards, lengths = evaluate_policy(agent, venv, n_eval_episodes=2, warn=False, return_episode_rewards=True)
    assert len(rewards) == 2 and all(0 < n <= 15 for n in lengths)
    assert agent.plan_batch_sizes[0] == 2 and len(agent.plan_times_ms) >= 3  # one block (5 steps) per decision
    venv.close()


def test_train_cli_shows_the_chosen_methods_fields_and_preset_defaults(capsys):
    with pytest.raises(SystemExit) as e:
        config_from_args(["d.h5", "--method", "pldm", "--preset", "small", "--help"])
    assert e.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # the help, with its line wrapping undone
    assert "--model.std-coeff FLOAT" in out and "(default: 18.0)" in out
    assert "--model.encoder-dim INT" in out and "(default: 128)" in out  # the small preset's architecture
    assert "--model.lam" not in out and "--lam" not in out  # LeWM's fields belong to LeWM
    cfg = config_from_args(["d.h5", "--method", "gcbc", "--preset", "smoke", "--model.goals.max-offset", "30"])
    assert cfg.method == "gcbc" and cfg.model.goals.max_offset == 30 and cfg.batch_size == 32


def test_lewm_flags_of_before_methods_still_work():
    cfg = config_from_args(["d.h5", "--preset", "smoke", "--lam", "0.5", "--num-proj", "8", "--model.history", "1"])
    assert (cfg.method, cfg.model.lam, cfg.model.num_proj, cfg.model.history) == ("lewm", 0.5, 8, 1)
    assert config_from_args(["d.h5", "--model.lam", "0.25"]).model.lam == 0.25


@pytest.mark.parametrize("name", NAMES)
def test_training_precision_calibration_leaves_the_run_as_it_was(tworoom_data, name, monkeypatch):
    """`Learner.calibrate_precision` (precision='auto' on a CPU) times forward + backward passes, then restores every
    weight and buffer (BatchNorm statistics, TD-MPC-style's EMA target), the global RNG and the run's SIGReg
    generator, clears the gradients, and trains in the faster precision from then on."""
    from lewm_agents import runtime

    cfg = replace(tiny_config(name), action_dim=2)
    batch = _fixed_batch(tworoom_data, name, cfg, n=8)
    learner = Learner(replace(train_preset(name, "smoke"), model=cfg), cfg, torch.device("cpu"))
    before = {k: v.clone() for k, v in learner.model.state_dict().items()}
    rng, gen = torch.get_rng_state(), learner.generator.get_state()
    calls = []
    real = runtime.calibrate

    def spy(fn, device, key, **kw):
        calls.append(kw)
        return real(fn, device, key, **kw)

    monkeypatch.setattr("lewm_agents.train.learner.calibrate", spy)
    runtime.clear_calibrations()
    chosen = learner.calibrate_precision(batch)
    assert calls and calls[0]["grad"] is True  # a training step: autograd on
    assert chosen.precision in ("bf16", "fp32") and learner.amp == chosen.dtype
    assert len(chosen.ms) == 2  # fp32 and bf16 at the current thread count
    after = learner.model.state_dict()
    for k, v in before.items():
        torch.testing.assert_close(after[k], v, rtol=0, atol=0, msg=k)
    assert all(p.grad is None for p in learner.model.parameters())
    assert torch.equal(torch.get_rng_state(), rng) and torch.equal(learner.generator.get_state(), gen)
