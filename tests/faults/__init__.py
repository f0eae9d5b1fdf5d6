"""The fault suite: damaged files, killed processes and full disks, injected through the public entry points.

Every row asserts what the user sees and that nothing finished is lost:

- a refusal is a *clear error*: exit code != 0 (or the documented exception type, e.g. ``DatasetError``), one
  paragraph that names the file and a fix, no traceback, no crash, no hang (``harness.unclear_because``);
- an acceptance must give the user exactly what the undamaged artifact gives (*recovered*); otherwise it is *silent*;
- *lost* counts finished work the fault should not have destroyed: committed episodes that no longer load (or differ
  from a clean run's), a refused file the entry point changed, and (next) a last good checkpoint that no longer loads.

At the end of a run pytest prints the figure (faults injected, clear errors, recovered, silent, unclear, lost, by
kind); ``python benchmarks/faults.py`` runs the suite and prints it as a table. The target: 0 silent, 0 unclear,
0 lost.

Files: ``harness.py`` (generic: :class:`~tests.faults.harness.Fault`, ``Outcome``, ``Verdict``, ``FaultLog``,
running an entry point in a forked child or a real process, judging what it showed), ``datasets.py`` (dataset
artifacts: entry points, digests, byte regions, the ``dataset_fault`` row builder), ``runs.py`` (training runs: the
pristine 2-step run, the load / resume / eval entry points, the ``run_fault`` row builder), ``conftest.py`` (the
pristine artifacts, the session log, the figure), and the rows: ``test_dataset_faults.py``,
``test_collection_faults.py``, ``test_checkpoint_faults.py`` (byte flips in every checkpoint file, missing or
foreign JSON in a run directory, kill -9 during training) and ``test_input_faults.py`` (bad actions into every lewm
env's ``step``, bad observations into the agent, bad ``lewm train`` flags; an input error names the argument or flag
instead of a file).

Adding cases (the harness stays as it is)
-----------------------------------------
A new row of an existing family is one more list entry, e.g. in ``test_dataset_faults.py``::

    dataset_fault("dataset: truncation", "cut-75%", cut_to(0.75), "video")

A new entry point for datasets is one more ``Entry`` in ``datasets.ENTRIES`` (how to call it, and a digest of what
the user gets when it succeeds, compared with the same call on the pristine file).

A new family (checkpoints, the agent, training flags, env steps) is a new module ``test_<family>_faults.py`` with

1. a session fixture for its pristine artifact (a tiny trained run, a made env...), in the module or in
   ``conftest.py`` next to ``pristine_dataset``;
2. its rows: ``Fault(kind, name, run, expect, why)`` where ``run(pristine, work) -> Verdict`` copies the artifact into
   the empty folder ``work``, injects the fault, calls one public entry point and judges it, usually with
   ``judge(seen, paths, intact=...)``; run the call through ``run_cli`` (the ``lewm`` console script's ``main`` in a
   forked child), ``run_console`` (a real process), ``isolated(fn, ..., expected=(CheckpointError,))`` (a library
   call in a forked child) or ``kill_at_random`` (kill -9 at a seeded random point);
3. one parametrised test::

       @pytest.mark.parametrize("fault", FAULTS, ids=str)
       def test_checkpoint_fault(fault, pristine_checkpoint, tmp_path, fault_log):
           fault_log.check(fault, pristine_checkpoint, tmp_path)

For example a flipped byte in every file of a checkpoint::

    def flip_file(name, seed):
        def run(pristine, work):
            ckpt = work / "ckpt"
            shutil.copytree(pristine, ckpt)
            rng = np.random.default_rng(seed)
            target = ckpt / name
            flip_bit(target, int(rng.integers(target.stat().st_size)), int(rng.integers(8)))
            seen = isolated(load_and_digest, ckpt, expected=(CheckpointError,))
            return judge(seen, [target, ckpt], intact=lambda: seen.value == load_and_digest(pristine))
        return Fault("checkpoint: byte flip", f"flip-{name}-{seed}", run, expect=CLEAR_OR_HARMLESS)

Name every damaged copy neutrally (``d.h5``, ``ckpt``), and never assert on a word a path could supply: the
harness removes every path (and its parents) from a message before it looks for a fix.
"""
