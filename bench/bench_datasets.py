"""Benchmark of the data set generator: rows/s and peak RSS, one subprocess per size.

    python3 bench/bench_datasets.py                  # 1 M and 10 M rows
    python3 bench/bench_datasets.py --rows 1000000   # sizes of your choice

Each size is generated in a fresh interpreter, timed, and its peak RSS read
from the child's own resource usage (``os.wait4``). Files go to a temporary
directory (``--tmp``) that is removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHILD = "import sys; from datasets import generate; generate(sys.argv[1], int(sys.argv[2]), seed=1)"


def run(rows: int, tmp: Path) -> dict[str, float]:
    out = tmp / f"events-{rows}.csv"
    t0 = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(out), str(rows)], cwd=REPO)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"generation of {rows} rows failed with exit code {child.returncode}")
    size = out.stat().st_size
    out.unlink()
    out.with_name(out.stem + ".manifest.json").unlink()
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "rss_mib": usage.ru_maxrss / 1024,
            "file_mib": size / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--tmp", type=Path, default=None, help="directory for the generated files")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"{'rows':>12} {'seconds':>9} {'rows/s':>10} {'peak RSS MiB':>13} {'file MiB':>9}")
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for rows in args.rows:
            r = run(rows, Path(tmp))
            print(f"{r['rows']:>12,} {r['seconds']:>9.2f} {r['rows_per_s']:>10,.0f} {r['rss_mib']:>13.1f} "
                  f"{r['file_mib']:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
