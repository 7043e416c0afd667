"""Stage 2: validate the raw topic's records; valid events to HBase, invalid ones to the rejected topic.

A consumer group (`settings.hbase_sink_group`) with auto-commit off. Each poll's
records go through `contract.validate(contract.decode(value), settings.max_record_bytes)`;
the valid events are written with `mutateRows` calls, the rejected ones are sent as JSON
{"reason", "raw", "bytes", "sha256", "source", "line", "partition", "offset"} (`rejection`:
a long record's text is cut, its length and hash kept) to
`settings.rejected_topic`, and only after both are flushed are that poll's offsets
committed. A crash therefore re-delivers at most the uncommitted records: their
HBase rows overwrite themselves (the row key is a function of the event, see
docs/hbase-row-key.md), while the rejected topic is at-least-once, so its
readers deduplicate by (partition, offset). A broken Thrift connection (a restarted server,
or an idle connection the server closed) is opened again with growing delays and the
batch written again, with one log line per incident. A valid event whose rows cannot be
made (lab 03's code fails on it) or written (HBase refuses them, or Thrift cannot send
them) goes to the rejected topic as `unwritable`, with the error, and the sink goes on.

The events and purchases tables' layout (row keys, the `e:event` cell) and their readers
(`user_events`, `latest_purchases`) are in `pipeline/store.py`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from functools import partial

import happybase
from Hbase_thrift import IllegalArgument  # the Thrift module that happybase loads
from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata
from thriftpy2.thrift import TDecodeException
from thriftpy2.transport import TTransportException

from pipeline import contract, outage, produce, seams, topics
from pipeline.settings import Settings
from pipeline.store import EVENT_COLUMN as COLUMN, EVENT_FAMILY as FAMILY

MAX_BATCH_BYTES = 4 * 1024 * 1024
# One worker process per raw-topic partition: a worker spends about 40 % of its time waiting
# for HBase (measured: 6.9 s of 17.3 s for 300,000 records), so three keep the two cores busy
# where fewer leave them idle.
WORKERS = topics.PARTITIONS
# A broken Thrift connection (a server restart, or an idle connection the server closed) is opened
# again as pipeline/outage.py says.
CONNECTION_ERRORS = (OSError, TTransportException)  # OSError: BrokenPipeError, ConnectionResetError, ...
# What a write fails with when a row itself is at fault: HBase refuses it (IllegalArgument: an empty row key or
# one over 32 KiB, a cell over 10 MiB, ...) or it cannot be sent (a key or cell that is not bytes: thriftpy2's
# TDecodeException, a TypeError, a ValueError). HBase's IOError is not one: it says that HBase is in trouble.
WRITE_ERRORS = (IllegalArgument, TDecodeException, TypeError, ValueError)
# The reason of a valid event the sink could not write (its row or cell could not be made, or HBase refused them).
UNWRITABLE = "unwritable"
# A rejected message's texts are cut so that it stays below topics.REJECTED_MAX_BYTES: in JSON a character takes
# at most 6 bytes (\u0000); 64 KiB are left for the other fields, the batch's framing and lz4's worst case.
TEXT_CHARS = 1024  # the source, the error
RAW_CHARS = (topics.REJECTED_MAX_BYTES - 64 * 1024) // 6 - 2 * TEXT_CHARS

log = logging.getLogger(__name__)


@dataclass
class SinkStats:
    records: int = 0
    valid: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    first_unwritable: str | None = None  # the error of the first event that could not be written

    @property
    def rate(self) -> float:
        """Records per second."""
        return self.records / self.seconds if self.seconds else 0.0

    @classmethod
    def combined(cls, parts: list[SinkStats]) -> SinkStats:
        """The stats of several workers that ran side by side."""
        rejected = {}
        for part in parts:
            for reason, count in part.rejected.items():
                rejected[reason] = rejected.get(reason, 0) + count
        return cls(records=sum(p.records for p in parts), valid=sum(p.valid for p in parts), rejected=rejected,
                   seconds=max(p.seconds for p in parts),
                   first_unwritable=next((p.first_unwritable for p in parts if p.first_unwritable), None))


### BEGIN SOLUTION
def _moment(event: contract.Event) -> str:
    return event.event_time.replace("-", "").replace(" ", "").replace(":", "")
### END SOLUTION


def row_key(event: contract.Event) -> bytes:
    """The events table's row key, as bytes: `<user_id>|<event_time>|<row_id>`, with the user id zero-padded to
    19 digits and the event time (its UTC text, unconverted) written YYYYMMDDHHMMSS, e.g.
    b"0000000000546256476|20191001003258|aa96120f12c568b2d568ff84dacb84de". One prefix scan then returns a
    user's events in time order, and the same event always gets the same key (docs/hbase-row-key.md)."""
    ### BEGIN SOLUTION
    return f"{event.user_id:019d}|{_moment(event)}|{event.row_id}".encode()
    ### END SOLUTION


