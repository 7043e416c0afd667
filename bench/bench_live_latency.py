"""Produce → visible on the Live API: latency percentiles at a steady event rate, printed as a table.

    lab-venv-python bench/bench_live_latency.py --rate 1000 --seconds 60

In a fresh namespace it starts the HBase sink (a child process), the real-time job
(`lab pipeline stream`, a child process) and the dashboard (in-process waitress), then
sends live events (event time = now) at ``--rate`` for ``--warmup`` seconds, waits until the
Live API shows them, then measures ``--seconds`` more at that rate, while a poller reads the
Live API every ``--poll-ms``:

* stream path, ``/api/live/totals``: the n-th event sent is visible once the streamed
  ``events`` total reaches n (Kafka → Spark micro-batch → HBase → API);
* sink path, ``/api/live/purchases``: each purchase (one event in ``--purchase-every``,
  with a product id of its own) is visible once it is in the latest purchases
  (Kafka → HBase sink → HBase → API).

Latency = first poll that shows it − the moment it was handed to the Kafka producer.
Goal: p95 ≤ 2 s. The namespace is dropped afterwards.
"""

from __future__ import annotations

import bisect
import multiprocessing
import statistics
import subprocess
import threading
import time
import uuid
from typing import Annotated

import requests
import typer
from rich.console import Console
from rich.table import Table
from served import served

from pipeline import hbase_sink, produce, settings, topics

GOAL_S = 2.0
FIRST_PRODUCT = 900_000_000  # the purchases' product ids count up from here

app = typer.Typer(add_completion=False)
console = Console(width=130)


def record(n: int, purchase_every: int) -> tuple[bytes, int | None]:
    """The n-th event (time = now) and, for a purchase, its product id."""
    now = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    product = FIRST_PRODUCT + n // purchase_every if n % purchase_every == 0 else None
    kind, product_id = ("purchase", product) if product else ("view", 1000 + n % 500)
    raw = f"{now},{kind},{product_id},2053013555631882655,electronics.smartphone,acme,12.34,{5000 + n % 997},s{n % 4000}"
    return raw.encode(), product


class Poller(threading.Thread):
    """Reads both Live endpoints every ``interval_s`` until stopped; keeps what it saw and when."""

    def __init__(self, base: str, interval_s: float):
        super().__init__(daemon=True)
        self.base, self.interval_s = base, interval_s
        self.totals: list[tuple[float, int]] = []  # (time, streamed events)
        self.purchases: dict[int, float] = {}  # product id -> first time seen
        self.errors = 0
        self.stop = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        while not self.stop.wait(self.interval_s):
            try:
                events = session.get(self.base + "/api/live/totals", timeout=5).json()["events"]
                self.totals.append((time.time(), events))
                seen = time.time()
                for purchase in session.get(self.base + "/api/live/purchases", timeout=5).json()["purchases"]:
                    self.purchases.setdefault(purchase["product_id"], seen)
            except (requests.RequestException, KeyError, ValueError):
                self.errors += 1


def send(lab: settings.Settings, rate: float, seconds: float, purchase_every: int,
         first: int = 0) -> tuple[list[float], dict[int, float]]:
    """Send ``rate * seconds`` events at ``rate``; (send time of each, send time of each purchase's product)."""
    kafka = produce.producer(lab, linger_ms=5)
    sent, purchases = [], {}
    started = time.time()
    try:
        for n in range(first, first + int(rate * seconds)):
            ahead = started + (n - first) / rate - time.time()
            if ahead > 0:
                time.sleep(ahead)
            raw, product = record(n, purchase_every)
            kafka.send(lab.raw_topic, value=raw, key=produce.record_key(raw))
            sent.append(time.time())
            if product is not None:
                purchases[product] = sent[-1]
    finally:
        kafka.flush()
        kafka.close()
    return sent, purchases


def stream_latencies(sent: list[float], totals: list[tuple[float, int]], already: int) -> list[float]:
    """For each event sent, the first poll whose streamed total counts it, minus its send time."""
    counts = [events - already for _, events in totals]
    latencies = []
    for n, at in enumerate(sent, start=1):
        i = bisect.bisect_left(counts, n)  # the totals only grow
        if i < len(totals):
            latencies.append(totals[i][0] - at)
    return latencies


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


