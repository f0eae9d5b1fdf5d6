import numpy as np

from lewm_agents.analysis.latent_map import grid_states, latent_map, project


def test_tworoom_grid_avoids_the_wall():
    ((states, idx),) = grid_states("lewm/TwoRoom-v1", 9).values()
    assert idx == (0, 1) and len(states) > 0
    assert not ((states[:, 0] >= 100) & (states[:, 0] <= 124)).any()


def test_pusht_has_an_agent_and_a_block_map():
    maps = grid_states("lewm/PushT-v1", 4)
    assert set(maps) == {"agent", "block"} and maps["block"][1] == (2, 3)


def test_pca_keeps_a_planar_layout():
    rng = np.random.default_rng(0)
    xy = rng.uniform(size=(100, 2))
    z = xy @ rng.normal(size=(2, 16))  # a linear embedding of the plane
    p = project(z)
    # the projection is the plane up to a linear map: a least-squares fit explains it fully
    A, *_ = np.linalg.lstsq(np.c_[xy, np.ones(100)], p, rcond=None)
    assert np.allclose(np.c_[xy, np.ones(100)] @ A, p, atol=1e-8)


def test_latent_map_writes_a_png(tiny_run, tmp_path):
    r = latent_map(tiny_run, grid=6, figure=tmp_path / "map.png", tsne=False)
    assert r["maps"]["agent"]["points"] > 10 and 0 < r["maps"]["agent"]["pca_explained"] <= 1
    assert (tmp_path / "map.png").stat().st_size > 0
