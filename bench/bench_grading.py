"""Benchmark of `lab grade`: a generated class graded per lab, the wall time per student and for the class.

    sudo python3 bench/bench_grading.py                    # labs 01 (pure), 03 (stack), 05 (Spark), 30 students
    sudo python3 bench/bench_grading.py 06 --students 10

Each class is a mix a real one has: a third solved the lab (the reference solution as their files), a
sixth handed in the untouched starter, the rest made one of the lab's realistic mistakes (its mutants, in
turn). `lab grade NN CLASS --out GRADES --force` runs as the instructor runs it (as root, each student's
code as the grading account; --jobs 2 for a lab without services), and the bench checks that every
solution got full marks, every starter 0 and every mistake fewer than full marks. Goals (issue: grading):
≤ 10 s a student for a lab without services, ≤ 60 s for a stack lab, ≤ 120 s for a Spark lab, and a class
of 30 ≤ 30 minutes for any one lab.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from labctl import course
from labctl.instructor import solutions

GOALS = {"pure": 10, "stack": 60, "spark": 120}
CLASS_GOAL_S = 30 * 60


def make_class(folder: Path, lab: str, students: int) -> dict[str, str]:
    """Write ``students`` submissions of ``lab`` into ``folder``; student id: what they handed in."""
    mutants = solutions.load_mutants(lab)
    handed: dict[str, str] = {}
    for index in range(students):
        student = f"s{index:03d}"
        if index % 6 in (0, 3):
            solutions.write_solutions(folder / student, lab)
            handed[student] = "solution"
        elif index % 6 == 1:
            for path in course.student_files(lab, course.course_labs_dir()):
                target = folder / student / path.relative_to(course.course_labs_dir())
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
            handed[student] = "starter"
        else:
            mutant = mutants[index % len(mutants)]
            solutions.write_mutant(folder / student, mutant)
            handed[student] = f"mutant {mutant.name}"
    return handed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", default=["01", "03", "05"], help="lab numbers (default: 01 03 05)")
    parser.add_argument("--students", type=int, default=30)
    arguments = parser.parse_args()
    rows = []
    for number in arguments.labs:
        lab = course.lab(number)
        jobs = 2 if lab.kind == "pure" else 1
        with tempfile.TemporaryDirectory() as tmp:
            handed = make_class(Path(tmp) / "class", lab.number, arguments.students)
            out = Path(tmp) / "grades"
            started = time.perf_counter()
            result = subprocess.run(["lab", "grade", lab.number, str(Path(tmp) / "class"), "--out", str(out),
                                     "--jobs", str(jobs), "--force"], capture_output=True, text=True, check=False)
            seconds = time.perf_counter() - started
            if result.returncode != 0:
                print(result.stdout[-3000:], result.stderr[-3000:])
                raise SystemExit(f"lab grade {lab.number} exited {result.returncode}")
            with (out / "grades.csv").open() as table:
                grades = {row["student"]: row for row in csv.DictReader(table)}
        wrong = [s for s, what in handed.items()
                 if (what == "solution" and grades[s]["score"] != grades[s]["max_score"])
                 or (what == "starter" and grades[s]["score"] != "0")
                 or (what.startswith("mutant") and grades[s]["score"] == grades[s]["max_score"])]
        each = [float(row["seconds"]) for row in grades.values()]
        per_student = seconds / len(grades)
        met = per_student <= GOALS[lab.kind] and seconds <= CLASS_GOAL_S and not wrong
        rows.append((lab.number, lab.kind, len(grades), jobs, seconds, per_student, max(each),
                     sum(r["status"] == "ok" for r in grades.values()), len(wrong), GOALS[lab.kind],
                     "yes" if met else "NO"))
        for student in wrong:
            print(f"lab {lab.number}: {student} ({handed[student]}) got {grades[student]['score']}/"
                  f"{grades[student]['max_score']}")
    print(f"lab grade on generated classes ({os.cpu_count()} cores)")
    print(f"{'lab':<4} {'kind':<6} {'students':>8} {'jobs':>4} {'class s':>8} {'s/student':>9} {'max s':>6} "
          f"{'ok':>4} {'wrong':>5} {'goal s':>6} {'met':>4}")
    for lab, kind, students, jobs, total, each, longest, ok, wrong, goal, met in rows:
        print(f"{lab:<4} {kind:<6} {students:8d} {jobs:4d} {total:8.1f} {each:9.1f} {longest:6.1f} {ok:4d} "
              f"{wrong:5d} {goal:6d} {met:>4}")


if __name__ == "__main__":
    main()
