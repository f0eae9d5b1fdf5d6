"""The fault suite's harness: what a fault case is, how an entry point is run safely, and how what the user saw is
judged and counted. Artifact-agnostic: datasets live in ``datasets.py``; checkpoints, agents and envs add theirs.

A :class:`Fault` is one row: ``run(pristine, work)`` copies a pristine artifact into the empty folder ``work``,
damages it (or kills a process working on it), hands it to one public entry point and returns a :class:`Verdict`.
:meth:`FaultLog.check` runs it, records it for the figure and asserts that the outcome is one the row expects and
that nothing finished was lost.
"""

from __future__ import annotations

import enum
import faulthandler
import hashlib
import io
import json
import os
import pathlib
import pickle
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

TIMEOUT_S = 120.0
"""Default limit of one entry point: a hang is a fault too (judged UNCLEAR)."""

# Words of a fix in our error messages, looked for after every path has been removed from the message (a folder
# named after a test must never supply the word).
FIX_WORDS = (
    "re-collect", "restore", "copy it again", "delete", "check", "wait", "set it", "pass ", "use ", "choose",
    "write to", "rerun", "free ", "install", "convert", "upgrade", "lower", "collect", "resume", "retrain",
)  # fmt: skip


class Outcome(enum.Enum):
    """What the user got from a fault."""

    CLEAR = "clear error"
    """Refused: exit code != 0 (or a library error of the documented type) with one paragraph that names the file and
    a fix, and no traceback."""
    RECOVERED = "recovered"
    """Nothing to refuse: what the entry point returned equals the original (a flip in unused bytes), or the fault
    was survived as designed (a killed run resumed)."""
    SILENT = "silent"
    """Accepted: no error, but what the user got differs from the original."""
    UNCLEAR = "unclear error"
    """Refused badly: a traceback, a crash, a hang, an error of another type, or a message without the file or a fix,
    or one that names another cause (a truncated file reported as locked)."""


CLEAR_ONLY = frozenset({Outcome.CLEAR})
CLEAR_OR_HARMLESS = frozenset({Outcome.CLEAR, Outcome.RECOVERED})
SURVIVED = frozenset({Outcome.RECOVERED})


@dataclass(frozen=True)
class Verdict:
    """The judgement of one fault case."""

    outcome: Outcome
    detail: str = ""
    """The message the user saw, or what differed."""
    lost: int = 0
    """Finished work the fault or the entry point destroyed although it should have survived: committed episodes
    that no longer load, a last good checkpoint that no longer loads, a refused file the entry point changed."""


@dataclass(frozen=True)
class Fault:
    """One parametrised row of the fault suite."""

    kind: str
    """The figure's row it counts in, e.g. ``dataset: truncation``."""
    name: str
    """Unique test id, e.g. ``truncate-50%-info``."""
    run: Callable[[pathlib.Path, pathlib.Path], Verdict]
    """(pristine artifact, empty work folder) -> verdict."""
    expect: frozenset[Outcome] = CLEAR_ONLY
    """Outcomes that pass."""
    why: str = ""
    """Why an outcome other than a clear error is right (shown in the figure's notes)."""

    def __str__(self) -> str:
        return self.name


@dataclass
class FaultLog:
    """Every fault case run in this session, for the figure."""

    records: list[dict[str, Any]] = field(default_factory=list)

    def check(self, fault: Fault, pristine: pathlib.Path, work: pathlib.Path) -> Verdict:
        """Run ``fault``, record its verdict, and assert that it is expected and that nothing was lost."""
        start = time.perf_counter()
        verdict = fault.run(pristine, work)
        self.records.append(
            {
                "kind": fault.kind,
                "name": fault.name,
                "outcome": verdict.outcome.value,
                "expected": sorted(o.value for o in fault.expect),
                "lost": verdict.lost,
                "seconds": round(time.perf_counter() - start, 2),
                "detail": verdict.detail[:400],
                "why": fault.why,
            }
        )
        assert verdict.outcome in fault.expect, f"{fault.name}: {verdict.outcome.value}: {verdict.detail}"
        assert verdict.lost == 0, f"{fault.name}: lost {verdict.lost}: {verdict.detail}"
        return verdict

    def figure(self) -> list[dict[str, Any]]:
        """One row per kind (and a total): faults injected, clear errors, recovered, silent, unclear, data lost."""
        return figure(self.records)


