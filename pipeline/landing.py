"""Stage 3: land the raw topic's records in the HDFS raw zone, exactly once in effect.

Layout: `<raw_zone>/ingest_date=YYYY-MM-DD/part-PPP-FFFFFFFFFFFF-LLLLLLLLLLLL.jsonl`
(Kafka partition, first and last offset in the file; the date is the message
timestamp's, UTC), one JSON object per line: {"raw", "source", "line",
"partition", "offset", "timestamp_ms"}.

Why no record is ever visible partially, lost or landed twice:
1. A file is written under a hidden name (`.part-...jsonl.tmp`, which no reader's
   `part-*.jsonl` glob matches) and then renamed; an HDFS rename is atomic and
   refuses to replace an existing file, so readers see whole files or nothing.
2. Each file holds a run of *consecutive* records of one partition (a new file
   starts whenever the ingest date changes), and a partition's files are renamed
   in offset order. So the landed files of a partition always cover exactly the
   prefix of the partition up to their highest last offset L, whatever the moment
   of a crash (a batch spanning two dates is just two renames; a crash between
   them leaves a shorter prefix, not a gap).
3. The raw zone is the source of truth: when a partition is assigned, the landing
   consumer deletes its leftover temp files and seeks to L + 1 (offset 0 when
   nothing landed), ignoring Kafka's committed offset, which
   is committed after the renames only so that lag can be monitored (L + 1 is
   committed too, for files a crashed consumer renamed but did not commit).
A write HDFS refuses while it is away (unreachable, in safe mode) is tried again
with growing delays (pipeline/outage.py).
An offset the topic no longer holds (deleted by retention) stops the stage with
topics.RecordsExpired, and records that do not follow each other with OffsetGap:
either would otherwise leave a gap.
This assumes one writer per partition at a time, which the consumer group gives
(a consumer that lost its partitions drops its unwritten records); were a
stale writer to rename a file with a name that exists, the rename fails loudly.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from hdfs import HdfsError, InsecureClient
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from pipeline import contract, outage, produce, seams, topics
from pipeline.settings import Settings

PART = re.compile(r"^part-(\d{3})-(\d{12})-(\d{12})\.jsonl$")
TEMP = re.compile(r"^\.part-(\d{3})-\d{12}-\d{12}\.jsonl\.tmp$")

log = logging.getLogger(__name__)


@dataclass
class LandingStats:
    records: int = 0
    files: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Records per second."""
        return self.records / self.seconds if self.seconds else 0.0


def ingest_date(timestamp_ms: int) -> str:
    """The ``YYYY-MM-DD`` date, UTC, of a Kafka timestamp (milliseconds since the epoch)."""
    ### BEGIN SOLUTION
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")
    ### END SOLUTION


def file_name(partition: int, first: int, last: int) -> str:
    """The name of the file holding a partition's records ``first``..``last`` (offsets, inclusive):
    ``part-PPP-FFFFFFFFFFFF-LLLLLLLLLLLL.jsonl``, zero-padded so names sort in offset order."""
    ### BEGIN SOLUTION
    return f"part-{partition:03d}-{first:012d}-{last:012d}.jsonl"
    ### END SOLUTION


def write_file(client: InsecureClient, directory: str, name: str, data: bytes) -> None:
    """Make ``<directory>/<name>`` appear whole or not at all: write ``data`` to the hidden
    ``<directory>/.<name>.tmp`` (overwriting a leftover), then rename it to ``<directory>/<name>``."""
    ### BEGIN SOLUTION
    temp = f"{directory}/.{name}.tmp"
    client.write(temp, data=data, overwrite=True)
    client.rename(temp, f"{directory}/{name}")
    ### END SOLUTION


