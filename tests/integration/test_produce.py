"""Stage 1 against the running broker: every record arrives once, byte-exact, keyed and with its origin."""

from __future__ import annotations

import csv
import io
import secrets
from collections import defaultdict
from pathlib import Path

import pytest

from pipeline import produce
from pipeline.readback import file_lines, topic_records

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).parents[2] / "datasets" / "sample" / "events.csv"


def expected_key(line: bytes) -> bytes:
    rows = list(csv.reader(io.StringIO(line.decode("utf-8", errors="replace"))))
    if len(rows) != 1 or len(rows[0]) != 9:
        return b""
    return (rows[0][8] or rows[0][7]).encode()


@pytest.mark.parametrize("processes", [1, 2])
def test_every_record_arrives_once_byte_exact_with_key_and_headers(namespace, processes):
    stats = produce.produce(namespace, SAMPLE, progress=False, processes=processes)
    lines = file_lines(SAMPLE)
    assert stats.records == len(lines)

    records = topic_records(namespace, namespace.raw_topic)
    assert len(records) == len(lines)
    seen = {}
    for record in records:
        headers = dict(record.headers)
        assert headers["source"] == b"events.csv"
        number = int(headers["line"])
        assert number not in seen, f"line {number} delivered twice"
        seen[number] = record
        assert record.value == lines[number]
        assert record.key == expected_key(lines[number])
    assert set(seen) == set(lines)

    # One key's records share a partition, in file order.
    by_key = defaultdict(list)
    for number in sorted(seen):
        by_key[seen[number].key].append(seen[number])
    for key, keyed in by_key.items():
        assert len({r.partition for r in keyed}) == 1, key
        assert [r.offset for r in keyed] == sorted(r.offset for r in keyed), key
    assert len({r.partition for r in records}) == 3


def test_rate_limits_the_replay(namespace, tmp_path):
    source = tmp_path / "few.csv"
    source.write_bytes(b"\n".join(SAMPLE.read_bytes().split(b"\n")[:301]) + b"\n")
    stats = produce.produce(namespace, source, rate=200, progress=False)
    assert stats.records == 300
    assert stats.seconds >= 1.4  # 300 events at 200/s


def test_a_line_longer_than_the_limit_is_skipped_counted_once_and_the_others_arrive(namespace, tmp_path):
    lines = SAMPLE.read_bytes().split(b"\n")[:201]
    source = tmp_path / "poison.csv"
    with source.open("wb") as out:
        out.write(b"\n".join(lines[:101]) + b"\n")
        out.write(lines[101] + b"x" * (3 * namespace.max_record_bytes) + b"\n")  # line 102: too long for the broker too
        out.write(b"\n".join(lines[102:]) + b"\n")
    stats = produce.produce(namespace, source, progress=False, processes=2)
    assert (stats.records, stats.skipped) == (199, 1)
    delivered = sorted(int(dict(record.headers)["line"]) for record in topic_records(namespace, namespace.raw_topic))
    assert delivered == [number for number in range(2, 202) if number != 102]


@pytest.mark.parametrize("processes", [1, 2])
def test_undeliverable_records_raise(namespace, tmp_path, processes):
    # A topic that refuses large messages: the broker rejects the big record, produce must say so.
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=namespace.kafka_bootstrap)
    admin.create_topics({namespace.raw_topic: {"num_partitions": 3, "replication_factor": 1,
                                               "configs": {"max.message.bytes": "2000"}}}, wait_for_metadata=True)
    admin.close()
    source = tmp_path / "big.csv"
    source.write_bytes(SAMPLE.read_bytes().split(b"\n")[0] + b"\n" + secrets.token_urlsafe(40_000).encode() + b"\n")  # incompressible
    with pytest.raises(produce.DeliveryError, match="1 of 1 records"):
        produce.produce(namespace, source, progress=False, processes=processes)
