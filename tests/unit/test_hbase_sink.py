"""The HBase sink's rejected messages, without services: bounded whatever the record, still identifiable."""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace

import pytest

from pipeline import contract, hbase_sink, topics

pytestmark = pytest.mark.unit


def consumed(value: bytes, headers: list[tuple[str, bytes]]) -> SimpleNamespace:
    """A consumed raw record: what the sink reads of a kafka-python ConsumerRecord."""
    return SimpleNamespace(value=value, headers=headers, partition=2, offset=41)


def test_a_short_rejected_record_is_kept_whole_with_its_origin_length_and_hash():
    value = "x,é,\x00".encode()
    record = consumed(value, [("source", b"a.csv"), ("line", b"7")])
    message = json.loads(hbase_sink.rejection(record, "bad_field_count", contract.decode(value)))
    assert message == {"reason": "bad_field_count", "raw": "x,é,\x00", "bytes": len(value),
                       "sha256": hashlib.sha256(value).hexdigest(), "source": "a.csv", "line": 7, "partition": 2,
                       "offset": 41}


def test_the_longest_rejected_message_stays_below_the_topic_limit_and_identifies_its_record():
    # A control character takes 6 bytes in JSON (\u0001): the worst case, in the record and in its headers.
    value = b"\x01" * (3 * 1024 * 1024)
    record = consumed(value, [("source", b"\x01" * 100_000), ("line", b"12 or so")])
    message = hbase_sink.rejection(record, hbase_sink.UNWRITABLE, contract.decode(value), error="\x01" * 100_000)
    assert len(message) <= topics.REJECTED_MAX_BYTES
    got = json.loads(message)
    assert got["raw"] == "\x01" * hbase_sink.RAW_CHARS
    assert hbase_sink.RAW_CHARS > 100_000  # long records keep a useful prefix
    assert (got["bytes"], got["sha256"]) == (len(value), hashlib.sha256(value).hexdigest())
    assert got["source"] == got["error"] == "\x01" * hbase_sink.TEXT_CHARS
    assert got["line"] is None  # a line header that is not a number (another producer's) is left out