def figure(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Count records by kind: injected, clear, recovered, silent, unclear, lost (and the total row last)."""
    rows: dict[str, dict[str, Any]] = {}
    total = {"kind": "total", "injected": 0, **{o.value: 0 for o in Outcome}, "lost": 0}
    for r in records:
        row = rows.setdefault(r["kind"], {"kind": r["kind"], "injected": 0, **{o.value: 0 for o in Outcome}, "lost": 0})
        for target in (row, total):
            target["injected"] += 1
            target[r["outcome"]] += 1
            target["lost"] += r["lost"]
    return [*rows.values(), total]


def render_figure(rows: Sequence[dict[str, Any]]) -> str:
    """The figure as a markdown table."""
    columns = ["kind", "injected", *(o.value for o in Outcome), "lost"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(row[c]) for c in columns) + " |")
    return "\n".join(lines)


# --- running an entry point ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """What one call of an entry point showed."""

    exit_code: int | None = None
    """The CLI's exit code (None for a library call or when it never returned)."""
    error_type: str | None = None
    """Class name of the exception a library call raised (or that escaped the CLI)."""
    expected_error: bool = False
    """The exception is of the type the entry point documents (e.g. DatasetError)."""
    message: str = ""
    """The exception's text, or the CLI's stderr."""
    traceback: bool = False
    """A traceback reached the user."""
    crashed: str | None = None
    """The process died from a signal or hung past its time limit."""
    value: Any = None
    """What a library call returned (e.g. a digest of everything it read)."""
    stdout: str = ""


def isolated(fn: Callable[..., Any], *args: Any, expected: tuple[type, ...] = (), timeout: float = TIMEOUT_S) -> Seen:
    """Call ``fn(*args)`` in a forked child, so a crash (HDF5 on a damaged file) or a hang cannot take the test
    session down. The child's stdout and stderr are captured; ``expected`` are the documented exception types."""
    if not hasattr(os, "fork"):  # no fork (Windows): run here, unprotected
        return _call(fn, args, expected)
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        status = 0
        try:
            faulthandler.disable()  # a crash is reported by its signal, not by pytest's dump on the terminal
            os.close(read_end)
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", 0), write_through=True)
            sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", 0), write_through=True)
            if "torch" in sys.modules:  # an OpenMP pool inherited from the parent must not be entered after fork
                sys.modules["torch"].set_num_threads(1)
            payload = pickle.dumps(_call(fn, args, expected))
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    payload, deadline, timed_out = b"", time.monotonic() + timeout, False
    with os.fdopen(read_end, "rb") as pipe:
        while True:
            ready, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            chunk = os.read(pipe.fileno(), 1 << 16)
            if not chunk:
                break
            payload += chunk
    _, status = os.waitpid(pid, 0)
    out.seek(0)
    err.seek(0)
    stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    out.close()
    err.close()
    if timed_out:
        return Seen(crashed=f"hung for more than {timeout:.0f} s", message=stderr, stdout=stdout)
    if os.WIFSIGNALED(status):
        return Seen(crashed=signal.Signals(os.WTERMSIG(status)).name, message=stderr, stdout=stdout)
    if not payload:
        return Seen(crashed=f"child exited with status {os.WEXITSTATUS(status)}", message=stderr, stdout=stdout)
    seen: Seen = pickle.loads(payload)
    if seen.exit_code is not None:  # a CLI call: what the user sees is the captured streams
        return Seen(seen.exit_code, seen.error_type, False, stderr, seen.traceback, None, seen.value, stdout)
    return seen


def _call(fn: Callable[..., Any], args: Sequence[Any], expected: tuple[type, ...]) -> Seen:
    try:
        value = fn(*args)
    except BaseException as exc:
        text = "".join(traceback.format_exception(exc))
        print(text, file=sys.stderr)
        return Seen(
            error_type=type(exc).__name__,
            expected_error=isinstance(exc, expected),
            message=str(exc),
            traceback=not isinstance(exc, expected),
        )
    if isinstance(value, Seen):
        return value
    return Seen(value=value)


def _cli_main(args: Sequence[str]) -> Seen:
    from lewm_agents.cli import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # tyro's usage errors exit
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        return Seen(exit_code=1, traceback=True, error_type="uncaught")
    return Seen(exit_code=code)


def run_cli(*args: object, timeout: float = TIMEOUT_S) -> Seen:
    """``lewm ARGS`` as the console script runs it (``lewm_agents.cli.main``), in a forked child."""
    return isolated(_cli_main, [str(a) for a in args], timeout=timeout)


def run_console(*args: object, timeout: float = TIMEOUT_S, env: dict[str, str] | None = None) -> Seen:
    """``python -m lewm_agents ARGS`` in a fresh interpreter (for what only a real process shows)."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "lewm_agents", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired as exc:
        return Seen(crashed=f"hung for more than {timeout:.0f} s", message=str(exc.stderr or ""))
    if proc.returncode < 0:
        return Seen(crashed=signal.Signals(-proc.returncode).name, message=proc.stderr, stdout=proc.stdout)
    return Seen(
        exit_code=proc.returncode, message=proc.stderr, traceback="Traceback" in proc.stderr, stdout=proc.stdout
    )


# --- judging what the user saw ---------------------------------------------------------------------------------


def unclear_because(seen: Seen, paths: Sequence[pathlib.Path], says: Sequence[str] = ()) -> str | None:
    """Why an error the user saw is not a clear one (None when it is): one paragraph naming a file and a fix, and
    (when ``says`` is given) one of the words that name the real cause, e.g. "cut short" for a truncated file."""
    if seen.crashed:
        return f"crashed: {seen.crashed}"
    if seen.traceback or "Traceback (most recent call last)" in seen.message:
        return "a traceback reached the user"
    if seen.exit_code is None and not seen.expected_error:
        return f"raised {seen.error_type}, not the documented error type"
    message = seen.message.strip()
    if not message:
        return "no message"
    if "\n\n" in message:
        return "more than one paragraph"
    named = [p for p in paths if str(p) in message]
    if not named:
        return "the message names none of the files involved"
    bare = without_paths(message, paths).lower()
    if not any(word in bare for word in FIX_WORDS):
        return "the message says no fix"
    if says and not any(word.lower() in bare for word in says):
        return f"the message names another cause (expected one of {list(says)})"
    return None


def without_paths(message: str, paths: Iterable[pathlib.Path]) -> str:
    """``message`` with every path (and its parents) cut out, longest first, so no folder name supplies a word."""
    names = {str(p) for path in paths for p in (path, *path.parents) if len(str(p)) > 1}
    for name in sorted(names, key=len, reverse=True):
        message = message.replace(name, "<path>")
    return message


def judge(
    seen: Seen, paths: Sequence[pathlib.Path], *, intact: Callable[[], bool], says: Sequence[str] = ()
) -> Verdict:
    """The verdict on one call: a refusal is CLEAR or UNCLEAR (see :func:`unclear_because`; ``says``: words naming
    the real cause, one of which the message must contain); an acceptance is RECOVERED if ``intact()`` (what the user
    got equals the original) and SILENT otherwise."""
    refused = seen.crashed or seen.error_type or (seen.exit_code not in (None, 0))
    if refused:
        reason = unclear_because(seen, paths, says)
        detail = seen.message.strip()[-600:] or str(seen.crashed)
        return Verdict(
            Outcome.CLEAR if reason is None else Outcome.UNCLEAR, detail if reason is None else f"{reason}: {detail}"
        )
    if intact():
        return Verdict(Outcome.RECOVERED, "accepted; what it returned equals the original")
    return Verdict(Outcome.SILENT, "accepted, and what the user got differs from the original")


# --- files -----------------------------------------------------------------------------------------------------


def file_digest(path: pathlib.Path) -> str:
    """sha256 of a file's bytes, or of a folder's files (names and bytes)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in files:
        h.update(str(p.relative_to(path) if path.is_dir() else p.name).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def flip_bit(path: pathlib.Path, offset: int, bit: int) -> None:
    """Flip one bit of a file in place."""
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ (1 << bit)]))


def truncate(path: pathlib.Path, size: int) -> None:
    """Cut a file to ``size`` bytes."""
    with open(path, "r+b") as f:
        f.truncate(size)


def kill_at_random(
    cmd: Sequence[str],
    *,
    ready: Callable[[], bool],
    delay_s: float,
    just_before: Callable[[], Any] = lambda: None,
    timeout: float = TIMEOUT_S,
) -> tuple[int, Any, str]:
    """Start ``cmd``, wait until ``ready()`` (polled every 5 ms), sleep ``delay_s`` (a seeded random delay), call
    ``just_before()``, SIGKILL the process, and return its return code (negative: killed; >= 0: it ended before the
    kill), what ``just_before`` returned, and its stderr."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(list(cmd), stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + timeout
            while not ready() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(delay_s)
            state = just_before()
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err.seek(0)
        return proc.returncode, state, err.read().decode(errors="replace")


def write_json(path: str | os.PathLike, records: list[dict[str, Any]]) -> None:
    """The session's records and figure, for benchmarks/faults.py."""
    pathlib.Path(path).write_text(json.dumps({"records": records, "figure": figure(records)}, indent=1))