def purchase_key(event: contract.Event) -> bytes:
    """The purchases table's row key, as bytes: `<event_time>|<row_id>`, the time written as in `row_key`, e.g.
    b"20191001003258|aa96120f12c568b2d568ff84dacb84de". Purchases sort by time; the same purchase always gets
    the same key."""
    ### BEGIN SOLUTION
    return f"{_moment(event)}|{event.row_id}".encode()
    ### END SOLUTION


def cell(event: contract.Event) -> bytes:
    """The `e:event` cell, as UTF-8 bytes: a JSON object with every field of the event, named as in
    `Event.as_dict()`, the price as its exact decimal string ("7.50", never a float) and null fields as null."""
    ### BEGIN SOLUTION
    values = {**vars(event), "price": str(event.price)}
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
    ### END SOLUTION


def ensure_tables(settings: Settings) -> None:
    """Create the events and purchases tables (one family, one version) when they are missing."""
    settings.ensure_hbase_tables({settings.events_table: FAMILY, settings.purchase_table: FAMILY})


def rejection(record, reason: str, raw: str, error: str | None = None) -> bytes:
    """The rejected topic's JSON message for a consumed record: at most topics.REJECTED_MAX_BYTES whatever the
    record, so ``raw`` (the decoded record) is cut after RAW_CHARS characters and the source after TEXT_CHARS;
    the record's length in bytes and their SHA-256 identify it even then. An unwritable record's message also
    has the ``error`` (cut after TEXT_CHARS)."""
    source, line = produce.origin(record)
    message = {"reason": reason, "raw": raw[:RAW_CHARS], "bytes": len(record.value),
               "sha256": hashlib.sha256(record.value).hexdigest(), "source": source and source[:TEXT_CHARS],
               "line": line, "partition": record.partition, "offset": record.offset}
    if error is not None:
        message["error"] = error[:TEXT_CHARS]
    return json.dumps(message, ensure_ascii=False).encode()


def _error_text(error: BaseException) -> str:
    """An error in one line: its type and the first line of its message (a Thrift exception's ``message``
    field, bytes or text: HBase sends a Java stack trace)."""
    message = getattr(error, "message", None) or str(error)
    if isinstance(message, bytes):
        message = message.decode(errors="replace")
    first_line = message.strip().split("\n", 1)[0]
    return f"{type(error).__name__}: {first_line}"


def _write(table: happybase.Table, rows: dict[bytes, dict[bytes, bytes]]) -> None:
    """Put the rows in requests of at most MAX_BATCH_BYTES (the Thrift server's heap is small)."""
    writes, size = table.batch(), 0
    for key, columns in rows.items():
        writes.put(key, columns)
        size += len(key) + len(columns[COLUMN])
        if size >= MAX_BATCH_BYTES:
            writes.send()
            size = 0
    writes.send()


@dataclass(slots=True)
class _Row:
    """A valid event's rows: its events row, its purchases row (purchases only), and the record it came from."""

    record: object  # the consumed record
    raw: str  # its decoded text
    key: bytes
    purchase_key: bytes | None
    columns: dict[bytes, bytes]


@dataclass
class _Batch:
    """One poll's outcome: the HBase rows to put, the rejected sends, the offsets to commit after both."""

    rows: list[_Row] = field(default_factory=list)
    rejected: list = field(default_factory=list)
    offsets: dict[TopicPartition, OffsetAndMetadata] = field(default_factory=dict)


