"""ClipDataset, action statistics and the episode split, checked against hand-computed values."""

from __future__ import annotations

import pathlib
import pickle

import numpy as np
import pytest
import torch

from lewm_agents.data.batch import Batch, HindsightGoals
from lewm_agents.data.dataset import ActionStats, ClipDataset, compute_action_stats, split_episodes
from lewm_agents.data.format import DatasetError, DatasetReader, Episode, EpisodeWriter

LENGTHS = (3, 9, 12, 20)
SIZE = 8


@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Episodes whose pixels and actions encode (episode, step): pixel = (ep, step, 7), action = (100 ep + t, -t)."""
    path = tmp_path_factory.mktemp("clips") / "clips.h5"
    with EpisodeWriter(path, env_id="Toy-v0", image_size=SIZE, action_dim=2) as writer:
        for ep, length in enumerate(LENGTHS):
            t = np.arange(length)
            pixels = np.zeros((length, SIZE, SIZE, 3), np.uint8)
            pixels[..., 0], pixels[..., 1], pixels[..., 2] = ep, t[:, None, None], 7
            action = np.stack([100.0 * ep + t, -t], axis=1).astype(np.float32)
            action[-1] = np.nan
            writer.write_episode(Episode(pixels=pixels, action=action, truncated=True))
    return path


STATS = ActionStats(mean=(100.0, -4.0), std=(50.0, 2.0))


def raw_action(ep: int, t: int) -> np.ndarray:
    return np.array([100.0 * ep + t, -t]) if t < LENGTHS[ep] - 1 else np.full(2, np.nan)


def test_clip_count_follows_the_sliding_window_formula(dataset_path: pathlib.Path) -> None:
    ds = ClipDataset(dataset_path, num_steps=2, frameskip=3, action_stats=STATS)
    counts = [max(n - 2 * 3 + 1, 0) for n in LENGTHS]  # starts 0 .. L - T*F
    assert len(ds) == sum(counts) == 0 + 4 + 7 + 15
    expected = [(ep, s) for ep, c in enumerate(counts) for s in range(c)]
    np.testing.assert_array_equal(ds.clip_index, expected)
    assert ds.frame_shape == (SIZE, SIZE, 3)
    subset = ClipDataset(dataset_path, num_steps=2, frameskip=3, action_stats=STATS, episodes=[0, 2])
    assert len(subset) == 7 and set(subset.clip_index[:, 0].tolist()) == {2}


@pytest.mark.parametrize("in_memory", [True, False])
def test_clip_pixels_and_action_blocks_match_hand_computed_values(dataset_path: pathlib.Path, in_memory: bool) -> None:
    num_steps, frameskip = 3, 2
    ds = ClipDataset(dataset_path, num_steps=num_steps, frameskip=frameskip, action_stats=STATS, in_memory=in_memory)
    for ep, start in [(1, 0), (3, 5), (3, 14)]:  # (3, 14) is the last clip of episode 3: it holds the NaN row
        i = int(np.flatnonzero((ds.clip_index == [ep, start]).all(axis=1))[0])
        pixels, actions = ds[i][:2]
        assert pixels.dtype == torch.uint8 and pixels.shape == (num_steps, SIZE, SIZE, 3)
        assert actions.dtype == torch.float32 and actions.shape == (num_steps, frameskip * 2)
        np.testing.assert_array_equal(pixels[:, 0, 0, 0], [ep] * num_steps)
        np.testing.assert_array_equal(pixels[:, 0, 0, 1], start + np.arange(num_steps) * frameskip)
        for block in range(num_steps):
            rows = [start + block * frameskip + j for j in range(frameskip)]
            raw = np.stack([raw_action(ep, t) for t in rows])  # (F, A)
            expected = np.nan_to_num((raw - np.array(STATS.mean)) / np.array(STATS.std), nan=0.0).reshape(-1)
            np.testing.assert_allclose(actions[block].numpy(), expected, rtol=1e-6)
    _, last_actions = ds[int(np.flatnonzero((ds.clip_index == [3, 14]).all(axis=1))[0])][:2]
    assert (last_actions[-1, 2:] == 0).all()  # the final row's NaN action became 0 after normalising


def test_in_memory_and_lazy_reads_agree_and_work_in_a_dataloader(dataset_path: pathlib.Path) -> None:
    memory = ClipDataset(dataset_path, num_steps=4, frameskip=1, action_stats=STATS, in_memory=True)
    lazy = ClipDataset(dataset_path, num_steps=4, frameskip=1, action_stats=STATS, in_memory=False)
    first = lazy[0]  # opens a handle in this process; forked workers and pickles must not reuse it
    unpickled = pickle.loads(pickle.dumps(lazy))
    assert all(torch.equal(a, b) for a, b in zip(unpickled[0][:2], first[:2]))
    loader = torch.utils.data.DataLoader(lazy, batch_size=8, num_workers=2, shuffle=False, collate_fn=Batch.collate)
    pixels, actions = zip(*(batch[:2] for batch in loader))
    pixels, actions = torch.cat(pixels), torch.cat(actions)  # (K, T, H, W, 3), (K, T, A)
    assert len(pixels) == len(memory)
    for i in range(len(memory)):
        expected_pixels, expected_actions = memory[i][:2]
        assert torch.equal(pixels[i], expected_pixels) and torch.equal(actions[i], expected_actions)
    lazy.close()


def test_too_short_episodes_raise_a_clear_error(dataset_path: pathlib.Path) -> None:
    with pytest.raises(DatasetError, match="num_steps\\*frameskip = 4\\*5 = 20 rows"):
        ClipDataset(dataset_path, num_steps=4, frameskip=5, action_stats=STATS, episodes=[0, 1, 2])
    assert len(ClipDataset(dataset_path, num_steps=4, frameskip=5, action_stats=STATS)) == 1  # 20 rows: one clip
    with pytest.raises(ValueError, match="action_dim=2"):
        ClipDataset(dataset_path, num_steps=2, frameskip=1, action_stats=ActionStats(mean=(0.0,), std=(1.0,)))


def test_compute_action_stats_ignores_nan_rows(dataset_path: pathlib.Path) -> None:
    with DatasetReader(dataset_path) as reader:
        stats = compute_action_stats(reader)
        subset = compute_action_stats(reader, episodes=[1])
    finite = np.concatenate([np.stack([raw_action(ep, t) for t in range(n - 1)]) for ep, n in enumerate(LENGTHS)])
    np.testing.assert_allclose(stats.mean, finite.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(stats.std, finite.std(axis=0), rtol=1e-6)
    np.testing.assert_allclose(subset.mean, [100 + 3.5, -3.5])


def test_action_stats_round_trip_and_floor() -> None:
    stats = ActionStats(mean=(1.0, -2.0), std=(0.5, 3.0))
    assert ActionStats.from_dict(stats.to_dict()) == stats
    a = np.random.default_rng(0).normal(size=(5, 4, 2)).astype(np.float32)
    np.testing.assert_allclose(stats.denormalize(stats.normalize(a)), a, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        ActionStats(mean=(0.0,), std=(0.0,))


def test_constant_action_dimension_gets_the_std_floor(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "const.h5"
    action = np.array([[1.0, 5.0], [2.0, 5.0], [np.nan, np.nan]], np.float32)
    with EpisodeWriter(path, env_id="Toy-v0", image_size=SIZE, action_dim=2) as writer:
        writer.write_episode(Episode(pixels=np.zeros((3, SIZE, SIZE, 3), np.uint8), action=action))
    with DatasetReader(path) as reader:
        assert compute_action_stats(reader).std[1] == pytest.approx(1e-6)


@pytest.mark.parametrize(("num_episodes", "val_fraction"), [(10, 0.1), (10, 0.25), (7, 0.0), (1, 0.5), (2, 0.9)])
def test_split_episodes_is_disjoint_covering_and_keeps_training_data(num_episodes: int, val_fraction: float) -> None:
    train, val = split_episodes(num_episodes, val_fraction, seed=3)
    assert len(train) >= 1 and not set(train) & set(val)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(num_episodes))
    if val_fraction == 0:
        assert len(val) == 0
    elif num_episodes >= 2:
        assert len(val) >= 1
    again = split_episodes(num_episodes, val_fraction, seed=3)
    np.testing.assert_array_equal(again[0], train)
    with pytest.raises(ValueError):
        split_episodes(num_episodes, 1.0, seed=0)


GOALS = [
    HindsightGoals(),
    HindsightGoals(distribution="geometric", discount=0.7),
    HindsightGoals(min_offset=2, max_offset=4),
]


@pytest.mark.parametrize("goals", GOALS, ids=["uniform", "geometric", "capped"])
def test_hindsight_goals_are_future_frames_of_the_same_episode(dataset_path: pathlib.Path, goals) -> None:
    ds = ClipDataset(dataset_path, num_steps=2, frameskip=2, action_stats=STATS, goals=goals, seed=5)
    offsets = []
    for i in range(len(ds)):
        ep, start = ds.clip_index[i]
        for draw in range(6):
            item = ds[(i, draw)]
            goal = item.goal_pixels.numpy()
            assert item.goal_pixels.shape == (SIZE, SIZE, 3) and item.goal_offset.dtype == torch.int64
            assert goal[0, 0, 0] == ep  # the clip's own episode ...
            assert goal[0, 0, 1] == start + int(item.goal_offset)  # ... the frame goal_offset steps after its start
            assert goals.min_offset <= int(item.goal_offset) <= LENGTHS[ep] - 1 - start  # in the future, in the episode
            if goals.max_offset is not None:
                assert int(item.goal_offset) <= goals.max_offset
            offsets.append(int(item.goal_offset))
    assert len(set(offsets)) > 2  # goals vary
    again = ClipDataset(dataset_path, num_steps=2, frameskip=2, action_stats=STATS, goals=goals, seed=5)
    assert all(torch.equal(ds[(i, 3)].goal_pixels, again[(i, 3)].goal_pixels) for i in range(len(ds)))  # reproducible
    assert torch.equal(ds[4].goal_pixels, ds[(4, 0)].goal_pixels)  # a plain index is draw 0


def test_goal_offset_distributions() -> None:
    rng = np.random.default_rng(0)
    uniform = np.array([HindsightGoals().draw(9, rng) for _ in range(9000)])
    assert set(uniform) == set(range(1, 10)) and np.bincount(uniform)[1:].min() > 800  # flat over 1 .. 9
    geometric = np.array([HindsightGoals(distribution="geometric", discount=0.5).draw(100, rng) for _ in range(9000)])
    counts = np.bincount(geometric)
    assert counts[2] / counts[1] == pytest.approx(0.5, abs=0.06) and geometric.max() <= 100  # P(k) ~ 0.5^k
    short = [HindsightGoals(distribution="geometric", discount=0.99).draw(3, rng) for _ in range(300)]
    assert set(short) == {1, 2, 3}  # truncated at the episode's end
    with pytest.raises(ValueError, match="future"):
        HindsightGoals(min_offset=0)


def test_extra_columns_and_the_batch_collate(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "cols.h5"
    with EpisodeWriter(path, env_id="Toy-v0", image_size=SIZE, action_dim=2) as writer:
        t = np.arange(10, dtype=np.float32)
        action = np.zeros((10, 2), np.float32)
        action[-1] = np.nan
        writer.write_episode(
            Episode(
                pixels=np.zeros((10, SIZE, SIZE, 3), np.uint8),
                action=action,
                proprio=t[:, None],
                state=np.stack([t, -t], 1),
            )
        )
    ds = ClipDataset(path, num_steps=3, frameskip=2, action_stats=STATS, fields=("proprio", "state"))
    item = ds[1]  # frames 1, 3, 5
    assert item.proprio.tolist() == [[1.0], [3.0], [5.0]] and item.state[:, 1].tolist() == [-1.0, -3.0, -5.0]
    assert item.goal_pixels is None and item.goal_offset is None
    batch = Batch.collate([ds[0], ds[1]])
    assert batch.proprio.shape == (2, 3, 1) and batch.state.shape == (2, 3, 2) and batch.goal_pixels is None
    assert batch.to("cpu").size == 2
    with pytest.raises(DatasetError, match="state"):
        ClipDataset(
            dataset_path_without_state(tmp_path), num_steps=1, frameskip=1, action_stats=STATS, fields=("state",)
        )
    with pytest.raises(ValueError, match="unknown ClipDataset fields"):
        ClipDataset(path, num_steps=1, frameskip=1, action_stats=STATS, fields=("reward",))


def dataset_path_without_state(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "nostate.h5"
    with EpisodeWriter(path, env_id="Toy-v0", image_size=SIZE, action_dim=2) as writer:
        action = np.zeros((4, 2), np.float32)
        action[-1] = np.nan
        writer.write_episode(Episode(pixels=np.zeros((4, SIZE, SIZE, 3), np.uint8), action=action))
    return path
