"""Every lab's public checks give the reference full marks and the untouched starter nothing, without a hang."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl import check_runner, course

LABS = Path(__file__).resolve().parents[2] / "labs"
# Lab 00 has no reference functions: tests/labs/test_lab00.py fills its answers from the services.
GRADED = [lab for lab in course.LABS.values() if lab.number != "00"]


def _marks(lab: course.Lab):
    return pytest.mark.unit if lab.kind == "pure" else pytest.mark.integration


@pytest.mark.parametrize("lab", [pytest.param(lab, marks=_marks(lab), id=lab.folder) for lab in GRADED])
def test_the_reference_gets_full_marks(lab):
    result = check_runner.run_lab(lab.number, None, reference=True)
    failing = {c.name: f"{c.status}: {c.message}" for c in result.checks if not c.passed}
    assert not failing and result.points == result.max_points > 0, failing


@pytest.mark.parametrize("lab", [pytest.param(lab, marks=_marks(lab), id=lab.folder) for lab in GRADED])
def test_the_untouched_starter_scores_zero_without_hanging(lab):
    result = check_runner.run_lab(lab.number, LABS)
    assert result.checks and result.points == 0, {c.name: c.status for c in result.checks if c.passed}
    assert all(c.status in ("failed", "error") for c in result.checks), {c.name: c.status for c in result.checks}
    assert any("not written yet" in c.message for c in result.checks), [c.message for c in result.checks]
