"""Benchmark of the Spark stages on the sample, as a student runs them: each command in a fresh process.

    /opt/ecommerce-lab/venv/bin/python bench/bench_spark_sample.py
    /opt/ecommerce-lab/venv/bin/python bench/bench_spark_sample.py --runs 3 --input data/events.csv

In a fresh namespace, the sample is produced and landed (not timed), then `lab pipeline clean`,
`analyze` and `stream --available-now` each run and are timed on their own, session start included;
then `lab pipeline run` of the same file in a second fresh namespace. Each figure is the median of
``--runs``. Goals (issue: Spark speed, 10,000 rows on 2 cores): clean ≤ 8 s, analyze ≤ 8 s,
stream ≤ 6 s, run ≤ 30 s. The namespaces are dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from pipeline import settings as lab_settings
from pipeline import topics

SAMPLE = Path(__file__).resolve().parent.parent / "datasets" / "sample" / "events.csv"
GOALS = {"clean": 8, "analyze": 8, "stream --available-now": 6, "run": 30}


def lab(namespace: str, *arguments: str) -> float:
    """Seconds of one `lab pipeline` command; its output when it fails."""
    started = time.perf_counter()
    result = subprocess.run(["lab", "pipeline", "--namespace", namespace, *arguments], capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"lab pipeline {' '.join(arguments)} exited {result.returncode}:\n"
                         f"{result.stdout[-2000:]}{result.stderr[-3000:]}")
    return time.perf_counter() - started


def one_run(csv_path: Path, out: Path) -> dict[str, float]:
    staged, whole = (f"bench{uuid.uuid4().hex[:8]}" for _ in range(2))
    try:
        lab(staged, "produce", "--input", str(csv_path))
        lab(staged, "ingest", "--sink", "hdfs", "--idle-timeout", "3")
        seconds = {command: lab(staged, *command.split()) for command in ("clean", "analyze")}
        seconds["stream --available-now"] = lab(staged, "stream", "--available-now")
        seconds["run"] = lab(whole, "run", "--input", str(csv_path), "--summary-out", str(out / "summary.json"))
        return seconds
    finally:
        for namespace in (staged, whole):
            topics.drop_namespace(lab_settings.load(namespace=namespace))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=SAMPLE, help="CSV file (default: the 10,000-row sample)")
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    master = lab_settings.load().spark_master
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(arguments.runs):
            runs.append(one_run(arguments.input, Path(tmp)))
            print(f"run {number + 1} of {arguments.runs}: " + ", ".join(f"{k} {v:.1f} s" for k, v in runs[-1].items()),
                  flush=True)
    print(f"\nSpark stages on {arguments.input.name}, each command in a fresh process "
          f"(median of {arguments.runs}; {os.cpu_count()} cores, Spark master {master})")
    print(f"{'command':<24} {'seconds':>8} {'min':>6} {'max':>6} {'goal s':>7} {'met':>4}")
    for command, goal in GOALS.items():
        values = [run[command] for run in runs]
        median = statistics.median(values)
        print(f"{command:<24} {median:8.1f} {min(values):6.1f} {max(values):6.1f} {goal:7d} "
              f"{'yes' if median <= goal else 'NO':>4}")


if __name__ == "__main__":
    main()