class _Tables:
    """The sink's HBase tables. A write that finds the connection broken reconnects, with growing delays, and
    writes the whole batch again: a put of the same row key overwrites itself. A write refused for a row of
    its own (WRITE_ERRORS) is written again in halves, down to the rows at fault, which are returned."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._connect()

    def _connect(self) -> None:
        self.connection = self.settings.hbase()
        self.events = self.connection.table(self.settings.events_table)
        self.purchases = self.connection.table(self.settings.purchase_table)

    def write(self, rows: list[_Row]) -> list[tuple[_Row, str]]:
        """Write the rows; returns those that cannot be written, each with its error."""
        try:
            self._write_reconnecting(rows)
            return []
        except WRITE_ERRORS as error:
            self.close()  # a request cut short (an encoding error) leaves the connection unusable: the next opens
            if len(rows) == 1:
                return [(rows[0], _error_text(error))]
            half = len(rows) // 2
            return self.write(rows[:half]) + self.write(rows[half:])

    def _write_reconnecting(self, rows: list[_Row]) -> None:
        """Write the rows; one log line per lost connection, once it is back (pipeline/outage.py)."""
        def write_rows() -> None:
            if self.connection is None:
                self._connect()
            _write(self.events, {row.key: row.columns for row in rows})
            _write(self.purchases, {row.purchase_key: row.columns for row in rows if row.purchase_key})

        outage.retried(write_rows, lambda error: isinstance(error, CONNECTION_ERRORS),
                       "hbase-sink: the HBase Thrift connection broke", "reconnected and wrote the batch again",
                       f"is hbase-thrift running (`lab status`) at {self.settings.hbase_host}:"
                       f"{self.settings.hbase_port}?", log, recover=self.close)

    def close(self) -> None:
        """Close the connection; the next write opens a new one."""
        if self.connection is None:
            return
        try:
            self.connection.close()
        except CONNECTION_ERRORS:
            pass
        self.connection = None


def _reject(settings: Settings, batch: _Batch, producer, stats: SinkStats, record, reason: str, raw: str,
            error: str | None = None) -> None:
    """Count a rejected record and send it to the rejected topic (not yet flushed); an unwritable one is logged."""
    if error is not None:
        log.warning("hbase-sink: the event at offset %d of partition %d cannot be written (%s); sent to %s as %s",
                    record.offset, record.partition, error, settings.rejected_topic, reason)
        stats.first_unwritable = stats.first_unwritable or error
    stats.rejected[reason] = stats.rejected.get(reason, 0) + 1
    batch.rejected.append(producer.send(settings.rejected_topic, value=rejection(record, reason, raw, error)))


def _validate(settings: Settings, poll: dict, producer, stats: SinkStats) -> _Batch:
    """Validate a poll's records (lab 01's ``validate``) into rows (lab 03's keys and cell); rejected ones, and
    those whose rows cannot be made, are sent (not yet flushed)."""
    validate, sink = seams.function(settings, "01", "validate"), seams.load(settings, "03")
    row_key, purchase_key, cell = sink.row_key, sink.purchase_key, sink.cell
    batch = _Batch()
    for partition, records in poll.items():
        for record in records:
            raw = contract.decode(record.value)
            verdict = validate(raw, settings.max_record_bytes)
            if isinstance(verdict, contract.Event):
                try:
                    purchase = purchase_key(verdict) if verdict.event_type == "purchase" else None
                    batch.rows.append(_Row(record, raw, row_key(verdict), purchase, {COLUMN: cell(verdict)}))
                except Exception as error:  # lab 03's code on an event it cannot handle
                    _reject(settings, batch, producer, stats, record, UNWRITABLE, raw, _error_text(error))
            else:
                _reject(settings, batch, producer, stats, record, verdict.reason, raw)
            stats.records += 1
        batch.offsets[partition] = OffsetAndMetadata(records[-1].offset + 1)
    return batch


def run(settings: Settings, idle_timeout_s: float | None = None, max_records: int | None = None,
        workers: int = 1) -> SinkStats:
    """Consume the raw topic into HBase and the rejected topic until stopped.

    idle_timeout_s: return once no new record arrived for this many seconds (None: run until SIGTERM/SIGINT).
    max_records: return after about this many records (a whole poll is always finished and committed).
    workers: consumer processes in the group (at most the partition count helps).

    Each poll's rows are written before the next poll, in this thread: a writer thread beside
    the validating one gave no overlap, because a 4 MB Thrift request then waits for the GIL
    at each of its thousand 4 KB socket writes (measured beside a busy thread: 3,000 rows/s
    instead of 65,000).
    """
    topics.ensure_topics(settings)
    ensure_tables(settings)
    if workers > 1:
        return SinkStats.combined(topics.in_processes([partial(run, settings, idle_timeout_s, max_records)] * workers))
    consumer = topics.consumer(settings, settings.hbase_sink_group, "hbase-sink", settings.raw_topic,
                               max_poll_records=10_000)
    rejected_producer = produce.producer(settings, client_id=f"{settings.namespace}-hbase-sink", linger_ms=5,
                                         max_request_size=topics.REJECTED_MAX_BYTES)
    tables = _Tables(settings)
    stats = SinkStats()
    started = time.monotonic()
    try:
        for poll in topics.batches(consumer, idle_timeout_s):
            if not poll:
                continue
            batch = _validate(settings, poll, rejected_producer, stats)
            for row, error in tables.write(batch.rows):
                _reject(settings, batch, rejected_producer, stats, row.record, UNWRITABLE, row.raw, error)
            rejected_producer.flush()
            for future in batch.rejected:
                future.get()  # raises if a rejected record could not be delivered
            topics.commit(consumer, batch.offsets)
            stats.valid = stats.records - sum(stats.rejected.values())
            if max_records is not None and stats.records >= max_records:
                break
    finally:
        consumer.close(autocommit=False)
        rejected_producer.close()
        tables.close()
        stats.seconds = time.monotonic() - started
    return stats