def landed(client: InsecureClient, settings: Settings) -> tuple[dict[int, int], list[tuple[int, str]]]:
    """({partition: highest landed last offset}, [(partition, temp file path)]) from the raw zone."""
    last: dict[int, int] = {}
    temps: list[tuple[int, str]] = []
    if client.status(settings.raw_zone, strict=False) is None:
        return last, temps
    for day in client.list(settings.raw_zone):
        if not day.startswith("ingest_date="):
            continue
        for name in client.list(f"{settings.raw_zone}/{day}"):
            if match := PART.match(name):
                partition = int(match[1])
                last[partition] = max(last.get(partition, -1), int(match[3]))
            elif match := TEMP.match(name):
                temps.append((int(match[1]), f"{settings.raw_zone}/{day}/{name}"))
    return last, temps


def raw_line(raw: bytes, source: str | None, line: int | None, partition: int, offset: int,
             timestamp_ms: int) -> str:
    """One JSON line of the raw zone (no line terminator): {"raw", "source", "line", "partition", "offset",
    "timestamp_ms"}, ``raw`` the record decoded as ``contract.decode`` does, non-ASCII kept as it is."""
    ### BEGIN SOLUTION
    return json.dumps({"raw": contract.decode(raw), "source": source, "line": line, "partition": partition,
                       "offset": offset, "timestamp_ms": timestamp_ms}, ensure_ascii=False)
    ### END SOLUTION




def _hdfs_away(error: BaseException) -> bool:
    """Whether a WebHDFS failure is HDFS being away for a while: unreachable, or in safe mode."""
    return isinstance(error, OSError) or (isinstance(error, HdfsError) and "safe mode" in str(error).lower())


class OffsetGap(RuntimeError):
    """A partition's records did not follow each other: landing them would leave a gap in the raw zone."""


class _Lander(ConsumerRebalanceListener):
    """Buffers records per partition and writes them as files; seeks from the raw zone on assignment."""

    def __init__(self, settings: Settings, consumer: KafkaConsumer, stats: LandingStats) -> None:
        self.settings, self.consumer, self.stats = settings, consumer, stats
        self.client = settings.webhdfs()
        self.lab = seams.load(settings, "04")
        # A batch's records share their timestamps' milliseconds by the dozen.
        self.ingest_date = functools.lru_cache(maxsize=4096)(self.lab.ingest_date)
        self.pending: dict[int, list[tuple[int, str, str]]] = {}  # partition -> [(offset, date, line)]
        self.found: dict[TopicPartition, OffsetAndMetadata] = {}  # positions sought from the raw zone, to commit
        self.next_offset: dict[int, int] = {}  # partition -> the offset its next record must have
        self.oldest: float | None = None

    def on_partitions_revoked(self, revoked) -> None:
        for tp in revoked:
            self.pending.pop(tp.partition, None)  # not landed: the next owner lands them
            self.found.pop(tp, None)
            self.next_offset.pop(tp.partition, None)

    def on_partitions_assigned(self, assigned) -> None:
        last, temps = landed(self.client, self.settings)
        mine = {tp.partition for tp in assigned}
        for partition, path in temps:
            if partition in mine:
                self.client.delete(path)
        for tp in assigned:
            # From the record after the last landed one, or the partition's first: an offset the topic no
            # longer holds stops the stage (topics.RecordsExpired) instead of landing a gap.
            self.next_offset[tp.partition] = last.get(tp.partition, -1) + 1
            self.consumer.seek(tp, self.next_offset[tp.partition])
            if tp.partition in last:
                self.found[tp] = OffsetAndMetadata(self.next_offset[tp.partition])

    def add(self, records) -> None:
        ingest_date, raw_line = self.ingest_date, self.lab.raw_line
        for record in records:
            expected = self.next_offset.get(record.partition, record.offset)
            if record.offset != expected:
                raise OffsetGap(f"{self.settings.raw_topic} partition {record.partition}: offset {record.offset} "
                                f"came where {expected} was due; records {expected}..{record.offset - 1} are "
                                "missing, so the raw zone would have a gap. Nothing was landed past it.")
            self.next_offset[record.partition] = record.offset + 1
            source, line = produce.origin(record)
            self.pending.setdefault(record.partition, []).append(
                (record.offset, ingest_date(record.timestamp),
                 raw_line(record.value, source, line, record.partition, record.offset, record.timestamp)))
        if self.oldest is None:
            self.oldest = time.monotonic()

    @property
    def size(self) -> int:
        return sum(len(lines) for lines in self.pending.values())

    def flush(self) -> None:
        """Land every pending record, then commit the next offsets (for lag monitoring only)."""
        offsets = dict(self.found)  # then the next offset of each partition this flush lands
        for partition, records in self.pending.items():
            start = 0
            for end in range(1, len(records) + 1):
                if end == len(records) or records[end][1] != records[start][1]:
                    self._write(partition, records[start:end])
                    start = end
            offsets[TopicPartition(self.settings.raw_topic, partition)] = OffsetAndMetadata(records[-1][0] + 1)
        self.pending, self.oldest, self.found = {}, None, {}
        if offsets:
            topics.commit(self.consumer, offsets)

    def _write(self, partition: int, run: list[tuple[int, str, str]]) -> None:
        name = self.lab.file_name(partition, run[0][0], run[-1][0])
        directory = f"{self.settings.raw_zone}/ingest_date={run[0][1]}"
        data = "".join(line + "\n" for _, _, line in run).encode()
        failed = []

        def land() -> None:
            # After a failure whose answer was lost, the rename may have happened: the name says what is in it.
            if not failed or self.client.status(f"{directory}/{name}", strict=False) is None:
                self.lab.write_file(self.client, directory, name, data)

        outage.retried(land, _hdfs_away, "landing: HDFS refused a write", "landed it", "is HDFS healthy "
                       "(`lab status`; `hdfs dfsadmin -safemode get`)?", log, recover=lambda: failed.append(True))
        self.stats.records += len(run)
        self.stats.files += 1


