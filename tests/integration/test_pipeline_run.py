"""End to end through the CLI: `lab pipeline run` on a generated file with defects.

The summary's quality counts must equal the generator's manifest, HBase must hold one row
per clean event, and the drained real-time totals must equal the batch totals.
"""

import json
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest

import datasets
from pipeline import produce, store
from pipeline.readback import hbase_row_count, raw_zone

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SAMPLE = Path(__file__).resolve().parents[2] / "datasets" / "sample" / "events.csv"


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

    streamed = store.totals(namespace)
    kpis = summary["kpis"]
    assert streamed["events"] == kpis["events"] == expected["clean_events"]
    assert streamed["events_by_type"] == kpis["events_by_type"]
    assert streamed["revenue"] == Decimal(str(kpis["revenue"])).quantize(Decimal("0.01"))




def test_lab_pipeline_ingest_runs_until_idle_for_the_idle_timeout(namespace):
    """Records keep arriving for longer than the idle timeout: both sinks take every one, then stop."""
    expected = datasets.Manifest.load(datasets.manifest_path(SAMPLE)).expected
    ingest = subprocess.Popen(["lab", "pipeline", "--namespace", namespace.namespace, "ingest", "--sink", "both",
                               "--idle-timeout", "8"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(5):  # about 25 s of records, no gap as long as the timeout
            produce.produce(namespace, SAMPLE, progress=False)
            time.sleep(4)
        output, _ = ingest.communicate(timeout=300)
    finally:
        if ingest.poll() is None:
            ingest.kill()
    assert ingest.returncode == 0, output[-3000:]
    assert hbase_row_count(namespace) == expected["clean_events"]  # a replayed record overwrites its row
    assert len(raw_zone(namespace)[1]) == 5 * expected["input_records"]
