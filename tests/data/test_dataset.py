"""ClipDataset, action statistics and the episode split, checked against hand-computed values."""

from __future__ import annotations

import pathlib
import pickle

import numpy as np
import pytest
import torch

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
        pixels, actions = ds[i]
        assert pixels.dtype == torch.uint8 and pixels.shape == (num_steps, SIZE, SIZE, 3)
        assert actions.dtype == torch.float32 and actions.shape == (num_steps, frameskip * 2)
        np.testing.assert_array_equal(pixels[:, 0, 0, 0], [ep] * num_steps)
        np.testing.assert_array_equal(pixels[:, 0, 0, 1], start + np.arange(num_steps) * frameskip)
        for block in range(num_steps):
            rows = [start + block * frameskip + j for j in range(frameskip)]
            raw = np.stack([raw_action(ep, t) for t in rows])  # (F, A)
            expected = np.nan_to_num((raw - np.array(STATS.mean)) / np.array(STATS.std), nan=0.0).reshape(-1)
            np.testing.assert_allclose(actions[block].numpy(), expected, rtol=1e-6)
    _, last_actions = ds[int(np.flatnonzero((ds.clip_index == [3, 14]).all(axis=1))[0])]
    assert (last_actions[-1, 2:] == 0).all()  # the final row's NaN action became 0 after normalising


def test_in_memory_and_lazy_reads_agree_and_work_in_a_dataloader(dataset_path: pathlib.Path) -> None:
    memory = ClipDataset(dataset_path, num_steps=4, frameskip=1, action_stats=STATS, in_memory=True)
    lazy = ClipDataset(dataset_path, num_steps=4, frameskip=1, action_stats=STATS, in_memory=False)
    first = lazy[0]  # opens a handle in this process; forked workers and pickles must not reuse it
    unpickled = pickle.loads(pickle.dumps(lazy))
    assert all(torch.equal(a, b) for a, b in zip(unpickled[0], first))
    loader = torch.utils.data.DataLoader(lazy, batch_size=8, num_workers=2, shuffle=False)
    pixels, actions = zip(*loader)
    pixels, actions = torch.cat(pixels), torch.cat(actions)  # (K, T, H, W, 3), (K, T, A)
    assert len(pixels) == len(memory)
    for i in range(len(memory)):
        expected_pixels, expected_actions = memory[i]
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