def run(settings: Settings, idle_timeout_s: float | None = None, flush_records: int = 200_000,
        flush_interval_s: float = 5.0) -> LandingStats:
    """Land the raw topic into `settings.raw_zone` until stopped.

    idle_timeout_s: return once no new record arrived for this many seconds (None: run until SIGTERM/SIGINT,
    which lands what is buffered, commits and returns).
    flush_records / flush_interval_s: write files once this many records are buffered or the oldest buffered
    record waited this long (and whenever the topic has nothing new).
    """
    topics.ensure_topics(settings)
    consumer = topics.consumer(settings, settings.landing_group, "landing", max_poll_records=20_000)
    stats = LandingStats()
    lander = _Lander(settings, consumer, stats)
    consumer.subscribe([settings.raw_topic], listener=lander)
    started = time.monotonic()
    try:
        for batch in topics.batches(consumer, idle_timeout_s):
            for records in batch.values():
                lander.add(records)
            if (lander.pending or lander.found) and (not batch or lander.size >= flush_records
                                   or time.monotonic() - lander.oldest >= flush_interval_s):
                lander.flush()
        lander.flush()
    finally:
        consumer.close(autocommit=False)
        stats.seconds = time.monotonic() - started
    return stats


def land_csv(settings: Settings, csv_path: str | Path, client: InsecureClient | None = None,
             records_per_file: int = 1_000_000) -> int:
    """Write a CSV straight into the raw zone, as this consumer would have; returns the records.

    For tests, benchmarks and labs that start at the clean stage: one Kafka
    partition (0), offsets counting from 0, today's ingest_date, each file written
    under a hidden name and renamed.
    """
    client = client or settings.webhdfs()
    lab = seams.load(settings, "04")
    source, now_ms = Path(csv_path).name, int(time.time() * 1000)
    directory = f"{settings.raw_zone}/ingest_date={lab.ingest_date(now_ms)}"
    offset = 0
    with open(csv_path, "rb") as stream:
        records = contract.read_records(stream, settings.max_record_bytes)
        while chunk := list(itertools.islice(records, records_per_file)):
            lines = "".join(lab.raw_line(raw, source, line, 0, offset + i, now_ms) + "\n"
                            for i, (line, raw) in enumerate(chunk))
            # bytes: the hdfs package sends a str given with encoding= in tiny chunks
            lab.write_file(client, directory, lab.file_name(0, offset, offset + len(chunk) - 1), lines.encode())
            offset += len(chunk)
    return offset
