"""A fault drill of bench/bench_faults.py, shorter: Kafka restarted while `lab pipeline ingest` consumes.

The bench counts Kafka, HBase, the raw zone and the rejected topic with readers of its own and exits 1 on
any record lost or doubled, an incomplete HBase or rejected topic, a recovery over 30 s, or an ingest that
died."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_faults.py"
DRILLS = ("kafka restart",)


@pytest.mark.skipif(os.geteuid() != 0, reason="the drills restart services through supervisorctl, as root")
def test_a_kafka_restart_loses_and_doubles_nothing(require, tmp_path):
    for name in ("kafka", "hbase-thrift", "namenode", "datanode"):
        require(name)
    drills = [argument for drill in DRILLS for argument in ("--drill", drill)]
    report = tmp_path / "drills.json"
    result = subprocess.run([sys.executable, str(BENCH), "--rows", "5000", "--produce-seconds", "10", *drills,
                             "--report", str(report)], capture_output=True, text=True, timeout=1200, check=False)
    assert report.exists(), result.stdout[-4000:] + result.stderr[-3000:]
    outcomes = json.loads(report.read_text())
    assert list(outcomes) == list(DRILLS)
    for drill, outcome in outcomes.items():
        assert outcome["produced"] == 5000 and outcome["lost"] == outcome["doubled"] == 0, (drill, outcome)
        assert outcome["met"], (drill, outcome, result.stdout)
    assert result.returncode == 0, result.stdout[-4000:]
