"""Benchmark of the Kafka stages: produce, HBase sink and landing rates, and 1 M events end to end.

    python bench/bench_ingest.py                       # 1 M generated events
    python bench/bench_ingest.py --rows 200000 --sink-workers 1

Each stage first runs alone on its own namespace (rates in events/s; a consumer's
time excludes its final idle wait), then a fresh namespace measures the end-to-end
time: both consumers already running, the clock starts with produce and stops
when the later consumer has written its last record. Namespaces are dropped at the end.
Each measurement starts once the machine is quiet (HBase compacts and splits for a
while after a million rows), at most QUIET_WAIT_S later.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.table import Table

import datasets
from pipeline import hbase_sink, landing, produce, settings, topics

IDLE_S = 10.0  # consumers stop after this long without a record
JOIN_S = 5.0  # time given to the consumers to join their groups before produce starts
QUIET_IDLE = 0.8  # the CPUs' idle share over QUIET_SAMPLE_S that counts as quiet
QUIET_SAMPLE_S = 3.0
QUIET_WAIT_S = 180.0


def _idle_share(seconds: float) -> float:
    """The share of CPU time the machine spent idle over the next ``seconds`` (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, all

    idle, total = sample()
    time.sleep(seconds)
    idle_after, total_after = sample()
    return (idle_after - idle) / max(1, total_after - total)


def wait_quiet() -> float:
    """Wait until the CPUs are mostly idle (at most QUIET_WAIT_S); the seconds waited."""
    started = time.monotonic()
    while _idle_share(QUIET_SAMPLE_S) < QUIET_IDLE and time.monotonic() - started < QUIET_WAIT_S:
        pass
    return time.monotonic() - started


def _timed(run, lab, **kwargs) -> tuple[float, int]:
    """Run a consumer stage until idle: (wall-clock time of its last record, records)."""
    stats = run(lab, idle_timeout_s=IDLE_S, **kwargs)
    return time.time() - IDLE_S, stats.records


def separate(lab, csv: Path, sink_workers: int) -> dict[str, tuple[int, float]]:
    produced = produce.produce(lab, csv, progress=False, processes=produce.DEFAULT_PROCESSES)
    wait_quiet()
    sink = hbase_sink.run(lab, idle_timeout_s=IDLE_S, workers=sink_workers)
    wait_quiet()
    landed = landing.run(lab, idle_timeout_s=IDLE_S)
    return {"produce": (produced.records, produced.seconds),
            f"HBase sink ({sink_workers} worker{'s' * (sink_workers > 1)})": (sink.records, sink.seconds - IDLE_S),
            "landing": (landed.records, landed.seconds - IDLE_S)}


def end_to_end(lab, csv: Path, sink_workers: int) -> tuple[int, float]:
    topics.ensure_topics(lab)
    hbase_sink.ensure_tables(lab)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        sink = pool.submit(_timed, hbase_sink.run, lab, workers=sink_workers)
        land = pool.submit(_timed, landing.run, lab)
        time.sleep(JOIN_S)
        started = time.time()
        produced = produce.produce(lab, csv, progress=False, processes=produce.DEFAULT_PROCESSES)
        (sink_end, sunk), (land_end, landed) = sink.result(), land.result()
    if not produced.records == sunk == landed:
        raise SystemExit(f"records produced {produced.records}, sunk {sunk}, landed {landed}")
    return produced.records, max(sink_end, land_end) - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sink-workers", type=int, default=hbase_sink.WORKERS)
    parser.add_argument("--tmp", type=Path, default=None, help="directory for the generated file")
    args = parser.parse_args()
    table = Table(title=f"Kafka stages, {args.rows:,} events, {os.cpu_count()} CPUs, "
                        f"load average {os.getloadavg()[0]:.1f} at start")
    for column in ("stage", "events", "seconds", "events/s"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    used = []  # dropped at the end: Kafka and HBase delete a dropped namespace's files a minute or more later
    try:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            csv = Path(tmp) / "events.csv"
            datasets.generate(csv, args.rows, seed=1)
            for measure, label in ((separate, None), (end_to_end, "end to end: produce → HBase + HDFS")):
                Console().print(f"{measure.__name__}: the machine was quiet after {wait_quiet():.0f} s")
                lab = settings.load(namespace=f"bench{uuid.uuid4().hex[:8]}")
                used.append(lab)
                results = measure(lab, csv, args.sink_workers)
                for stage, (events, seconds) in (results.items() if label is None else [(label, results)]):
                    table.add_row(stage, f"{events:,}", f"{seconds:.1f}", f"{events / seconds:,.0f}")
    finally:
        for lab in used:
            topics.drop_namespace(lab)
    Console().print(table)


if __name__ == "__main__":
    main()
