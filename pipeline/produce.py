"""Stage 1: replay a CSV file into the raw topic, one message per input record.

Each message's value is the record's bytes exactly as in the file (no line
terminator); its key is the record's user_session (the user_id field when the
session is empty, b"" when neither can be parsed), so one session's events stay
in one partition and in order; headers `source` (file name) and `line` (line
number, ASCII) say where it came from; the timestamp is the produce time.

A line longer than `settings.max_record_bytes` is not sent: the file is read in bounded
memory (`contract.read_records`, which never holds more of a line than the limit), and
`produce` counts and logs every line it skipped (`ProduceStats.skipped`).

Delivery is idempotent (kafka-python's default `enable_idempotence=True`,
`acks=all`, unbounded retries within `delivery_timeout_ms`), so a broker restart
neither loses nor doubles a record; a record that still fails is counted and
`produce` raises `DeliveryError` after flushing: nothing is dropped silently.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

from kafka import KafkaProducer
from kafka.future import Future
from kafka.partitioner.default import murmur2
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from pipeline import contract, seams, topics
from pipeline.settings import Settings

COMPRESSION = "lz4"
# What `lab pipeline produce` and `run` use: 2 processes, or 1 on a one-core host.
DEFAULT_PROCESSES = min(2, os.cpu_count() or 1)
SESSION, USER_ID = contract.FIELDS.index("user_session"), contract.FIELDS.index("user_id")

log = logging.getLogger(__name__)


class DeliveryError(RuntimeError):
    """Some records could not be delivered to the raw topic."""


@dataclass(frozen=True)
class ProduceStats:
    records: int
    bytes: int
    seconds: float
    skipped: int  # lines longer than settings.max_record_bytes, not sent

    @property
    def rate(self) -> float:
        """Records per second."""
        return self.records / self.seconds if self.seconds else 0.0


def record_key(raw: bytes) -> bytes:
    """The message key of a raw record: its user_session field, else (the session is empty) its user_id
    field, encoded as UTF-8; b"" when the record does not split into the contract's 9 fields.

    The fields are those of ``contract.split_fields(contract.decode(raw))`` (RFC 4180: a quoted field may
    hold commas and ``""``; bytes that are not UTF-8 read as U+FFFD), taken as they are (not trimmed).
    Kafka sends the records of one key to one partition, so a session's events stay in their order."""
    ### BEGIN SOLUTION
    if raw.isascii() and b'"' not in raw:
        fields = raw.split(b",")
    else:
        parsed = contract.split_fields(contract.decode(raw))
        fields = [f.encode() for f in parsed] if parsed else []
    if len(fields) != len(contract.FIELDS):
        return b""
    return fields[SESSION] or fields[USER_ID]
    ### END SOLUTION


def headers(source: str, line: int) -> list[tuple[str, bytes]]:
    """A message's headers, in this order: ``source``, the file name as UTF-8 bytes, and ``line``, the
    record's line number in the file as ASCII digits: ``headers("mine.csv", 42)`` is
    ``[("source", b"mine.csv"), ("line", b"42")]``."""
    ### BEGIN SOLUTION
    return [("source", source.encode()), ("line", b"%d" % line)]
    ### END SOLUTION


def send_records(kafka: KafkaProducer, topic: str, records: Iterable[tuple[int, bytes]], source: str) -> int:
    """Send each (line number, raw record) of ``records``, in their order, to ``topic`` with
    ``kafka.send(topic, value=..., key=..., headers=...)``: the value is the record's bytes as they are,
    the key ``record_key(raw)``, the headers ``headers(source, line)``. Leave the partition to ``kafka``:
    the producer you are given picks it from the key, paces the sends and counts them. ``records`` can
    be read only once. Returns how many records it passed to ``kafka.send`` (the caller flushes)."""
    ### BEGIN SOLUTION
    sent = 0
    for line, raw in records:
        kafka.send(topic, value=raw, key=record_key(raw), headers=headers(source, line))
        sent += 1
    return sent
    ### END SOLUTION


def records_to_send(stream: BinaryIO, max_bytes: int, skip: Callable[[int], None]) -> Iterator[tuple[int, bytes]]:
    """(line number, raw record) of every record of the CSV ``stream`` no longer than ``max_bytes``, read in
    bounded memory (``contract.read_records``); ``skip(line number)`` is called for each longer one instead."""
    for line, raw in contract.read_records(stream, max_bytes):
        if len(raw) > max_bytes:
            skip(line)
        else:
            yield line, raw


