"""End to end through the CLI: `lab pipeline run` on a generated file with defects.

The summary's quality counts must equal the generator's manifest, HBase must hold one row
per clean event, and the drained real-time totals must equal the batch totals.
"""

import json
import subprocess
from decimal import Decimal

import pytest

import datasets
from pipeline import realtime
from tests.integration.conftest import hbase_row_count

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_lab_pipeline_run_end_to_end(namespace, require, tmp_path):
    require("spark-worker")
    csv_path = tmp_path / "events.csv"
    manifest = datasets.generate(csv_path, rows=8_000, seed=2024, defect_rate=0.03)
    summary_path = tmp_path / "summary.json"

    result = subprocess.run(
        ["lab", "pipeline", "--namespace", namespace.namespace, "run", "--input", str(csv_path),
         "--summary-out", str(summary_path)],
        capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Pipeline summary" in result.stdout

    summary = json.loads(summary_path.read_text())
    expected = manifest.expected
    assert summary["quality"] == {
        "input_records": expected["input_records"],
        "valid": expected["valid"],
        "rejected": expected["rejected"],
        "duplicates_removed": expected["duplicates_removed"],
        "clean_events": expected["clean_events"],
    }
    assert hbase_row_count(namespace) == expected["clean_events"]

    streamed = realtime.totals(namespace)
    kpis = summary["kpis"]
    assert streamed["events"] == kpis["events"] == expected["clean_events"]
    assert streamed["events_by_type"] == kpis["events_by_type"]
    assert streamed["revenue"] == Decimal(str(kpis["revenue"])).quantize(Decimal("0.01"))
