"""Dataset tools: merging files, the contact sheet and episode videos."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from lewm_agents.data.format import DatasetError, DatasetReader, Episode, EpisodeWriter
from lewm_agents.data.merge import merge_datasets
from lewm_agents.data.preview import contact_sheet, default_sheet_path, save_contact_sheet, write_video


def make_dataset(path: pathlib.Path, lengths: list[int], *, offset: int = 0, size: int = 16, **attrs: object) -> None:
    """Episodes whose pixels encode (episode, step) and whose actions encode the episode: easy to trace."""
    space = {"type": "Box", "shape": [2], "low": [-1.0, -1.0], "high": [1.0, 1.0], "dtype": "float32"}
    meta = {"env_id": "Toy-v0", "image_size": size, "action_dim": 2, "policy": "random", "action_space": space}
    meta.update(attrs)
    with EpisodeWriter(path, **meta) as writer:
        for k, length in enumerate(lengths):
            pixels = np.zeros((length, size, size, 3), np.uint8)
            pixels[..., 0] = offset + k
            pixels[..., 1] = np.arange(length)[:, None, None] * 10
            pixels[:, : size // 2, :, 2] = 200  # not constant within a frame
            action = np.full((length, 2), (offset + k) / 100, np.float32)
            action[-1] = np.nan
            writer.write_episode(Episode(pixels=pixels, action=action, reward=np.arange(length, dtype=np.float32)))


def test_merge_concatenates_and_reindexes(tmp_path: pathlib.Path) -> None:
    a, b, out = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "merged.h5"
    make_dataset(a, [3, 4])
    make_dataset(b, [5, 2, 3], offset=10, policy="heuristic")
    stats = merge_datasets(out, [a, b])
    assert stats["episodes"] == 5 and stats["total_episodes"] == 5 and stats["frames"] == 17
    with DatasetReader(out) as merged, DatasetReader(a) as ra, DatasetReader(b) as rb:
        assert merged.ep_len.tolist() == [3, 4, 5, 2, 3] and merged.policy == "random+heuristic"
        np.testing.assert_array_equal(merged.column("episode_idx"), np.repeat(np.arange(5), [3, 4, 5, 2, 3]))
        for name in ("pixels", "action", "reward", "step_idx", "truncated"):
            expected = np.concatenate([ra.column(name), rb.column(name)])
            np.testing.assert_array_equal(merged.column(name), expected, err_msg=name)
        assert merged.action_space == ra.action_space
        assert [s["episodes"] for s in merged.collection["merged_from"]] == [2, 3]


def test_merge_refuses_incompatible_inputs_and_existing_outputs(tmp_path: pathlib.Path) -> None:
    a = tmp_path / "a.h5"
    make_dataset(a, [3])
    cases = {
        "image_size": dict(size=8),
        "env_id": dict(env_id="Other-v0"),
        "domain": dict(env_kwargs={"domain": "walker"}),
    }
    for i, (match, attrs) in enumerate(cases.items()):
        other = tmp_path / f"other{i}.h5"
        make_dataset(other, [3], **attrs)
        with pytest.raises(DatasetError, match=match) as info:
            merge_datasets(tmp_path / f"out{i}.h5", [a, other])
        assert str(other) in str(info.value)
        assert not (tmp_path / f"out{i}.h5").exists()
    existing = tmp_path / "existing.h5"
    make_dataset(existing, [2])
    with pytest.raises(DatasetError, match="not an unfinished merge"):
        merge_datasets(existing, [a])
    with pytest.raises(ValueError, match="also an input"):
        merge_datasets(a, [a])
    with pytest.raises(DatasetError, match="does not exist"):
        merge_datasets(tmp_path / "x.h5", [a, tmp_path / "missing.h5"])


def test_an_interrupted_merge_resumes_without_duplicates(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, out = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "merged.h5"
    make_dataset(a, [3, 4])
    make_dataset(b, [2, 2], offset=10)
    original, calls = EpisodeWriter.write_episode, []

    def crash_on_third(self: EpisodeWriter, episode: Episode) -> int:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, episode)

    monkeypatch.setattr(EpisodeWriter, "write_episode", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        merge_datasets(out, [a, b])
    monkeypatch.undo()
    with DatasetReader(out) as partial:
        assert partial.num_episodes == 2
    assert merge_datasets(out, [a, b])["episodes"] == 2
    with DatasetReader(out) as merged:
        assert merged.ep_len.tolist() == [3, 4, 2, 2]
        np.testing.assert_array_equal(merged.frames(merged.ep_offset)[:, 0, 0, 0], [0, 1, 10, 11])
    assert merge_datasets(out, [a, b])["episodes"] == 0  # complete: nothing to do


def test_contact_sheet_shows_frames_from_several_episodes(tmp_path: pathlib.Path) -> None:
    import imageio.v3 as iio

    path = tmp_path / "d.h5"
    make_dataset(path, [3, 9, 4, 6, 5, 7, 8], size=32)
    sheet, episodes = contact_sheet(path, rows=4, cols=5)
    assert episodes == [0, 2, 4, 6]
    cell = 32 * 3 + 2  # 32 px frames are upscaled x3 to reach 96 px
    assert sheet.shape == (4 * cell - 2, 5 * cell - 2, 3) and sheet.dtype == np.uint8
    assert sheet[:, :, 0].std() > 0 and sheet[:, :, 1].std() > 0
    np.testing.assert_array_equal(sheet[1::cell][:4, 1, 0], episodes)  # row r shows episode episodes[r]
    last = sheet[2 * cell + 1, 4 * cell + 1]  # last column: the episode's final frame
    assert last[1] == 10 * (5 - 1)  # row 2 is episode 4, 5 rows long

    png = save_contact_sheet(path)
    assert png == default_sheet_path(path) == tmp_path / "d.sheet.png"
    image = iio.imread(png)
    assert image.shape[2] == 3 and image.std() > 0 and image.shape[0] > 6 * 32


def test_video_has_one_frame_per_row_and_is_upscaled(tmp_path: pathlib.Path) -> None:
    import imageio.v3 as iio

    path, mp4 = tmp_path / "d.h5", tmp_path / "v" / "episodes.mp4"
    make_dataset(path, [3, 9, 4], size=32)
    stats = write_video(path, [0, -1], mp4, fps=10)
    assert stats == {"frames": 3 + 4, "side": 256, "episodes": 2}
    frames = np.stack(list(iio.imiter(mp4)))
    assert frames.shape == (7, 256, 256, 3)
    assert frames[0].std() > 0  # the half-bright frame survived encoding
    with pytest.raises(DatasetError, match=r"Episode\(s\) \[3\] do not exist"):
        write_video(path, [3], tmp_path / "x.mp4")
