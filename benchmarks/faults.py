"""The fault suite's figure, how often a flipped bit is caught, and what the checksums cost.

    python benchmarks/faults.py                     # run tests/faults, print the figure (faults injected, clear
                                                    # errors, recovered, silent, unclear, lost) by kind
    python benchmarks/faults.py --seeds 5           # more seeded kill -9 points per family
    python benchmarks/faults.py --sweep 200         # also: 200 random single-bit flips per region of a dataset
                                                    # file, with and without the Fletcher-32 checksums
    python benchmarks/faults.py --checksum-cost     # also: write and read frames/s with and without checksums

The figure's target is every fault caught: 0 silent, 0 unclear, 0 lost. "recovered" counts faults that need no
error: a flip in bytes nothing reads, a killed run that resumes. Timings depend on the load of the machine; compare
rows taken in the same run.

Families: datasets (truncation, byte flips, attributes, wrong file types), collection and merge (kill -9, a full
disk), checkpoints (a byte flip in every file, through loading, `--resume` and `lewm eval`), run directories (missing
or foreign JSON), training (kill -9, then `--resume` must end on the uninterrupted run's weights), and inputs (bad
actions into every lewm env's `step`, bad observations into `agent.act` / `predict`, bad `lewm train` flags).

One class can stay silent, and cannot be caught without changing the file format: a flipped bit in a dataset's HDF5
chunk index (a v1 B-tree) or heaps can misdirect a chunk lookup, and HDF5 then returns the fill value (zeros) without
an error. Superblock v0 keeps no checksum on them; libver v110 would (checksummed metadata), but its open-for-write
flag stops a file whose writer was killed from reopening, which the crash safety of collection relies on. Chunk data
is covered (Fletcher-32), and so is every file of a checkpoint (SHA-256).
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # scripts choose the headless backend; library code never does
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import collections
import json
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import tyro

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the sweep reuses the suite's harness (tests/faults)


@dataclass(frozen=True)
class FaultsConfig:
    """Run the fault suite and print its figure; optionally sweep random bit flips and time the checksums."""

    seeds: int = 3
    """Seeded kill -9 points per kill family (the default test run uses 1)."""
    sweep: int = 0
    """Random single-bit flips per region of a dataset file (0: no sweep)."""
    checksum_cost: bool = False
    """Time writing and reading frames with and without Fletcher-32 checksums."""
    repeats: int = 5
    """Alternating repetitions of each timing (the median is shown)."""


def cpu_name() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def run_suite(seeds: int) -> dict:
    """Run tests/faults with pytest and return its records and figure."""
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "faults.json"
        env = {**os.environ, "LEWM_FAULTS_JSON": str(out), "LEWM_FAULT_SEEDS": str(seeds)}
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/faults"],
            cwd=ROOT, env=env, capture_output=True, text=True,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        if not out.exists():
            raise SystemExit(f"the fault suite wrote no results:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        result = json.loads(out.read_text())
    result["seconds"], result["returncode"] = seconds, proc.returncode
    result["summary"] = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    return result


def print_figure(result: dict) -> None:
    from tests.faults.harness import render_figure

    print(render_figure(result["figure"]))
    print(f"\n{result['summary']} ({result['seconds']:.0f} s)")
    records = result["records"]
    notes = {(r["kind"], r["outcome"], r["why"]) for r in records if r["outcome"] != "clear error" and r["why"]}
    if notes:
        print("\nnot a clear error, by design:")
        for kind, outcome, why in sorted(notes):
            print(f"- {kind}, {outcome}: {why}")
    bad = [r for r in result["records"] if r["outcome"] not in r["expected"] or r["lost"]]
    for r in bad:
        print(f"FAILED {r['name']}: {r['outcome']}, lost {r['lost']}: {r['detail'][:300]}")


def make_dataset(path: pathlib.Path, *, checksum: bool, episodes: int = 16, image_size: int = 32) -> None:
    import lewm_agents.data.format as fmt
    from lewm_agents.data import CollectConfig, collect

    before, fmt._CHECKSUM = fmt._CHECKSUM, checksum
    try:
        collect(CollectConfig(env="tworoom", episodes=episodes, out=path, image_size=image_size, progress=False))
    finally:
        fmt._CHECKSUM = before


def sweep(flips: int) -> None:
    """Flip one random bit at ``flips`` random offsets per region; count what a full read through DatasetReader
    gives: a clear error, the original data (harmless), other data (silent), or something unclear."""
    from lewm_agents.data.format import DatasetError
    from tests.faults.datasets import dataset_digest, regions
    from tests.faults.harness import flip_bit, isolated, unclear_because

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for checksum in (True, False):
            pristine = pathlib.Path(tmp) / f"pristine-{checksum}.h5"
            make_dataset(pristine, checksum=checksum)
            want = dataset_digest(pristine)
            where = regions(pristine)
            columns = [r for chunks in where.column_chunks.values() for r in chunks]
            offsets = {
                "superblock": np.asarray(where.superblock),
                "metadata": where.metadata,
                "pixel chunks": np.concatenate([np.asarray(r) for r in where.pixel_chunks]),
                "column chunks": np.concatenate([np.asarray(r) for r in columns]),
            }
            size = pristine.stat().st_size
            rng = np.random.default_rng(0)
            target = pathlib.Path(tmp) / "d.h5"
            for region, candidates in offsets.items():
                counts: collections.Counter[str] = collections.Counter()
                for offset in rng.choice(candidates, size=min(flips, len(candidates)), replace=False):
                    target.write_bytes(pristine.read_bytes())
                    flip_bit(target, int(offset), int(rng.integers(8)))
                    seen = isolated(dataset_digest, target, expected=(DatasetError,), timeout=60)
                    if seen.crashed or seen.error_type:
                        counts["clear" if unclear_because(seen, [target]) is None else "unclear"] += 1
                    else:
                        counts["harmless" if seen.value == want else "silent"] += 1
                n = sum(counts.values())
                rows.append((checksum, region, f"{len(candidates) / size:.1%}", n, counts))
    print(f"\nrandom single-bit flips read back through DatasetReader ({flips} per region; 16 TwoRoom episodes, 32 px)")
    print("| checksums | region | share of file | flips | clear error | harmless | silent | unclear |")
    print("|---|---|---|---|---|---|---|---|")
    for checksum, region, share, n, c in rows:
        print(
            f"| {'Fletcher-32' if checksum else 'none'} | {region} | {share} | {n} | {c['clear']} | {c['harmless']} "
            f"| {c['silent']} | {c['unclear']} |"
        )


def checksum_cost(repeats: int) -> None:
    """Frames/s of EpisodeWriter and DatasetReader with and without Fletcher-32, alternating, median of repeats."""
    import lewm_agents.data.format as fmt
    from lewm_agents.data import CollectConfig, collect

    print("\nFletcher-32 cost (median of alternating repeats; frames of real TwoRoom episodes)")
    print("| image | checksums | write frames/s | random read frames/s | sequential read frames/s | file MiB |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for size in (64, 224):
            source = pathlib.Path(tmp) / f"source-{size}.h5"
            make_dataset(source, checksum=False, episodes=8, image_size=size)
            with fmt.DatasetReader(source) as r:
                episodes = list(r.iter_episodes())
                meta = {"env_id": r.env_id, "image_size": r.image_size, "action_dim": r.action_dim}
            episodes = episodes * max(1, 2000 // sum(map(len, episodes)))
            frames = sum(map(len, episodes))
            times: dict[bool, dict[str, list[float]]] = {c: collections.defaultdict(list) for c in (False, True)}
            sizes: dict[bool, float] = {}
            rows = np.random.default_rng(0).integers(0, frames, 2000)
            for _ in range(repeats):
                for checksum in (False, True):
                    path = pathlib.Path(tmp) / f"t-{size}-{checksum}.h5"
                    path.unlink(missing_ok=True)
                    fmt._CHECKSUM = checksum
                    start = time.perf_counter()
                    with fmt.EpisodeWriter(path, **meta) as writer:
                        for episode in episodes:
                            writer.write_episode(episode)
                    times[checksum]["write"].append(frames / (time.perf_counter() - start))
                    fmt._CHECKSUM = True
                    with fmt.DatasetReader(path) as reader:
                        start = time.perf_counter()
                        for row in rows:
                            reader.frames(row[None])
                        times[checksum]["random"].append(len(rows) / (time.perf_counter() - start))
                        start = time.perf_counter()
                        reader.frames(np.arange(reader.num_frames))
                        times[checksum]["sequential"].append(frames / (time.perf_counter() - start))
                    sizes[checksum] = path.stat().st_size / 2**20
            for checksum in (False, True):
                t = {k: statistics.median(v) for k, v in times[checksum].items()}
                print(
                    f"| {size} px | {'Fletcher-32' if checksum else 'none'} | {t['write']:,.0f} | {t['random']:,.0f} "
                    f"| {t['sequential']:,.0f} | {sizes[checksum]:.2f} |"
                )
        # What a user waits for: `lewm collect` end to end (env, renderer, policy and writer in one process).
        collected: dict[bool, list[float]] = {False: [], True: []}
        for i in range(repeats):
            for checksum in (False, True):
                fmt._CHECKSUM = checksum
                out = pathlib.Path(tmp) / f"c{i}{checksum}.h5"
                stats = collect(CollectConfig(env="tworoom", episodes=20, out=out, progress=False))
                collected[checksum].append(stats["frames_per_s"])
        fmt._CHECKSUM = True
        print("\n| lewm collect tworoom, 64 px, 1 worker | frames/s (median) |\n|---|---|")
        for checksum in (False, True):
            print(f"| {'Fletcher-32' if checksum else 'none'} | {statistics.median(collected[checksum]):,.0f} |")


def main(cfg: FaultsConfig) -> None:
    print(f"CPU: {cpu_name()}, {os.cpu_count()} logical cores\n")
    result = run_suite(cfg.seeds)
    print_figure(result)
    if cfg.sweep:
        sweep(cfg.sweep)
    if cfg.checksum_cost:
        checksum_cost(cfg.repeats)
    if result["returncode"] != 0:
        raise SystemExit(result["returncode"])


if __name__ == "__main__":
    main(tyro.cli(FaultsConfig))
