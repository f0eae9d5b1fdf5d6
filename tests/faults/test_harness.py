"""The harness can fail: each way of showing an error badly, or of accepting damage, is judged as such."""

from __future__ import annotations

import os
import pathlib
import signal
import time

import pytest

from tests.faults.harness import Outcome, Seen, figure, isolated, judge, unclear_because, without_paths

FILE = pathlib.Path("/data/re-collect-me/d.h5")  # a folder name that holds a fix word: it must not count
GOOD = f"Dataset file {FILE} was cut short: it has 10 bytes. Copy it again from its source."


@pytest.mark.parametrize(
    ("seen", "outcome"),
    [
        (Seen(exit_code=1, message=f"lewm info: error: {GOOD}\n(set LEWM_DEBUG=1 for the traceback)"), Outcome.CLEAR),
        (Seen(error_type="DatasetError", expected_error=True, message=GOOD), Outcome.CLEAR),
        (Seen(exit_code=1, message=f"Traceback (most recent call last):\n  ...\nOSError: {GOOD}"), Outcome.UNCLEAR),
        (Seen(exit_code=1, message="lewm info: error: the file was cut short. Copy it again."), Outcome.UNCLEAR),
        (Seen(exit_code=1, message=f"error: {FILE} is damaged."), Outcome.UNCLEAR),  # no fix but the folder's word
        (Seen(exit_code=1, message=f"{GOOD}\n\nand a second paragraph"), Outcome.UNCLEAR),
        (Seen(error_type="KeyError", message=GOOD), Outcome.UNCLEAR),  # not the documented type
        (Seen(crashed="SIGSEGV"), Outcome.UNCLEAR),
        (Seen(exit_code=0), Outcome.SILENT),  # accepted, and what the user got differs (intact is False below)
    ],
    ids=["cli", "library", "traceback", "no-file", "fix-in-path-only", "2-paragraphs", "other-type", "crash", "silent"],
)
def test_judge(seen: Seen, outcome: Outcome) -> None:
    assert judge(seen, [FILE], intact=lambda: False).outcome is outcome


def test_an_acceptance_with_the_original_data_is_recovered() -> None:
    assert judge(Seen(value="abc"), [FILE], intact=lambda: True).outcome is Outcome.RECOVERED


def test_paths_and_their_parents_are_cut_out_of_messages() -> None:
    message = f"{FILE} and {FILE.parent} and the word restore"
    assert without_paths(message, [FILE]) == "<path> and <path> and the word restore"
    assert unclear_because(Seen(exit_code=1, message=f"{FILE} is bad"), [FILE]) == "the message says no fix"


def _segfault() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def _hang() -> None:
    time.sleep(60)


def _fails() -> None:
    raise KeyError("deep inside h5py")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="isolation forks")
def test_isolation_reports_crashes_hangs_and_exceptions() -> None:
    assert isolated(_segfault).crashed == "SIGSEGV"
    assert "hung" in str(isolated(_hang, timeout=0.5).crashed)
    seen = isolated(_fails, expected=(ValueError,))
    assert (seen.error_type, seen.expected_error, seen.traceback) == ("KeyError", False, True)
    assert isolated(sum, [1, 2]).value == 3


def test_figure_counts_by_kind() -> None:
    records = [
        {"kind": "a", "outcome": "clear error", "lost": 0},
        {"kind": "a", "outcome": "silent", "lost": 2},
        {"kind": "b", "outcome": "recovered", "lost": 0},
    ]
    rows = {row["kind"]: row for row in figure(records)}
    assert rows["a"]["injected"] == 2 and rows["a"]["silent"] == 1 and rows["a"]["lost"] == 2
    assert rows["total"]["injected"] == 3 and rows["total"]["recovered"] == 1


def test_an_error_that_names_another_cause_is_unclear() -> None:
    # the message of issue 10's defect: a truncated file reported as locked, with a fix (for the wrong problem)
    locked = f"Dataset file {FILE} is locked: another process is writing it. Wait for that process to finish."
    seen = Seen(error_type="DatasetError", expected_error=True, message=locked)
    assert judge(seen, [FILE], intact=lambda: False).outcome is Outcome.CLEAR
    assert judge(seen, [FILE], intact=lambda: False, says=("cut short",)).outcome is Outcome.UNCLEAR
