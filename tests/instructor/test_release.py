"""`lab release`: the student edition holds no answer, runs the student's code everywhere, and with
``--solutions`` holds the reference solutions as the students' files."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labctl import course
from labctl.instructor import release, solutions
from pipeline.seams import SEAMS

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def student_tree(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student") / "edition"
    release.release(out)
    return out


@pytest.fixture(scope="module")
def solutions_tree(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("solutions") / "edition"
    release.release(out, with_solutions=True)
    return out


def solution_lines() -> dict[str, str]:
    """Each distinctive line of a solution region (20 characters or more, not a string's opening, and not part of any line of
    the code that ships: the breakdowns' SQL, say, shares a revenue expression with lab 06), and where
    it comes from."""
    inside: dict[str, str] = {}
    outside: list[str] = []
    for name in release.tracked_files():
        if release.left_out(name) or not name.endswith((".py", ".html")):
            continue
        depth = 0
        for line in (REPO / name).read_text(encoding="utf-8").splitlines():
            text = line.strip()
            if "BEGIN SOLUTION" in text:
                depth += 1
            elif "END SOLUTION" in text:
                depth -= 1
            elif depth:
                inside.setdefault(text, name)
            else:
                outside.append(text)
    shipped = "\n".join(outside)
    return {line: name for line, name in inside.items()
            if len(line) >= 20 and not line.startswith("#") and not line.endswith('("""') and line not in shipped}


def test_every_reference_module_marks_its_solutions():
    lines = solution_lines()
    for seam in SEAMS.values():
        module = seam.reference.replace(".", "/") + ".py"
        assert any(name == module for name in lines.values()), f"{module} marks no solution region"
    assert len(lines) > 100, len(lines)


def test_the_student_edition_holds_no_solution_line(student_tree):
    lines = solution_lines()
    for path in student_tree.rglob("*"):
        if path.is_file() and path.suffix in (".py", ".html", ".md", ".yml"):
            text = path.read_text(encoding="utf-8")
            leaked = [line for line in lines if line in text]
            assert not leaked, f"{path.relative_to(student_tree)} holds solution lines, e.g. {leaked[:2]}"


def test_the_student_edition_leaves_out_the_instructors_files(student_tree):
    names = {str(p.relative_to(student_tree)) for p in student_tree.rglob("*") if p.is_file()}
    assert not [n for n in names if n.startswith(("tests/", "bench/", ".ci/", "labctl/instructor/"))]
    assert not [n for n in names if Path(n).name in course.INSTRUCTOR_FILES]
    assert "<!-- BEGIN INSTRUCTOR -->" not in (student_tree / "README.md").read_text()
    assert "For instructors" not in (student_tree / "README.md").read_text()
    for lab in course.LABS.values():  # the public checks and the starters are there
        assert (student_tree / "labs" / lab.folder / "checks.py").is_file()
    for seam in SEAMS.values():
        assert (student_tree / "labs" / seam.folder / seam.file).read_text() == \
            (REPO / "labs" / seam.folder / seam.file).read_text()


def run_in(tree: Path, code: str, labs: Path) -> subprocess.CompletedProcess:
    """Python in the release tree's own code (not this checkout's), with ``labs`` as the labs folder."""
    env = dict(os.environ, PYTHONPATH=str(tree), LAB_LABS_DIR=str(labs), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tree.parent,
                          timeout=120, check=False)


def test_the_student_edition_runs_the_students_code_and_names_the_lab(student_tree):
    code = ("from pipeline import edition, contract, produce; assert edition.STUDENT_EDITION\n"
            "try:\n    contract.validate('x')\nexcept NotImplementedError as error:\n    print(error)\n"
            "try:\n    produce.record_key(b'a,b')\nexcept NotImplementedError as error:\n    print(error)\n")
    result = run_in(student_tree, code, student_tree / "labs")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["lab 01, step 4: write validate in labs/01-contract/contract.py",
                                          "lab 02, step 1: write record_key in labs/02-producer/producer.py"]


def test_a_student_file_that_imports_the_stand_in_is_told_to_write_it(student_tree, tmp_path):
    (tmp_path / "01-contract").mkdir()
    (tmp_path / "01-contract" / "contract.py").write_text(
        "from pipeline.contract import split_fields, identifier, row_id, validate\n")
    result = run_in(student_tree, "from pipeline import contract\ncontract.identifier('1')", tmp_path)
    assert "NotImplementedError: lab 01: write identifier in labs/01-contract/contract.py" in result.stderr


def test_the_solutions_edition_gives_the_reference_answers(solutions_tree):
    code = ("from pipeline import contract, hbase_sink\n"
            "event = contract.validate('2019-10-01 00:00:05 UTC,view,1,2,a.b,x,1.5,7,s')\n"
            "print(event.row_id, hbase_sink.row_key(event).decode())")
    result = run_in(solutions_tree, code, solutions_tree / "labs")
    assert result.returncode == 0, result.stderr
    reference = importlib.import_module("pipeline.contract").validate("2019-10-01 00:00:05 UTC,view,1,2,a.b,x,1.5,7,s")
    assert result.stdout.split() == [reference.row_id, f"0000000000000000007|20191001000005|{reference.row_id}"]
    for name, source in solutions.solution_sources().items():
        assert (solutions_tree / "labs" / name).read_text() == solutions.solution_text(source)


def test_release_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "x").write_text("")
    with pytest.raises(release.ReleaseError, match="not empty"):
        release.release(tmp_path)
