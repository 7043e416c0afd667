"""The student edition runs like the full one, on the running stack: its own `lab status` and `lab check`
(its code, not this checkout's). With the solutions in the labs' files it gets full marks in a pure, a stack
and a Spark lab; with the starters it gets 0 and names the lab to write; it has no instructor commands and
provisions with the same playbook and Vagrantfile."""

from __future__ import annotations

import filecmp
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from labctl.instructor import release

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("editions")
    release.release(root / "student")
    release.release(root / "solutions", with_solutions=True)
    return {"student": root / "student", "solutions": root / "solutions"}


def lab_in(tree: Path, *args: str, home: Path) -> subprocess.CompletedProcess:
    """The release's own `lab` command, as a student in ``tree`` would run it."""
    env = dict(os.environ, PYTHONPATH=str(tree), HOME=str(home), COLUMNS="200", PYTHONDONTWRITEBYTECODE="1")
    env.pop("LAB_LABS_DIR", None)
    code = "import sys; sys.argv[0] = 'lab'; from labctl.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                            cwd=tree, timeout=900, check=False)
    print(result.stdout[-4000:], result.stderr[-2000:])
    return result


def points(output: str) -> tuple[int, int]:
    found = re.search(r"^(\d+)/(\d+) points$", output, re.M)
    assert found, output
    return int(found.group(1)), int(found.group(2))


@pytest.mark.parametrize("lab", ["01", "05", "08"])
def test_the_solutions_edition_gets_full_marks_from_its_own_code(trees, tmp_path, lab):
    tree = trees["solutions"]
    result = lab_in(tree, "check", lab, "--labs", str(tree / "labs"), home=tmp_path)
    got, total = points(result.stdout)
    assert result.returncode == 0 and got == total > 0


def test_the_student_edition_scores_0_and_names_what_to_write(trees, tmp_path):
    tree = trees["student"]
    result = lab_in(tree, "check", "03", home=tmp_path)
    assert result.returncode == 1
    assert points(result.stdout)[0] == 0
    assert "not written yet: lab 03, step 2: write row_key in labs/03-hbase-sink/sink.py" in result.stdout


def test_the_student_edition_has_no_instructor_commands_and_the_same_provisioning(trees, tmp_path):
    tree = trees["student"]
    assert lab_in(tree, "status", home=tmp_path).returncode == 0
    for command in ("verify", "grade", "release"):
        assert lab_in(tree, command, "--help", home=tmp_path).returncode == 2, command
    assert lab_in(tree, "check", "01", "--reference", home=tmp_path).returncode == 2
    comparison = filecmp.dircmp(REPO / "ansible", tree / "ansible")
    assert not comparison.diff_files and not comparison.left_only
    assert filecmp.cmp(REPO / "Vagrantfile", tree / "Vagrantfile", shallow=False)
    assert filecmp.cmp(REPO / "lab", tree / "lab", shallow=False) and os.access(tree / "lab", os.X_OK)
