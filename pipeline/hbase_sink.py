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
batch written again, with one log line per incident.

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
from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata
from thriftpy2.transport import TTransportException

from pipeline import contract, produce, seams, topics
from pipeline.settings import Settings
from pipeline.store import EVENT_COLUMN as COLUMN, EVENT_FAMILY as FAMILY

MAX_BATCH_BYTES = 4 * 1024 * 1024
# One worker process per raw-topic partition: a worker spends about 40 % of its time waiting
# for HBase (measured: 6.9 s of 17.3 s for 300,000 records), so three keep the two cores busy
# where fewer leave them idle.
WORKERS = topics.PARTITIONS
# Seconds between attempts to reach HBase again after its Thrift connection broke (a server restart,
# or an idle connection the server closed); the sink gives up when HBase stays away this long.
RECONNECT_DELAYS_S = (0.5, 1, 2, 4, 8, 15)
RECONNECT_GIVE_UP_S = 600
CONNECTION_ERRORS = (OSError, TTransportException)  # OSError: BrokenPipeError, ConnectionResetError, ...
# A rejected message's texts are cut so that it stays below topics.REJECTED_MAX_BYTES: in JSON a character takes
# at most 6 bytes (\u0000); 64 KiB are left for the other fields, the batch's framing and lz4's worst case.
TEXT_CHARS = 1024
RAW_CHARS = (topics.REJECTED_MAX_BYTES - 64 * 1024) // 6 - TEXT_CHARS

log = logging.getLogger(__name__)


@dataclass
class SinkStats:
    records: int = 0
    valid: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

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
                   seconds=max(p.seconds for p in parts))


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


def rejection(record, reason: str, raw: str) -> bytes:
    """The rejected topic's JSON message for a consumed record: at most topics.REJECTED_MAX_BYTES whatever the
    record, so ``raw`` (the decoded record) is cut after RAW_CHARS characters and the source after TEXT_CHARS;
    the record's length in bytes and their SHA-256 identify it even then."""
    source, line = produce.origin(record)
    return json.dumps({"reason": reason, "raw": raw[:RAW_CHARS], "bytes": len(record.value),
                       "sha256": hashlib.sha256(record.value).hexdigest(),
                       "source": source and source[:TEXT_CHARS], "line": line,
                       "partition": record.partition, "offset": record.offset}, ensure_ascii=False).encode()


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


@dataclass
class _Batch:
    """One poll's outcome: the HBase rows to put, the rejected sends, the offsets to commit after both."""

    rows: dict[bytes, dict[bytes, bytes]] = field(default_factory=dict)
    purchases: dict[bytes, dict[bytes, bytes]] = field(default_factory=dict)
    rejected: list = field(default_factory=list)
    offsets: dict[TopicPartition, OffsetAndMetadata] = field(default_factory=dict)


class _Tables:
    """The sink's HBase tables. A write that finds the connection broken reconnects, with growing delays, and
    writes the whole batch again: a put of the same row key overwrites itself."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._connect()

    def _connect(self) -> None:
        self.connection = self.settings.hbase()
        self.events = self.connection.table(self.settings.events_table)
        self.purchases = self.connection.table(self.settings.purchase_table)

    def write(self, batch: _Batch) -> None:
        """Write the batch; one log line per lost connection, once it is back."""
        broken_at, attempt, cause = None, 0, None
        while True:
            try:
                _write(self.events, batch.rows)
                _write(self.purchases, batch.purchases)
                break
            except CONNECTION_ERRORS as error:
                now = time.monotonic()
                if broken_at is None:
                    broken_at, cause = now, f"{type(error).__name__}: {error}"
                elif now - broken_at > RECONNECT_GIVE_UP_S:
                    raise RuntimeError(f"HBase Thrift at {self.settings.hbase_host}:{self.settings.hbase_port} "
                                       f"unreachable for {RECONNECT_GIVE_UP_S} s; is hbase-thrift running "
                                       f"(`lab status`)?") from error
                self.close()
                time.sleep(RECONNECT_DELAYS_S[min(attempt, len(RECONNECT_DELAYS_S) - 1)])
                attempt += 1
                try:
                    self._connect()
                except CONNECTION_ERRORS:
                    continue
        if broken_at is not None:
            log.warning("hbase-sink: the HBase Thrift connection broke (%s); reconnected after %.1f s and wrote "
                        "the batch again", cause, time.monotonic() - broken_at)

    def close(self) -> None:
        try:
            self.connection.close()
        except CONNECTION_ERRORS:
            pass


def _validate(settings: Settings, poll: dict, producer, stats: SinkStats) -> _Batch:
    """Validate a poll's records (lab 01's ``validate``) into rows (lab 03's keys and cell); rejected ones are
    sent (not yet flushed)."""
    validate, sink = seams.function(settings, "01", "validate"), seams.load(settings, "03")
    row_key, purchase_key, cell = sink.row_key, sink.purchase_key, sink.cell
    batch = _Batch()
    for partition, records in poll.items():
        for record in records:
            raw = contract.decode(record.value)
            verdict = validate(raw, settings.max_record_bytes)
            if isinstance(verdict, contract.Event):
                batch.rows[row_key(verdict)] = value = {COLUMN: cell(verdict)}
                if verdict.event_type == "purchase":
                    batch.purchases[purchase_key(verdict)] = value
            else:
                stats.rejected[verdict.reason] = stats.rejected.get(verdict.reason, 0) + 1
                batch.rejected.append(producer.send(settings.rejected_topic,
                                                    value=rejection(record, verdict.reason, raw)))
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
            tables.write(batch)
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
