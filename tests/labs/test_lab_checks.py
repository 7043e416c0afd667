"""Every lab's README expects full marks from `lab check NN`.

Full marks are proven where students see them: each lab README's ```console block runs `lab check NN`
and expects `N/N points` (tests/labs/test_readmes.py runs it with the reference labs, and fails unless it
exits 0 and prints that line). Lab 00 has no reference functions: tests/labs/test_lab00.py fills its
answers from the services. The untouched starters scoring nothing without a hang, with the hidden checks
too, is `lab verify`'s (tests/instructor/test_verify.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labctl import course
from tests.labs.readme_commands import commands

LABS = Path(__file__).resolve().parents[2] / "labs"
GRADED = [lab for lab in course.LABS.values() if lab.number != "00"]
FULL_MARKS = re.compile(r"^(\d+)/\1 points$")


@pytest.mark.unit
@pytest.mark.parametrize("lab", GRADED, ids=lambda lab: lab.folder)
def test_the_readme_runs_the_checks_and_expects_full_marks(lab):
    checks = [c for c in commands(LABS / lab.folder / "README.md") if c.text == f"lab check {lab.number}"]
    assert checks, f"labs/{lab.folder}/README.md never runs `lab check {lab.number}` in a console block"
    assert any(FULL_MARKS.match(line) for line in checks[-1].expected), checks[-1].expected
