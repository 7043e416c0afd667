"""The VM's memory: the stack, the demo and a student's Spark jobs run in a 4 GiB cgroup without an OOM kill.

A shorter run of bench/bench_memory.py (20,000 rows instead of 100,000): it restarts supervisord inside
a memory cgroup, starts the demo, runs a student's `lab pipeline run` and `lab check 05` at once, then
moves the stack back as it was.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.stack, pytest.mark.slow]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_memory.py"


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a memory cgroup and restarting supervisord need root")
def test_the_demo_and_a_students_spark_jobs_fit_in_the_vms_memory(services, require, tmp_path):
    for name in ("namenode", "hbase-thrift", "kafka"):
        require(name)
    assert "demo-stream" in services, "the demo is provisioned (the bench starts it)"
    report = tmp_path / "memory.json"
    result = subprocess.run([sys.executable, str(BENCH), "--rows", "20000", "--check-lab", "05", "--settle", "10",
                             "--report", str(report)], capture_output=True, text=True, timeout=1200, check=False)
    assert report.exists(), f"the bench stopped early:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    figures = json.loads(report.read_text())
    assert figures["oom_kills"] == 0 and figures["restarted"] == [], result.stdout
    assert figures["failed_jobs"] == [], result.stdout
    assert figures["samples"] >= 10, result.stdout
    assert 1.0 < figures["peak_total_gib"] <= 3.6, result.stdout
    assert result.returncode == 0, result.stdout
