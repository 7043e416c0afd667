"""Every lab's public checks give the reference full marks and the untouched starter nothing, without a hang.

Full marks are proven where students see them: each lab README's ```console block runs `lab check NN`
and expects `N/N points` (tests/labs/test_readmes.py runs it with the reference labs, and fails unless it
exits 0 and prints that line). Lab 00 has no reference functions: tests/labs/test_lab00.py fills its
answers from the services.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labctl import check_runner, course
from tests.labs.readme_commands import commands

LABS = Path(__file__).resolve().parents[2] / "labs"
GRADED = [lab for lab in course.LABS.values() if lab.number != "00"]
FULL_MARKS = re.compile(r"^(\d+)/\1 points$")


def _marks(lab: course.Lab):
    return pytest.mark.unit if lab.kind == "pure" else pytest.mark.integration


@pytest.mark.unit
@pytest.mark.parametrize("lab", GRADED, ids=lambda lab: lab.folder)
def test_the_readme_runs_the_checks_and_expects_full_marks(lab):
    checks = [c for c in commands(LABS / lab.folder / "README.md") if c.text == f"lab check {lab.number}"]
    assert checks, f"labs/{lab.folder}/README.md never runs `lab check {lab.number}` in a console block"
    assert any(FULL_MARKS.match(line) for line in checks[-1].expected), checks[-1].expected


@pytest.mark.parametrize("lab", [pytest.param(lab, marks=_marks(lab), id=lab.folder) for lab in GRADED])
def test_the_untouched_starter_scores_zero_without_hanging(lab):
    result = check_runner.run_lab(lab.number, LABS)
    assert result.checks and result.points == 0, {c.name: c.status for c in result.checks if c.passed}
    assert all(c.status in ("failed", "error") for c in result.checks), {c.name: c.status for c in result.checks}
    assert any("not written yet" in c.message for c in result.checks), [c.message for c in result.checks]
