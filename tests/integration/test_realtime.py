"""Stage 6 against the running stack: the streamed totals in HBase equal the batch totals, across a restart."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

import datasets
from pipeline import contract, produce, realtime, store
from pipeline import spark as spark_session
from tests.realtime_reference import aggregates as reference, csv_records

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SAMPLE = Path(__file__).resolve().parents[2] / "datasets" / "sample" / "events.csv"
MASTER_STATUS = "http://127.0.0.1:8080/json/"  # the Spark master's web UI (spark_master_webui_port)


@pytest.fixture
def lab(namespace, require):
    """The conftest's fresh namespace, with the Spark cluster up as well."""
    require("spark-master")
    require("spark-worker")
    return namespace


def write_csv(path, header: bytes, records: list[bytes]):
    path.write_bytes(b"\n".join([header, *records]) + b"\n")
    return path


def assert_streamed_equal_batch(lab, records: list[bytes]) -> None:
    expected = reference(records)
    assert store.totals(lab) == expected["totals"]
    minutes = {row.pop("minute"): row for row in store.minute_counts(lab, "000000000000")}
    assert minutes == expected["minutes"]
    products = expected["products"]
    top = sorted(products, key=lambda p: (-products[p]["revenue"], p))[:10]
    got = {row.pop("product_id"): row for row in store.product_totals(lab, top)}
    assert got == {p: products[p] for p in top}
    assert len(store.product_totals(lab)) == len(products)


def command_lines() -> list[str]:
    """The command line of every process, arguments separated by spaces."""
    lines = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            lines.append(path.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:  # the process ended meanwhile
            pass
    return lines


def stream_jvm(lab) -> str:
    """The command line of the running stream's JVM."""
    name = f"{lab.namespace}:realtime"
    return next(line for line in command_lines() if "SparkSubmit" in line and f"spark.app.name={name} " in line)


def event_logs(lab) -> set[str]:
    """The applications' event logs in HDFS (spark.eventLog.dir of the provisioned spark-defaults)."""
    conf = Path(spark_session.SPARK_CONF_DIR, "spark-defaults.conf").read_text()
    directory = urlparse(re.search(r"^spark\.eventLog\.dir\s+(\S+)", conf, re.MULTILINE)[1]).path
    return set(lab.webhdfs().list(directory))


def test_streamed_totals_equal_batch_totals_across_a_restart(lab, tmp_path):
    source = tmp_path / "events.csv"
    manifest = datasets.generate(source, rows=20_000, seed=64, defect_rate=0.03)
    records = csv_records(source)
    assert reference(records)["totals"]["events"] == manifest.expected["clean_events"]
    # Split between a record and its exact duplicate, so the dedup state must survive the restart.
    half = next(i for i in range(len(records) // 2, len(records)) if records[i] == records[i - 1]
                and isinstance(contract.validate(contract.decode(records[i])), contract.Event))
    header = source.read_bytes().split(b"\n", 1)[0]
    logs = event_logs(lab)

    produce.produce(lab, write_csv(tmp_path / "first.csv", header, records[:half]), progress=False)
    realtime.run(lab, available_now=True)
    assert_streamed_equal_batch(lab, records[:half])

    produce.produce(lab, write_csv(tmp_path / "second.csv", header, records[half:]), progress=False)
    realtime.run(lab, available_now=True)
    assert_streamed_equal_batch(lab, records)
    assert event_logs(lab) == logs, "the stream wrote an event log (it would grow for as long as it runs)"


def test_running_stream_follows_a_live_produce_and_stops_on_sigterm(lab):
    expected = reference(csv_records(SAMPLE))["totals"]
    code = ("import sys; from pipeline import realtime, settings; "
            "realtime.run(settings.load(namespace=sys.argv[1]), processing_time='2 seconds')")
    stream = subprocess.Popen([sys.executable, "-c", code, lab.namespace])
    try:
        # Batches every 2 s while the sample arrives over about 10 s: the 3 partitions are read unevenly.
        produce.produce(lab, SAMPLE, rate=1000, progress=False)
        deadline = time.monotonic() + 300
        while store.totals(lab) != expected and time.monotonic() < deadline and stream.poll() is None:
            time.sleep(2)
        assert store.totals(lab) == expected
        # One local JVM (no application on the standalone master), with the session's JVM flags, those of a
        # long-running session and its heap.
        jvm = stream_jvm(lab).split()
        assert "spark.master=local[*]" in jvm and f"-Xmx{spark_session.LONG_RUNNING_DRIVER_MEMORY}" in jvm, jvm
        assert set(f"{spark_session.JVM_OPTIONS} {spark_session.LONG_RUNNING_JVM_OPTIONS}".split()) <= set(jvm)
        assert f"{lab.namespace}:realtime" not in [a["name"] for a in requests.get(MASTER_STATUS, timeout=10).json()["activeapps"]]
        stream.send_signal(signal.SIGTERM)
        assert stream.wait(timeout=120) == 0
    finally:
        if stream.poll() is None:
            stream.kill()
            stream.wait()
