"""`lab verify [NN]`: prove a lab's graders before trusting them with a class.

For each lab: the reference solution (as a student's files) gets full marks on the public and hidden
checks under TZ=UTC and under a non-UTC zone, with identical results; the untouched starter gets 0
without a timeout; every mutant in mutants.yml fails each check it names (run under the non-UTC zone,
where local-time mistakes show).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from labctl import check_runner, course
from labctl.instructor import solutions

ZONES = ("UTC", "Asia/Kathmandu")  # UTC+05:45: a local-time mistake shifts hours and dates
SELF_CHECKED = {"00": "lab 00 is checked against the student's own services and files "
                      "(tests/labs/test_lab00.py proves its checks)"}


@dataclass
class Verification:
    """What `lab verify` found for one lab: ``problems`` is empty when its graders are proven."""

    lab: str
    solution: list[str] = field(default_factory=list)  # "12/12" per zone
    starter: str = ""
    mutants: list[tuple[str, str]] = field(default_factory=list)  # (name, "caught" or why not)
    problems: list[str] = field(default_factory=list)
    skipped: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


@contextmanager
def time_zone(zone: str) -> Iterator[None]:
    """The TZ the check workers inherit."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = zone
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before


def _outcomes(result: check_runner.LabResult) -> list[tuple[str, str, int]]:
    return [(c.name, c.status, c.points) for c in result.checks]


def _failing(result: check_runner.LabResult) -> str:
    return "; ".join(f"{c.name}: {c.status}: {c.message}" for c in result.checks if not c.passed)


def verify_lab(lab: str, on_step: Callable[[str], None] = lambda step: None) -> Verification:
    """Verify one lab's checks (public and hidden) against its solution, its starter and its mutants."""
    number = course.lab(lab).number
    found = Verification(number)
    if number in SELF_CHECKED:
        found.skipped = SELF_CHECKED[number]
        return found
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix=f"lab-verify-{number}-"))
    try:
        mutants = solutions.load_mutants(number)
        if len(mutants) < 3:
            found.problems.append(f"{len(mutants)} mutants in {solutions.mutants_file(number)} (at least 3 wanted)")
        solved = solutions.write_solutions(scratch / "solution", number)
        runs = []
        for zone in ZONES:
            on_step(f"lab {number}: the solution under TZ={zone}")
            with time_zone(zone):
                result = check_runner.run_lab(number, solved, hidden=True, user="verify")
            runs.append(result)
            found.solution.append(f"{result.points}/{result.max_points}")
            if not result.passed:
                found.problems.append(f"the solution under TZ={zone} lost points: {_failing(result)}")
        if _outcomes(runs[0]) != _outcomes(runs[1]):
            found.problems.append("the solution's results differ between time zones")
        on_step(f"lab {number}: the starter")
        starter = check_runner.run_lab(number, course.course_labs_dir(), hidden=True, user="verify")
        found.starter = f"{starter.points}/{starter.max_points}"
        if starter.points:
            found.problems.append(f"the starter scored {found.starter}")
        timeouts = [c.name for c in starter.checks if c.status == "timeout"]
        if timeouts:
            found.problems.append(f"the starter timed out in {', '.join(timeouts)}")
        if not any("not written yet" in c.message for c in starter.checks):
            found.problems.append("no check on the starter says which function is not written yet")
        for mutant in mutants:
            on_step(f"lab {number}: mutant {mutant.name}")
            mutated = solutions.write_mutant(scratch / "mutants" / mutant.name, mutant)
            with time_zone(ZONES[1]):
                try:
                    result = check_runner.run_lab(number, mutated, hidden=True, only=list(mutant.caught_by),
                                                  user="verify")
                except check_runner.CheckRunnerError as error:
                    found.mutants.append((mutant.name, f"cannot run: {error}"))
                    found.problems.append(f"mutant {mutant.name} cannot run: {error}")
                    continue
            survived = [c.name for c in result.checks if c.passed]
            verdict = "caught" if not survived else f"passed {', '.join(survived)}"
            found.mutants.append((mutant.name, verdict))
            if survived:
                found.problems.append(f"mutant {mutant.name} ({mutant.mistake}) passed {', '.join(survived)}")
    except (check_runner.CheckRunnerError, solutions.MutantError) as error:
        found.problems.append(str(error))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        found.seconds = round(time.monotonic() - started, 1)
    return found
