"""Fault drills for the consumer stages: what `lab pipeline ingest` loses or doubles when a service goes away.

    sudo /opt/ecommerce-lab/venv/bin/python bench/bench_faults.py                  # 200,000 events per drill
    sudo /opt/ecommerce-lab/venv/bin/python bench/bench_faults.py --rows 5000 --produce-seconds 10 --drill "kafka kill -9"

Each drill runs in a fresh namespace: `lab pipeline ingest` (HBase sink and landing) is started, the
generated events are produced at a steady rate over ``--produce-seconds``, and a third of that time
after both stages have committed records the fault happens (restarts go through supervisor, as a
student's `lab restart` would). Once the consumers have committed the whole topic, ingest is stopped and everything is counted by readers of
its own: the raw topic's records, HBase rows (a key-only scan), raw-zone lines and rejected records,
each by source file and line. "lost" is input lines missing from the raw zone; "doubled" is lines found
twice in the raw topic or the raw zone; HBase rows and rejected lines must equal the manifest's clean
events and rejected records; recovery is the time from the service answering again to both consumer
groups committing new records. Goals: 0 lost and 0 doubled in every drill; recovery ≤ 30 s.
Needs root (supervisorctl); the namespaces are dropped afterwards.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from rich.console import Console
from rich.table import Table

import datasets
from labctl import stack
from labctl.services import load_services
from pipeline import produce, topics
from pipeline.readback import hbase_row_count, raw_zone, scratch_namespace, topic_records

CATCH_UP_S = 600
RECOVERY_GOAL_S = 30
THRIFT_IDLE_S = 75  # longer than HBase Thrift keeps an idle connection (60 s)
SAFE_MODE_S = 20
READ_TIMEOUT_S = 10
console = Console(width=None if sys.stdout.isatty() else 150)  # a log file gets the whole table


@dataclasses.dataclass
class Outcome:
    produced: int = 0
    kafka_records: int = 0
    hbase_rows: int = 0
    raw_lines: int = 0
    rejected: int = 0
    lost: int = 0
    doubled: int = 0
    recovery_s: float | None = None
    ingest: str = "ran on"


def supervisorctl(*arguments: str) -> str:
    return subprocess.run(["supervisorctl", *arguments], check=True, capture_output=True, text=True,
                          timeout=180).stdout


def wait_healthy(name: str) -> float:
    """Wait as `lab start` does until the service answers its health check; the moment it did."""
    stack.wait_healthy({s.name: s for s in load_services()}[name])
    return time.monotonic()


def restart(name: str) -> Callable[[], float]:
    def fault() -> float:
        supervisorctl("restart", name)
        return wait_healthy(name)
    return fault


def kill9(name: str) -> Callable[[], float]:
    """SIGKILL the daemon; supervisor starts it again (autorestart=unexpected)."""
    def fault() -> float:
        pid = int(supervisorctl("pid", name).strip())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while supervisorctl("pid", name).strip() in (str(pid), "0"):
            if time.monotonic() > deadline:
                raise SystemExit(f"supervisor did not start {name} again after its SIGKILL")
            time.sleep(0.5)
        return wait_healthy(name)
    return fault


def safe_mode() -> float:
    """HDFS refuses writes for SAFE_MODE_S seconds (as during a NameNode's start)."""
    superuser = {s.name: s for s in load_services()}["namenode"].user
    env = {**os.environ, "HADOOP_USER_NAME": superuser}
    subprocess.run(["hdfs", "dfsadmin", "-safemode", "enter"], check=True, capture_output=True, env=env)
    try:
        time.sleep(SAFE_MODE_S)
    finally:
        subprocess.run(["hdfs", "dfsadmin", "-safemode", "leave"], check=True, capture_output=True, env=env)
    return time.monotonic()


def idle() -> float:
    """No fault: the producer pauses past Thrift's idle timeout (see run_drill)."""
    return time.monotonic()


DRILLS: dict[str, Callable[[], float]] = {
    "idle past Thrift's timeout": idle,
    "hbase-thrift restart": restart("hbase-thrift"),
    "kafka restart": restart("kafka"),
    "kafka kill -9": kill9("kafka"),
    "namenode restart": restart("namenode"),
    "HDFS safe mode": safe_mode,
}


class Committed:
    """Records each consumer group has committed on the raw topic, summed over its partitions."""

    def __init__(self, lab) -> None:
        self.lab = lab
        self.partitions = [TopicPartition(lab.raw_topic, p) for p in range(topics.PARTITIONS)]

    def __call__(self) -> tuple[int, int]:
        """(HBase sink, landing); (-1, -1) when Kafka gives no answer in READ_TIMEOUT_S (kafka-python's
        list_group_offsets can wait without end on a restarting broker, so it runs in a thread of its own)."""
        answer: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: answer.put(self._read()), daemon=True).start()
        try:
            return answer.get(timeout=READ_TIMEOUT_S)
        except queue.Empty:
            return (-1, -1)

    def _read(self) -> tuple[int, int]:
        try:
            admin = KafkaAdminClient(bootstrap_servers=self.lab.kafka_bootstrap, request_timeout_ms=5000)
            try:
                return tuple(sum(max(o.offset, 0) for o in admin.list_group_offsets({g: self.partitions})
                                 .get(g, {}).values())
                             for g in (self.lab.hbase_sink_group, self.lab.landing_group))
            finally:
                admin.close()
        except Exception:  # the broker is away during a drill: nothing known
            return (-1, -1)

    def end(self) -> int:
        consumer = KafkaConsumer(bootstrap_servers=self.lab.kafka_bootstrap)
        try:
            return sum(consumer.end_offsets(self.partitions).values())
        finally:
            consumer.close()


