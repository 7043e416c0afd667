"""Real-time aggregates benchmark (stage 6), printed as a table.

    lab-venv-python bench/bench_realtime.py --rows 1000000

Generates a file, produces it into a fresh namespace's raw topic, then times one
`realtime.run(available_now=True)` (session start included) draining it into HBase on
the standalone cluster (one core), and a second drain of an empty backlog (the fixed
cost of a start from the checkpoint). The namespace is dropped afterwards.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

import datasets
from pipeline import produce, realtime, settings, store, topics


def timed(function, *args, **kwargs) -> float:
    started = time.monotonic()
    function(*args, **kwargs)
    return time.monotonic() - started


def main(rows: int = typer.Option(1_000_000, help="rows to generate"), seed: int = 7) -> None:
    lab = settings.load(namespace=f"bench_rt_{uuid.uuid4().hex[:8]}")
    table = Table("step", "events", "seconds", "events/s", title=f"realtime aggregates, {rows:,} rows")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "events.csv"
            manifest = datasets.generate(path, rows=rows, seed=seed)
            stats = produce.produce(lab, path, progress=False)
            table.add_row("produce", f"{stats.records:,}", f"{stats.seconds:.1f}", f"{stats.rate:,.0f}")
        events = manifest.expected["clean_events"]
        seconds = timed(realtime.run, lab, available_now=True)
        table.add_row("drain (session start included)", f"{events:,}", f"{seconds:.1f}", f"{events / seconds:,.0f}")
        assert store.totals(lab)["events"] == events, "the streamed totals differ from the manifest"
        table.add_row("restart, nothing new", "0", f"{timed(realtime.run, lab, available_now=True):.1f}", "")
    finally:
        topics.drop_namespace(lab)
    Console().print(table)


if __name__ == "__main__":
    typer.run(main)
