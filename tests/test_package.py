"""The package's shape: it imports without the env extras, and ``-m lewm_agents.train`` (torchrun's entry) runs
every module once."""

import os
import subprocess
import sys
import textwrap

BLOCK_ENVS = textwrap.dedent(
    """
    import importlib.abc, sys

    class Blocker(importlib.abc.MetaPathFinder):  # as if lewm_envs (the env extras) were not installed
        def find_spec(self, name, path=None, target=None):
            if name == "lewm_envs" or name.startswith("lewm_envs."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
    """
)


def _python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_the_package_imports_without_the_env_suite():
    code = BLOCK_ENVS + textwrap.dedent(
        """
        import lewm_agents.model, lewm_agents.methods, lewm_agents.agent, lewm_agents.train
        import lewm_agents
        assert "lewm_envs" not in sys.modules
        print(lewm_agents.LeWM.__name__, sorted(lewm_agents.METHODS))
        """
    )
    out = _python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "LeWM ['dreamer', 'gcbc', 'lewm', 'pldm', 'tdmpc']"
    # the blocker does block: importing the envs themselves fails
    out = _python(BLOCK_ENVS + "import lewm_envs")
    assert out.returncode != 0 and "No module named 'lewm_envs'" in out.stderr


def test_the_package_still_registers_the_envs_when_present():
    out = _python("import gymnasium as gym, lewm_agents; print(gym.spec('lewm/TwoRoom-v1').id)")
    assert out.returncode == 0 and out.stdout.strip() == "lewm/TwoRoom-v1", out.stderr


def test_train_module_entry_executes_each_module_once():
    """Records every module body Python executes (the "exec" audit event) while ``-m lewm_agents.train`` runs a dry
    run; a module imported both as __main__ and by name would be executed twice."""
    code = textwrap.dedent(
        """
        import runpy, sys
        executed = []

        def hook(event, args):
            if event == "exec" and hasattr(args[0], "co_filename") and args[0].co_name == "<module>":
                executed.append(args[0].co_filename)

        sys.addaudithook(hook)
        sys.argv = ["lewm_agents.train", "--method", "gcbc", "--preset", "smoke", "--dry-run"]
        try:
            runpy.run_module("lewm_agents.train", run_name="__main__", alter_sys=True)
        except SystemExit as e:
            assert e.code == 0, e.code
        ours = [f for f in executed if "lewm_agents" in f]
        twice = sorted({f for f in ours if ours.count(f) > 1})
        print("TWICE", twice, "RAN", len(ours))
        """
    )
    out = _python(code)
    assert out.returncode == 0, out.stderr
    assert "params/total" in out.stdout and "TWICE []" in out.stdout, out.stdout
    assert int(out.stdout.split("RAN")[1]) > 10  # the hook did see the package's modules