@app.command()
def main(
    rate: Annotated[float, typer.Option(help="Events per second.")] = 1000,
    seconds: Annotated[float, typer.Option(help="How long to send at that rate.")] = 60,
    trigger: Annotated[str, typer.Option(help="The real-time job's time between micro-batches.")] = "1 second",
    watermark_delay: Annotated[str, typer.Option(help="The real-time job's watermark delay (as the demo's: the events "
                                                 "are live).")] = "10 minutes",
    poll_ms: Annotated[int, typer.Option(help="Time between two polls of the Live API.")] = 100,
    purchase_every: Annotated[int, typer.Option(help="One event in this many is a purchase.")] = 200,
    warmup: Annotated[float, typer.Option(help="Seconds of events sent (and not measured) before the measurement: "
                                               "the JVMs' first micro-batches are much slower.")] = 30,
) -> None:
    """Measure produce → Live API latency on both paths and print the percentiles."""
    lab = settings.load(namespace=f"bench_live_{uuid.uuid4().hex[:8]}")
    topics.ensure_topics(lab)
    sink = multiprocessing.get_context("spawn").Process(target=hbase_sink.run, args=(lab,), daemon=True)
    stream = subprocess.Popen(["lab", "pipeline", "--namespace", lab.namespace, "stream", "--trigger", trigger,
                               "--watermark-delay", watermark_delay],
                              stdout=subprocess.DEVNULL)
    sink.start()
    try:
        with served(lab.namespace, "") as base:
            poller = Poller(base, poll_ms / 1000)
            poller.start()
            console.print(f"warming up: {warmup:.0f} s at the same rate, until the Live API shows all of it")
            warmup_sent, _ = send(lab, rate, warmup, purchase_every, first=10**8)
            deadline = time.monotonic() + 300
            while not (poller.totals and poller.totals[-1][1] >= len(warmup_sent) and poller.purchases):
                if time.monotonic() > deadline or stream.poll() is not None or not sink.is_alive():
                    raise RuntimeError("the sink or the real-time job did not deliver the warm-up events")
                time.sleep(0.5)
            already = poller.totals[-1][1]
            console.print(f"sending {rate:,.0f} events/s for {seconds:.0f} s")
            sent, purchases = send(lab, rate, seconds, purchase_every)
            time.sleep(15)  # the last micro-batches
            poller.stop.set()
            poller.join()
    finally:
        stream.terminate()
        stream.wait(timeout=120)
        sink.terminate()
        sink.join(timeout=60)
        topics.drop_namespace(lab)

    achieved = (len(sent) - 1) / (sent[-1] - sent[0])
    paths = {"stream: /api/live/totals": (stream_latencies(sent, poller.totals, already), len(sent)),
             "sink: /api/live/purchases": ([poller.purchases[p] - at for p, at in purchases.items()
                                            if p in poller.purchases], len(purchases))}
    table = Table(title=f"Produce → Live API at {achieved:,.0f} events/s for {seconds:.0f} s "
                        f"(trigger {trigger}, watermark {watermark_delay}, poll every {poll_ms} ms)")
    for column in ("path", "events", "seen", "p50 s", "p95 s", "p99 s", "max s", "goal p95"):
        table.add_column(column, justify="left" if column == "path" else "right", no_wrap=True)
    failed = poller.errors > 0
    for path, (latencies, count) in paths.items():
        p95 = percentile(latencies, 95) if latencies else float("inf")
        met = len(latencies) == count and p95 <= GOAL_S
        failed |= not met
        table.add_row(path, f"{count:,}", f"{len(latencies):,}",
                      *(f"{percentile(latencies, q):.2f}" if latencies else "-" for q in (50, 95, 99)),
                      f"{max(latencies):.2f}" if latencies else "-",
                      f"≤ {GOAL_S:.0f} s " + ("[green]met[/]" if met else "[red]missed[/]"))
    console.print(table)
    if poller.errors:
        console.print(f"[red]{poller.errors} failed polls[/]")
    raise typer.Exit(1 if failed else 0)


if __name__ == "__main__":
    app()
