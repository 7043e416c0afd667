"""No silent loss through retention: a stage whose next record the topic no longer holds stops with a clear
error instead of jumping to the oldest record kept; landing refuses records that do not follow each other.

The topic's retention is stood in for by Kafka's own DeleteRecords, which moves a partition's log start
offset exactly as a deleted segment does."""

from __future__ import annotations

import itertools
import subprocess
from collections import namedtuple
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.structs import OffsetAndMetadata

from pipeline import landing, produce, topics

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[2] / "datasets" / "sample" / "events.csv"
EVENTS = 300


@pytest.fixture
def expired(namespace, tmp_path):
    """The namespace's raw topic holding EVENTS records, of which the first half of each partition is deleted;
    returns {partition: its new log start offset}."""
    csv = tmp_path / "events.csv"
    with SAMPLE.open() as source:
        csv.write_text("".join(itertools.islice(source, EVENTS + 1)))
    topics.ensure_topics(namespace)
    produce.produce(namespace, csv, progress=False)
    partitions = [TopicPartition(namespace.raw_topic, p) for p in range(topics.PARTITIONS)]
    probe = KafkaConsumer(bootstrap_servers=namespace.kafka_bootstrap)
    ends = probe.end_offsets(partitions)
    probe.close()
    assert sum(ends.values()) == EVENTS
    starts = {tp: ends[tp] // 2 for tp in partitions if ends[tp] >= 2}
    admin = KafkaAdminClient(bootstrap_servers=namespace.kafka_bootstrap)
    try:
        admin.delete_records(starts)
    finally:
        admin.close()
    return starts


def ingest(lab, sink: str) -> subprocess.CompletedProcess:
    return subprocess.run(["lab", "pipeline", "--namespace", lab.namespace, "ingest", "--sink", sink,
                           "--idle-timeout", "5"], capture_output=True, text=True, timeout=180, check=False)


def committed(lab, group: str, partitions) -> dict:
    admin = KafkaAdminClient(bootstrap_servers=lab.kafka_bootstrap)
    try:
        return {tp: o.offset for tp, o in admin.list_group_offsets({group: list(partitions)})[group].items()}
    finally:
        admin.close()


def test_the_sink_stops_when_its_committed_offset_was_deleted(namespace, expired):
    group = KafkaConsumer(bootstrap_servers=namespace.kafka_bootstrap, group_id=namespace.hbase_sink_group,
                          enable_auto_commit=False)
    group.commit({tp: OffsetAndMetadata(1, "", -1) for tp in expired})
    group.close()
    result = ingest(namespace, "hbase")
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in output, output[-3000:]
    assert "deleted by the topic's retention" in output and "Nothing was skipped" in output, output[-3000:]
    # Nothing skipped: the group's offsets stay where its last read ended.
    assert committed(namespace, namespace.hbase_sink_group, expired) == {tp: 1 for tp in expired}


def test_landing_stops_when_records_it_never_landed_were_deleted(namespace, expired):
    result = ingest(namespace, "hdfs")
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in output, output[-3000:]
    assert "deleted by the topic's retention" in output, output[-3000:]
    assert landing.landed(namespace.webhdfs(), namespace) == ({}, []), "landing wrote past a gap"


def test_landing_refuses_a_record_that_does_not_follow_the_previous_one(namespace):
    lander = landing._Lander(namespace, consumer=None, stats=landing.LandingStats())
    lander.next_offset = {0: 5}
    record = namedtuple("Record", "partition offset")(0, 7)
    with pytest.raises(landing.OffsetGap, match="records 5..6 are missing"):
        lander.add([record])
    assert lander.size == 0
