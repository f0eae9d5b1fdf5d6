"""Fixtures of the fault suite (the pristine artifacts, the session's FaultLog) and the figure at the end of a run.

Set ``LEWM_FAULTS_JSON=PATH`` to also write every record and the figure as JSON (``benchmarks/faults.py`` does).
"""

from __future__ import annotations

import os
import pathlib

import pytest

from tests.faults.harness import FaultLog, render_figure, write_json

_LOG = pytest.StashKey[FaultLog]()


@pytest.fixture
def fault_log(request: pytest.FixtureRequest) -> FaultLog:
    """The session's record of fault cases."""
    return request.config.stash.setdefault(_LOG, FaultLog())


@pytest.fixture(scope="session")
def pristine_dataset(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A small dataset (16 TwoRoom episodes at 32 px), written by `lewm collect`'s library call; never modified."""
    from lewm_agents.data import CollectConfig, collect
    from tests.faults.datasets import ENV, IMAGE_SIZE

    path = tmp_path_factory.mktemp("pristine") / "pristine.h5"
    collect(CollectConfig(env=ENV, episodes=16, out=path, image_size=IMAGE_SIZE, progress=False))
    path.chmod(0o444)
    return path


@pytest.fixture(scope="session")
def pristine_run(pristine_dataset: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A 2-step LeWM trained on a copy of the pristine dataset (``<root>/data.h5``), its step-1 checkpoint kept
    (``<root>/run``) and the SHA-256 of its step-2 weights in ``<root>/final.sha256``; never modified."""
    import shutil

    from tests.faults.runs import make_run

    root = tmp_path_factory.mktemp("pristine-run")
    shutil.copyfile(pristine_dataset, root / "data.h5")
    (root / "data.h5").chmod(0o444)
    return make_run(root / "data.h5", root)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    log = config.stash.get(_LOG, None)
    if log is None or not log.records:
        return
    terminalreporter.section("fault suite")
    terminalreporter.write_line(render_figure(log.figure()))
    if os.environ.get("LEWM_FAULTS_JSON"):
        write_json(os.environ["LEWM_FAULTS_JSON"], log.records)