def origin(record) -> tuple[str | None, int | None]:
    """(source file name, line number) from a consumed raw record's headers (None when absent, or a line that
    is not ASCII digits: another producer's headers)."""
    headers = dict(record.headers or ())
    source, line = headers.get("source"), headers.get("line")
    return (source.decode(errors="replace") if source is not None else None,
            int(line) if line and line.isascii() and line.isdigit() else None)


@lru_cache(maxsize=1 << 16)
def _partition(key: bytes, partitions: int) -> int:
    # The Java client's (and kafka-python's) keyed partitioner, memoised: murmur2 is pure Python here
    # and a session key repeats for every event of the session.
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class _AnotherShare(Future):
    """The future ``_Share.send`` returns for a record another process sends: done, with no metadata."""

    def get(self, timeout: float | None = None) -> None:
        return None


_ANOTHER_SHARE = _AnotherShare().success(None)


class _Share:
    """The producer that a stage's ``send_records`` sends with: one process's share of the partitions.

    Every process reads the whole file; this wrapper sends the records whose partition p has
    p % shares == share and drops the others, paces them to ``rate`` per second, counts
    them for the progress bar and counts failed deliveries from the send futures' errbacks.
    """

    def __init__(self, kafka: KafkaProducer, partitions: int, shares: int, share: int, rate: float | None,
                 counts, show: Callable[[], None]):
        self.kafka, self.partitions, self.shares, self.share = kafka, partitions, shares, share
        self.rate, self.counts, self.show = rate, counts, show
        self.records = self.bytes = self.failed = 0
        self.first_failure: BaseException | None = None
        self.started = time.monotonic()

    def send(self, topic: str, value: bytes, key: bytes | None = None, headers=None, partition: int | None = None):
        if partition is None:
            partition = _partition(key or b"", self.partitions)
        if partition % self.shares != self.share:
            return _ANOTHER_SHARE
        future = self.kafka.send(topic, value=value, key=key, partition=partition, headers=headers)
        future.add_errback(self._failed)
        self.records += 1
        self.bytes += len(value)
        if self.records % 10_000 == 0:
            self.counts[self.share] = self.records
            self.show()
        if self.rate and self.records % max(1, int(self.rate) // 20) == 0:
            ahead = self.records / self.rate - (time.monotonic() - self.started)
            if ahead > 0:
                time.sleep(ahead)
        return future

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every record sent so far is delivered (the stage flushes anyway)."""
        self.kafka.flush(timeout)

    def _failed(self, error: BaseException) -> None:
        self.failed += 1
        self.first_failure = self.first_failure or error


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
    failed = [r for r in results if r[2]]
    if failed:
        raise DeliveryError(f"{sum(r[2] for r in failed)} of {records} records were not delivered to "
                            f"{settings.raw_topic}: {failed[0][3]!r}")
    # Every process reads the whole file, so each skipped the same lines.
    return ProduceStats(records=records, bytes=size, seconds=time.monotonic() - started, skipped=results[0][4])


def _send(settings: Settings, path: Path, rate: float | None, loop: bool, live: bool, positions, counts,
          shares: int, share: int, show: Callable[[], None] = lambda: None
          ) -> tuple[int, int, int, BaseException | None, int]:
    """One producer's part of `produce`: the records of the partitions p with p % shares == share, sent by
    the lab 02 ``send_records`` of ``settings``. Returns (records sent, their bytes, failed deliveries, the first
    failure, lines skipped as too long)."""
    send_records = seams.function(settings, "02", "send_records")
    kafka = producer(settings)
    sender = _Share(kafka, len(kafka.partitions_for(settings.raw_topic)), shares, share, rate, counts, show)
    skipped = 0

    def skip(line: int) -> None:
        nonlocal skipped
        skipped += 1
        if share == 0:  # the other processes skip the same lines
            log.warning("produce: line %d of %s is longer than %d bytes (max_record_bytes): skipped",
                        line, path.name, settings.max_record_bytes)

    def records(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
        for number, (line, raw) in enumerate(records_to_send(stream, settings.max_record_bytes, skip), start=1):
            yield line, restamp(raw) if live else raw
            if number % 10_000 == 0:
                positions[share] = stream.tell()

    try:
        while True:
            with path.open("rb") as stream:
                send_records(sender, settings.raw_topic, records(stream), path.name)
                positions[share], counts[share] = stream.tell(), sender.records
            if not loop:
                break
    except KeyboardInterrupt:
        if not loop:
            raise
    finally:
        kafka.flush()
        kafka.close()
    return sender.records, sender.bytes, sender.failed, sender.first_failure, skipped
