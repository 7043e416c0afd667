"""Read back what the stages wrote, independently of the stages' code: the tests and the labs' checks
compare these plain reads (a Kafka topic from its beginning, the raw zone's files, the events table's
row count, an input file's lines) with what a stage should have written, in a scratch namespace.
``stream_files`` feeds the real-time job's functions a file stream instead of Kafka.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from kafka import KafkaConsumer, TopicPartition

from pipeline import settings as pipeline_settings
from pipeline import topics
from pipeline.settings import Settings


@contextmanager
def scratch_namespace(namespace: str | None = None) -> Iterator[Settings]:
    """Settings of a fresh namespace (``namespace``, or a unique ``t<12 hex digits>``); its topics, consumer
    groups, HBase tables and HDFS tree are dropped afterwards."""
    lab = pipeline_settings.load(namespace=namespace or f"t{uuid.uuid4().hex[:12]}")
    try:
        yield lab
    finally:
        topics.drop_namespace(lab)


def topic_records(settings: Settings, topic: str) -> list:
    """Every record of a topic, read from the beginning of each partition without a consumer group."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        records = []
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def raw_zone(settings: Settings) -> tuple[list[str], list[dict]]:
    """(every file name under the raw zone, as date/name, every landed JSON line)."""
    client = settings.webhdfs()
    names, lines = [], []
    for day in client.list(settings.raw_zone):
        for name in client.list(f"{settings.raw_zone}/{day}"):
            names.append(f"{day}/{name}")
            if not name.startswith((".", "_")):
                with client.read(f"{settings.raw_zone}/{day}/{name}") as reader:
                    lines.extend(json.loads(line) for line in reader.read().splitlines())
    return names, lines


def hbase_row_count(settings: Settings) -> int:
    """The rows of the events table (a key-only scan)."""
    connection = settings.hbase()
    try:
        table = connection.table(settings.events_table)
        return sum(1 for _ in table.scan(filter=b"KeyOnlyFilter()", batch_size=5000))
    finally:
        connection.close()


def file_lines(path: Path) -> dict[int, bytes]:
    """{line number: bytes} of a CSV's data lines, read independently of pipeline.contract."""
    lines = {}
    for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        line = line.removesuffix(b"\r")
        if number == 1 or not line:
            continue
        lines[number] = line
    return lines


def stream_files(directory: Path, parts: list[list[bytes]]) -> None:
    """One text file of hex-encoded records per part in ``directory`` (after those already there), modified in
    this order: the order in which Spark's file source reads them, one per micro-batch with maxFilesPerTrigger=1."""
    start = time.time() - 100
    existing = len(list(directory.iterdir()))
    for number, part in enumerate(parts, start=existing):
        path = directory / f"part-{number:03d}.txt"
        path.write_text("".join(f"{raw.hex()}\n" for raw in part))
        os.utime(path, (start + number, start + number))
