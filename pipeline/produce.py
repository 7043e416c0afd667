"""Stage 1: replay a CSV file into the raw topic, one message per input record.

Each message's value is the record's bytes exactly as in the file (no line
terminator); its key is the record's user_session (the user_id field when the
session is empty, b"" when neither can be parsed), so one session's events stay
in one partition and in order; headers `source` (file name) and `line` (line
number, ASCII) say where it came from; the timestamp is the produce time.

Delivery is idempotent (kafka-python's default `enable_idempotence=True`,
`acks=all`, unbounded retries within `delivery_timeout_ms`), so a broker restart
neither loses nor doubles a record; a record that still fails is counted and
`produce` raises `DeliveryError` after flushing: nothing is dropped silently.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Callable

from kafka import KafkaProducer
from kafka.partitioner.default import murmur2
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from pipeline import contract, topics
from pipeline.settings import Settings

COMPRESSION = "lz4"
# What `lab pipeline produce` and `run` use: 2 processes, or 1 on a one-core host.
DEFAULT_PROCESSES = min(2, os.cpu_count() or 1)
SESSION, USER_ID = contract.FIELDS.index("user_session"), contract.FIELDS.index("user_id")


class DeliveryError(RuntimeError):
    """Some records could not be delivered to the raw topic."""


@dataclass(frozen=True)
class ProduceStats:
    records: int
    bytes: int
    seconds: float

    @property
    def rate(self) -> float:
        """Records per second."""
        return self.records / self.seconds if self.seconds else 0.0


def record_key(raw: bytes) -> bytes:
    """The message key of a raw record: user_session, else user_id, else b""."""
    if raw.isascii() and b'"' not in raw:
        fields = raw.split(b",")
    else:
        parsed = contract.split_fields(contract.decode(raw))
        fields = [f.encode() for f in parsed] if parsed else []
    if len(fields) != len(contract.FIELDS):
        return b""
    return fields[SESSION] or fields[USER_ID]


def origin(record) -> tuple[str | None, int | None]:
    """(source file name, line number) from a consumed raw record's headers (None when absent)."""
    headers = dict(record.headers or ())
    source, line = headers.get("source"), headers.get("line")
    return (source.decode(errors="replace") if source is not None else None,
            int(line) if line else None)


@lru_cache(maxsize=1 << 16)
def _partition(key: bytes, partitions: int) -> int:
    # The Java client's (and kafka-python's) keyed partitioner, memoised: murmur2 is pure Python here
    # and a session key repeats for every event of the session.
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class _Failures:
    """Counts failed deliveries from the send futures' errbacks."""

    def __init__(self) -> None:
        self.count = 0
        self.first: BaseException | None = None

    def __call__(self, error: BaseException) -> None:
        self.count += 1
        self.first = self.first or error


def producer(settings: Settings, **overrides) -> KafkaProducer:
    """A producer tuned for throughput: lz4, large batches, a short linger."""
    config = dict(bootstrap_servers=settings.kafka_bootstrap, client_id=f"{settings.namespace}-produce",
                  acks="all", compression_type=COMPRESSION, linger_ms=20, batch_size=512 * 1024,
                  max_request_size=4 * 1024 * 1024)
    config.update(overrides)
    return KafkaProducer(**config)


def restamp(raw: bytes) -> bytes:
    """The record with its first field (event_time) replaced by the current UTC time."""
    comma = raw.find(b",")
    if comma < 0:
        return raw
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()).encode() + raw[comma:]


def produce(settings: Settings, path: str | os.PathLike, rate: float | None = None, loop: bool = False,
            progress: bool = True, live: bool = False, processes: int = 1) -> ProduceStats:
    """Replay the CSV file at `path` into `settings.raw_topic` (created with 3 partitions if missing).

    rate: at most this many events per second (for a live demo); None for as fast as possible.
    loop: replay the file again and again until interrupted (Ctrl-C stops cleanly after a flush).
    progress: show a progress bar on the terminal.
    live: stamp every record with the current time (`restamp`), so each replay is new events
    "now" for the real-time job and the dashboard's Live page; otherwise records are sent byte for byte.
    processes: producer processes; each reads the whole file and sends the records of its share
    of the partitions (kafka-python is CPU-bound: 2 processes send about 1.4 times as fast). A
    session's records go to one partition, so they still arrive in file order.
    Raises DeliveryError, after flushing, if any record could not be delivered.
    """
    path = Path(path)
    topics.ensure_topics(settings)
    started = time.monotonic()
    context = multiprocessing.get_context("fork")
    # per process: bytes of the file read, records sent (read by the progress bar)
    positions, counts = context.Array("q", processes), context.Array("q", processes)
    bar = Progress(TextColumn("[bold]produce[/] {task.fields[name]}"), BarColumn(), TaskProgressColumn(),
                   TextColumn("{task.fields[records]:,} records"), TimeRemainingColumn(), disable=not progress)
    task = bar.add_task("produce", total=path.stat().st_size, name=path.name, records=0)

    def show() -> None:
        bar.update(task, completed=min(positions), records=sum(counts))

    share = partial(_send, settings, path, rate and rate / processes, loop, live, positions, counts, processes)
    with bar:
        if processes == 1:
            results = [share(0, show)]
        else:
            results = topics.in_processes([partial(share, number) for number in range(processes)], while_waiting=show)
        show()
    records, size = sum(r[0] for r in results), sum(r[1] for r in results)
    failed = [r[2] for r in results if r[2] is not None]
    if failed:
        raise DeliveryError(f"{sum(f.count for f in failed)} of {records} records were not delivered to "
                            f"{settings.raw_topic}: {failed[0].first!r}")
    return ProduceStats(records=records, bytes=size, seconds=time.monotonic() - started)


def _send(settings: Settings, path: Path, rate: float | None, loop: bool, live: bool, positions, counts,
          shares: int, share: int, show: Callable[[], None] = lambda: None) -> tuple[int, int, _Failures | None]:
    """One producer's part of `produce`: the records of the partitions p with p % shares == share.

    Returns (records sent, their bytes, the failures or None).
    """
    kafka = producer(settings)
    partitions = len(kafka.partitions_for(settings.raw_topic))
    source = path.name.encode()
    failures = _Failures()
    records = size = 0
    started = time.monotonic()
    try:
        while True:
            with path.open("rb") as stream:
                for line, raw in contract.read_records(stream):
                    if live:
                        raw = restamp(raw)
                    key = record_key(raw)
                    partition = _partition(key, partitions)
                    if partition % shares != share:
                        continue
                    kafka.send(settings.raw_topic, value=raw, key=key, partition=partition,
                               headers=[("source", source), ("line", b"%d" % line)]).add_errback(failures)
                    records += 1
                    size += len(raw)
                    if records % 10_000 == 0:
                        positions[share], counts[share] = stream.tell(), records
                        show()
                    if rate and records % max(1, int(rate) // 20) == 0:
                        ahead = records / rate - (time.monotonic() - started)
                        if ahead > 0:
                            time.sleep(ahead)
                positions[share], counts[share] = stream.tell(), records
            if not loop:
                break
    except KeyboardInterrupt:
        if not loop:
            raise
    finally:
        kafka.flush()
        kafka.close()
    return records, size, failures if failures.count else None
