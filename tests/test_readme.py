"""The README's gym-loop example runs as written, against a tiny checkpoint at the path it names."""

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def gym_loop_example() -> str:
    """The python block under the "agent in a plain gymnasium loop" heading."""
    text = README.read_text()
    section = text[text.index("## The agent in a plain gymnasium loop") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_gym_loop_example_runs(tiny_run, tmp_path):
    code = gym_loop_example()
    path = re.search(r'(?:from_checkpoint|load_agent)\("([^"]+)"', code).group(1)
    (tmp_path / path).parent.mkdir(parents=True)
    (tmp_path / path).symlink_to(tiny_run, target_is_directory=True)
    # a subprocess, as a user would run it (conftest's headless settings are in this process's environment); one
    # thread, since two OpenMP threads on a CPU shared with other jobs can be 10x slower than one
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    assert re.match(r"success: (True|False) \| ms per plan: \[\d+", out.stdout), out.stdout
