"""`lab verify`, lab by lab, against the running stack: each lab's solution gets full marks under TZ=UTC and
UTC+05:45 with identical results, its starter 0 without a timeout, and each of its (at least three) mutants
fails every check that names it. Lab 00 is checked on the student's own services (tests/labs/test_lab00.py)."""

from __future__ import annotations

import subprocess

import pytest

from labctl import course
from labctl.instructor import solutions
from labctl.instructor.verify import SELF_CHECKED, verify_lab

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("lab", list(course.LABS))
def test_the_graders_of_each_lab_are_proven(lab):
    found = verify_lab(lab)
    print(f"lab {lab}: solution {found.solution}, starter {found.starter}, mutants {found.mutants}, "
          f"{found.seconds} s")
    if lab in SELF_CHECKED:
        assert found.skipped == SELF_CHECKED[lab] and found.ok
        return
    assert found.ok, "\n".join(found.problems)
    assert len(found.mutants) >= 3 and all(verdict == "caught" for _, verdict in found.mutants)
    assert found.starter.startswith("0/")


def test_lab_verify_prints_its_table():
    result = subprocess.run(["lab", "verify", "01"], capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Graders verified" in result.stdout and " ok " in result.stdout


def test_a_mistake_the_checks_miss_fails_the_verification(monkeypatch):
    """An edit that cannot change any output (an equivalent mutant) is reported as passing its checks."""
    harmless = solutions.Mutant("01", "renamed_local", "a local variable renamed", "01-contract/contract.py",
                                "quoted, plain = match.groups()", "quoted, plain_text = match.groups(); plain = plain_text",
                                ("fields_split_like_rfc_4180",))
    monkeypatch.setattr(solutions, "load_mutants", lambda lab: [harmless] * 3)
    found = verify_lab("01")
    assert not found.ok
    assert found.mutants == [("renamed_local", "passed fields_split_like_rfc_4180")] * 3
