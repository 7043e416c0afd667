"""Benchmark of `lab check NN` on the reference solution: the wall time a student waits, per lab and for the course.

    python3 bench/bench_check.py            # every lab
    python3 bench/bench_check.py 01 05      # some labs

Each lab runs as the student runs it, `lab check NN` in a fresh process, with the labs folder
a student who solved every lab has (``seams.write_reference_labs``). Lab 00 has no reference: its
checks run on the untouched answers file, score 0 and stop at the first empty answer, so its time is
a lower bound (tests/labs/test_lab00.py fills the answers: under 30 s). Goals (issue: labs): labs without services ≤ 20 s, stack labs ≤ 90 s, Spark labs
≤ 120 s, the whole course ≤ 12 min on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from labctl import course
from pipeline import seams

GOALS = {"pure": 20, "stack": 90, "spark": 120}
COURSE_GOAL_S = 12 * 60
TOTAL = re.compile(r"^(\d+)/(\d+) points$", re.M)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", help="lab numbers (default: all)")
    chosen = [course.lab(number) for number in parser.parse_args().labs] or list(course.LABS.values())
    with tempfile.TemporaryDirectory() as tmp:
        labs_dir = seams.write_reference_labs(Path(tmp))
        tour = labs_dir / "00-tour"
        tour.mkdir()
        (tour / "answers.yml").write_text((course.course_labs_dir() / "00-tour" / "answers.yml").read_text())
        env = {**os.environ, "LAB_LABS_DIR": str(labs_dir)}
        rows, total = [], 0.0
        for lab in chosen:
            started = time.perf_counter()
            result = subprocess.run(["lab", "check", lab.number], env=env, capture_output=True, text=True,
                                    check=False)
            seconds = time.perf_counter() - started
            total += seconds
            score = TOTAL.search(result.stdout)
            points = f"{score[1]}/{score[2]}" if score else f"exit {result.returncode}"
            goal = GOALS[lab.kind]
            solved = result.returncode == 0 or lab.number == "00"
            rows.append((lab.number, lab.kind, seconds, points, goal, "yes" if seconds <= goal and solved else "NO"))
    print(f"lab check on the reference solution ({os.cpu_count()} cores)")
    print(f"{'lab':<4} {'kind':<6} {'seconds':>8} {'points':>7} {'goal s':>7} {'met':>4}")
    for number, kind, seconds, points, goal, met in rows:
        print(f"{number:<4} {kind:<6} {seconds:8.1f} {points:>7} {goal:7d} {met:>4}")
    met = "yes" if total <= COURSE_GOAL_S and all(row[-1] == "yes" for row in rows) else "NO"
    print(f"{'all':<4} {'':<6} {total:8.1f} {'':>7} {COURSE_GOAL_S:7d} {met:>4}")


if __name__ == "__main__":
    main()
