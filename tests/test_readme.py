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


def test_readme_gym_loop_example_runs(tmp_path):
    # the example loads a checkpoint shipped with the package: it must run right after install, as written
    code = gym_loop_example()
    assert "from_pretrained(" in code
    # a subprocess, as a user would run it (conftest's headless settings are in this process's environment); one
    # thread, since two OpenMP threads on a CPU shared with other jobs can be 10x slower than one
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    assert re.match(r"success: (True|False) \| ms per plan: \[\d+", out.stdout), out.stdout