def run_drill(fault: Callable[[], float], csv: Path, rows: int, produce_s: float, log: Path) -> Outcome:
    outcome = Outcome()
    with scratch_namespace() as lab:
        topics.ensure_topics(lab)
        committed = Committed(lab)
        with log.open("w") as output:
            ingest = subprocess.Popen([str(Path(sys.executable).with_name("lab")), "pipeline", "--namespace",
                                       lab.namespace, "ingest"], stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while "consuming" not in log.read_text():
                if ingest.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"ingest did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
            produced: list[int] = []
            if fault is idle:  # the input in two files, the second produced after the pause
                first, second = split(csv, rows // 2)
                inputs = {first.name: rows // 2, second.name: rows - rows // 2}
                produced.append(produce.produce(lab, first, progress=False).records)
                wait_caught_up(committed, produced[0], ingest)
                time.sleep(THRIFT_IDLE_S)
                back_at = time.monotonic()
                before = committed()
                producer = threading.Thread(target=lambda: produced.append(
                    produce.produce(lab, second, progress=False).records))
                producer.start()
            else:
                inputs = {csv.name: rows}
                producer = threading.Thread(target=lambda: produced.append(
                    produce.produce(lab, csv, rate=rows / produce_s, progress=False).records))
                producer.start()
                wait_caught_up(committed, 1, ingest)  # both stages consuming, then a third of the way in
                time.sleep(produce_s / 3)
                back_at = fault()
                before = committed()
            outcome.recovery_s = recovery(committed, before, back_at, ingest)
            producer.join()
            outcome.produced = sum(produced)
            wait_caught_up(committed, committed.end(), ingest)
        finally:
            if ingest.poll() is None:
                ingest.send_signal(signal.SIGTERM)
                ingest.wait(timeout=120)
            else:
                outcome.ingest = f"exited {ingest.returncode}"
                console.print(f"[red]ingest exited {ingest.returncode}[/]; the end of its output:\n"
                              + "\n".join(log.read_text(errors="replace").splitlines()[-40:]), markup=False)
        count(lab, inputs, outcome)
    return outcome


def split(csv: Path, rows: int) -> tuple[Path, Path]:
    """The header and the first ``rows`` lines, and the header and the rest, as two files beside ``csv``."""
    lines = csv.read_text().splitlines(keepends=True)
    first, second = csv.with_name("first-half.csv"), csv.with_name("second-half.csv")
    first.write_text("".join(lines[:rows + 1]))
    second.write_text("".join([lines[0], *lines[rows + 1:]]))
    return first, second


def recovery(committed: Committed, before: tuple[int, int], back_at: float, ingest) -> float | None:
    """Seconds from back_at until both groups have committed more than ``before`` (None: not in CATCH_UP_S)."""
    while time.monotonic() - back_at < CATCH_UP_S and ingest.poll() is None:
        now = committed()
        if all(n > b >= 0 for n, b in zip(now, before)) or (min(before) < 0 and min(now) >= 0 and
                                                            all(n > 0 for n in now)):
            return time.monotonic() - back_at
        time.sleep(0.2)
    return None


def wait_caught_up(committed: Committed, records: int, ingest) -> None:
    deadline = time.monotonic() + CATCH_UP_S
    while min(committed()) < records and ingest.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)


def count(lab, inputs: dict[str, int], outcome: Outcome) -> None:
    """Count what reached Kafka, HBase, the raw zone and the rejected topic, by (source file, line)."""
    kafka_lines = Counter(produce.origin(r) for r in topic_records(lab, lab.raw_topic))
    outcome.kafka_records = sum(kafka_lines.values())
    outcome.hbase_rows = hbase_row_count(lab)
    _, landed = raw_zone(lab)
    raw_lines = Counter((r["source"], r["line"]) for r in landed)
    outcome.raw_lines = sum(raw_lines.values())
    # At least once: a re-delivered rejection repeats its partition and offset, so count distinct lines.
    outcome.rejected = len({(m["source"], m["line"]) for m in
                            (json.loads(r.value) for r in topic_records(lab, lab.rejected_topic))})
    every_line = [(source, line) for source, rows in inputs.items() for line in range(2, rows + 2)]
    outcome.lost = sum(1 for key in every_line if not raw_lines[key])
    outcome.doubled = sum(1 for key in every_line if raw_lines[key] > 1 or kafka_lines[key] > 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--produce-seconds", type=float, default=30, help="how long producing the events takes")
    parser.add_argument("--drill", action="append", choices=list(DRILLS), help="only these drills (repeatable)")
    parser.add_argument("--report", type=Path, help="also write each drill's figures to this JSON file")
    arguments = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the drills restart services through supervisorctl")
    table = Table(title=f"Fault drills, {arguments.rows:,} events each, `lab pipeline ingest` running "
                        f"({os.cpu_count()} CPUs)")
    for column in ("drill", "events in", "Kafka", "HBase rows", "raw lines", "rejected", "lost", "doubled",
                   "recovery s", "ingest", "met"):
        table.add_column(column, justify="left" if column in ("drill", "ingest") else "right")
    missed, report = False, {}
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "events.csv"
        expected = datasets.generate(csv, arguments.rows, seed=14).expected
        rejected = sum(expected["rejected"].values())  # per reason in the manifest
        for name in arguments.drill or DRILLS:
            console.print(f"drill: {name}")
            outcome = run_drill(DRILLS[name], csv, arguments.rows, arguments.produce_seconds, Path(tmp) / "ingest.log")
            met = (outcome.lost == outcome.doubled == 0 and outcome.ingest == "ran on"
                   and outcome.hbase_rows == expected["clean_events"] and outcome.rejected == rejected
                   and outcome.recovery_s is not None and outcome.recovery_s <= RECOVERY_GOAL_S)
            missed |= not met
            report[name] = {**dataclasses.asdict(outcome), "met": met}
            recovery_s = "-" if outcome.recovery_s is None else f"{outcome.recovery_s:.1f}"
            table.add_row(name, f"{outcome.produced:,}", f"{outcome.kafka_records:,}",
                          f"{outcome.hbase_rows:,} of {expected['clean_events']:,}", f"{outcome.raw_lines:,}",
                          f"{outcome.rejected:,} of {rejected:,}", str(outcome.lost),
                          str(outcome.doubled), recovery_s, outcome.ingest, "yes" if met else "NO")
    console.print(table)
    if arguments.report:
        arguments.report.write_text(json.dumps(report, indent=2))
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
