"""Integration fixtures: a fresh namespace per test on the running stack, removed afterwards, and readers
of what the Kafka stages wrote."""

from __future__ import annotations

import json

import pytest
from kafka import KafkaConsumer, TopicPartition

from pipeline import settings, topics

KAFKA_STAGES = ("kafka", "hbase-thrift", "namenode", "datanode")


@pytest.fixture
def namespace(require, unique):
    """Settings for a namespace no other run uses; its topics, groups, tables and HDFS tree are dropped after."""
    for name in KAFKA_STAGES:
        require(name)
    lab = settings.load(namespace=unique)
    yield lab
    topics.drop_namespace(lab)


def topic_records(lab, topic: str) -> list:
    """Every record of a topic, read from the beginning of each partition without a consumer group."""
    consumer = KafkaConsumer(bootstrap_servers=lab.kafka_bootstrap, enable_auto_commit=False)
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


def raw_zone(lab) -> tuple[list[str], list[dict]]:
    """(every file name under the raw zone, as date/name, every landed JSON line)."""
    client = lab.webhdfs()
    names, lines = [], []
    for day in client.list(lab.raw_zone):
        for name in client.list(f"{lab.raw_zone}/{day}"):
            names.append(f"{day}/{name}")
            if not name.startswith((".", "_")):
                with client.read(f"{lab.raw_zone}/{day}/{name}") as reader:
                    lines.extend(json.loads(line) for line in reader.read().splitlines())
    return names, lines


def hbase_row_count(lab) -> int:
    connection = lab.hbase()
    try:
        table = connection.table(lab.events_table)
        return sum(1 for _ in table.scan(filter=b"KeyOnlyFilter()", batch_size=5000))
    finally:
        connection.close()


def file_lines(path) -> dict[int, bytes]:
    """{line number: bytes} of a CSV's data lines, read independently of pipeline.contract."""
    lines = {}
    for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        line = line.removesuffix(b"\r")
        if number == 1 or not line:
            continue
        lines[number] = line
    return lines
