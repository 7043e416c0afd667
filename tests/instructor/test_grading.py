"""`lab grade` on small classes, against the running stack: the solution gets full marks, the starter 0, a
mutant loses the check that names it; a syntax error, an endless loop and code that reads the instructor's
files or writes outside its namespace cost only their own submission; the same submission gets the same
grade again; a rerun skips what is graded; the outputs are Gradescope's results.json, feedback.md and
grades.csv."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient

from labctl import course
from labctl.instructor import solutions

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
LAB = ["lab"]


def lab(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    result = subprocess.run([*LAB, *args], capture_output=True, text=True, cwd=REPO, timeout=timeout, check=False,
                            env=dict(os.environ, COLUMNS="200"))
    print(result.stdout[-3000:], result.stderr[-3000:])
    return result


def zip_tree(folder: Path, archive: Path, inside: str) -> None:
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in folder.rglob("*"):
            if path.is_file():
                bundle.write(path, f"{inside}/{path.relative_to(folder)}")


def grades(out: Path) -> dict[str, dict]:
    with (out / "grades.csv").open() as rows:
        return {row["student"]: row for row in csv.DictReader(rows)}


def grade_json(out: Path, student: str) -> dict:
    return json.loads((out / student / "grade.json").read_text())


def outcomes(out: Path, student: str) -> list[tuple[str, str, int]]:
    return [(c["name"], c["status"], c["points"]) for c in grade_json(out, student)["checks"]]


@pytest.fixture(scope="module")
def lab01_class(tmp_path_factory) -> tuple[Path, Path, solutions.Mutant]:
    """Six submissions of lab 01 (no services): graded with two jobs."""
    root = tmp_path_factory.mktemp("lab01")
    subs, out = root / "submissions", root / "grades"
    solutions.write_solutions(subs / "alice", "01")
    zip_tree(REPO / "labs", subs / "bob.zip", "bob-release/labs")  # the untouched release, zipped
    mutant = solutions.load_mutants("01")[0]
    solutions.write_mutant(subs / "carol" / "labs", mutant)
    broken = subs / "dave" / "01-contract"
    broken.mkdir(parents=True)
    (broken / "contract.py").write_text("def split_fields(record):\n    return record.split(',')\n  oops\n")
    endless = subs / "erin" / "01-contract"
    endless.mkdir(parents=True)
    (endless / "contract.py").write_text(
        (REPO / "labs/01-contract/contract.py").read_text() + "\n\ndef split_fields(record):\n    while True:\n"
        "        pass\n")
    nosy = subs / "mallory" / "01-contract"
    nosy.mkdir(parents=True)
    secret = Path.home() / ".config/ecommerce-lab/grading-secret"
    (nosy / "contract.py").write_text(
        (REPO / "labs/01-contract/contract.py").read_text()
        + "\n\nimport os\nfor _path in (%r, %r):\n    try:\n        print('READ', _path, open(_path).read())\n"
          "    except OSError as _error:\n        print('DENIED', _path, type(_error).__name__)\n"
          "print('UID', os.getuid())\n" % (str(REPO / "labs/01-contract/hidden_checks.py"), str(secret)))
    result = lab("grade", "01", str(subs), "--out", str(out), "--jobs", "2", "--student-timeout", "45")
    assert result.returncode == 0
    return subs, out, mutant


def test_each_submission_gets_its_own_grade(lab01_class):
    _, out, mutant = lab01_class
    table = grades(out)
    assert sorted(table) == ["alice", "bob", "carol", "dave", "erin", "mallory"]
    full = table["alice"]["max_score"]
    assert (table["alice"]["score"], table["alice"]["status"]) == (full, "ok")
    assert table["bob"]["score"] == "0"
    assert 0 < int(table["carol"]["score"]) < int(full)
    for name in mutant.caught_by:
        assert table["carol"][name] == "0", name
    assert (table["dave"]["score"], table["dave"]["status"]) == ("0", "error")
    assert "syntax error" in (out / "dave" / "feedback.md").read_text()
    assert table["erin"]["status"] == "timeout"
    assert float(table["erin"]["seconds"]) < 45 + 30


def test_student_code_runs_unprivileged_and_cannot_read_the_hidden_checks_or_the_secret(lab01_class):
    _, out, _ = lab01_class
    log = (out / "mallory" / "log.txt").read_text()
    assert "READ" not in log
    assert log.count("DENIED") >= 2 and "PermissionError" in log
    uid = int(log.split("UID ", 1)[1].split()[0])
    assert uid != 0


def test_results_json_is_gradescopes_and_hides_the_hidden_checks_until_published(lab01_class):
    _, out, _ = lab01_class
    results = json.loads((out / "carol" / "results.json").read_text())
    assert set(results) >= {"score", "max_score", "execution_time", "output", "tests"}
    assert results["score"] == sum(test["score"] for test in results["tests"])
    visibility = {test["visibility"] for test in results["tests"]}
    assert visibility == {"visible", "after_published"}
    for test in results["tests"]:
        assert set(test) >= {"name", "number", "score", "max_score", "output", "visibility"}
        assert "Traceback" not in test["output"]
    hidden_failed = [t for t in results["tests"] if t["visibility"] == "after_published" and t["score"] < t["max_score"]]
    assert hidden_failed, "the mutant should fail a hidden check too"
    assert "passed" not in results["output"].lower() or "hidden" in results["output"].lower()
    feedback = (out / "carol" / "feedback.md").read_text()
    assert "Traceback" not in feedback and "## Hidden checks" in feedback


def test_the_same_submission_gets_the_same_grade_and_a_rerun_skips_it(lab01_class):
    subs, out, _ = lab01_class
    before = {s: outcomes(out, s) for s in ("alice", "carol", "dave")}
    stamp = (out / "alice" / "grade.json").stat().st_mtime_ns
    again = subs.parent / "again"
    again.mkdir()
    for student in ("alice", "carol", "dave"):
        shutil.copytree(subs / student, again / student)
    assert lab("grade", "01", str(again), "--out", str(out)).returncode == 0
    assert (out / "alice" / "grade.json").stat().st_mtime_ns == stamp  # graded already: skipped
    assert lab("grade", "01", str(again), "--out", str(out), "--force").returncode == 0
    assert (out / "alice" / "grade.json").stat().st_mtime_ns != stamp
    assert {s: outcomes(out, s) for s in ("alice", "carol", "dave")} == before


def test_a_stack_lab_grades_and_reports_a_submission_that_writes_outside_its_namespace(tmp_path, services):
    subs, out = tmp_path / "submissions", tmp_path / "grades"
    solutions.write_solutions(subs / "alice", "03")
    shutil.copytree(REPO / "labs" / "03-hbase-sink", subs / "bob" / "03-hbase-sink")
    victim = f"victim{uuid.uuid4().hex[:8]}.events.raw"
    trespasser = subs / "trent" / "03-hbase-sink"
    solutions.write_solutions(subs / "trent", "03")
    (trespasser / "sink.py").write_text((trespasser / "sink.py").read_text() + (
        "\n\nfrom kafka.admin import KafkaAdminClient, NewTopic\n"
        "_admin = KafkaAdminClient(bootstrap_servers='127.0.0.1:9092')\n"
        f"_admin.create_topics([NewTopic({victim!r}, 1, 1)])\n_admin.close()\n"))
    try:
        assert lab("grade", "03", str(subs), "--out", str(out)).returncode == 0
        table = grades(out)
        assert table["alice"]["score"] == table["alice"]["max_score"] and table["alice"]["touched"] == ""
        assert table["bob"]["score"] == "0"
        assert f"created kafka topic {victim}" in table["trent"]["touched"]
        assert f"created kafka topic {victim}" in (out / "trent" / "log.txt").read_text()
    finally:
        admin = KafkaAdminClient(bootstrap_servers="127.0.0.1:9092")
        try:
            if victim in admin.list_topics():
                admin.delete_topics([victim])
        finally:
            admin.close()


def test_lab_00_is_not_graded_from_submissions(tmp_path):
    (tmp_path / "s" / "alice").mkdir(parents=True)
    result = lab("grade", "00", str(tmp_path / "s"), "--out", str(tmp_path / "g"))
    assert result.returncode == 2
    assert "checked on each student's own services" in result.stderr


def test_grading_every_lab_writes_one_gradebook(tmp_path, services):
    subs, out = tmp_path / "submissions", tmp_path / "grades"
    solutions.write_solutions(subs / "alice", "01")  # lab 01 only
    (subs / "zed").mkdir(parents=True)  # nothing handed in
    assert lab("grade", "--all", str(subs), "--out", str(out), timeout=1800).returncode == 0
    with (out / "gradebook.csv").open() as rows:
        book = {row["student"]: row for row in csv.DictReader(rows)}
    labs = [n for n in course.LABS if n != "00"]
    assert list(book["alice"]) == ["student", *(f"lab {n}" for n in labs), "score", "max_score"]
    full = grades(out / "lab-01")["alice"]["max_score"]
    assert book["alice"]["lab 01"] == full and book["alice"]["score"] == full
    assert all(book["alice"][f"lab {n}"] == "0" for n in labs[1:])
    assert book["zed"]["score"] == "0"
    for number in labs:
        assert grades(out / f"lab-{number}")["zed"]["status"] == "error"
        assert (out / f"lab-{number}" / "zed" / "feedback.md").is_file()
