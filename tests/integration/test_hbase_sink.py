"""Stage 2 against the running stack: rows, rejections with reasons, idempotent re-delivery, the user lookup."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient, OffsetSpec

import datasets
from pipeline import contract, hbase_sink, produce, seams, store, topics
from pipeline.readback import file_lines, hbase_row_count, topic_records

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).parents[2] / "datasets" / "sample" / "events.csv"


def rewind(lab, group: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=lab.kafka_bootstrap)
    try:
        partitions = [TopicPartition(lab.raw_topic, p) for p in range(3)]
        result = admin.reset_group_offsets(group, {tp: OffsetSpec.EARLIEST for tp in partitions})
        assert all(r["error"] is None or r["error"].errno == 0 for r in result.values()), result
    finally:
        admin.close()


def test_valid_events_in_hbase_rejects_with_reasons_redelivery_adds_nothing(namespace):
    expected = datasets.Manifest.load(datasets.manifest_path(SAMPLE)).expected
    produce.produce(namespace, SAMPLE, progress=False)
    stats = hbase_sink.run(namespace, idle_timeout_s=3)
    assert stats.records == expected["input_records"]
    assert stats.rejected == {r: n for r, n in expected["rejected"].items() if n}
    assert hbase_row_count(namespace) == expected["clean_events"]

    lines = file_lines(SAMPLE)
    rejected = [json.loads(r.value) for r in topic_records(namespace, namespace.rejected_topic)]
    assert Counter(r["reason"] for r in rejected) == Counter({r: n for r, n in expected["rejected"].items() if n})
    assert len({(r["partition"], r["offset"]) for r in rejected}) == len(rejected)
    for message in rejected:
        assert message["source"] == "events.csv"
        assert message["raw"] == lines[message["line"]].decode("utf-8", errors="replace")

    rewind(namespace, namespace.hbase_sink_group)
    again = hbase_sink.run(namespace, idle_timeout_s=3)
    assert again.records == expected["input_records"]
    assert hbase_row_count(namespace) == expected["clean_events"]


def test_a_rejection_too_big_for_the_brokers_message_limit_is_cut_and_the_sink_goes_on(namespace):
    """The rejected topic made with the broker's defaults (as `kafka-topics.sh --create` would), and a record of a
    million control characters, 6 MB as JSON text: its rejected message is cut below the limit and delivered."""
    admin = KafkaAdminClient(bootstrap_servers=namespace.kafka_bootstrap)
    try:
        admin.create_topics({namespace.rejected_topic: {"num_partitions": 3, "replication_factor": 1}},
                            wait_for_metadata=True)
    finally:
        admin.close()
    topics.ensure_topics(namespace)
    poison, valid = b"\x01" * 1_000_000, file_lines(SAMPLE)[2]
    kafka = produce.producer(namespace)
    for line, value in ((2, poison), (3, valid)):
        kafka.send(namespace.raw_topic, value, headers=produce.headers("poison.csv", line))
    kafka.flush()
    kafka.close()
    stats = hbase_sink.run(namespace, idle_timeout_s=3)
    assert (stats.records, stats.valid, stats.rejected) == (2, 1, {"bad_field_count": 1})
    [message] = [json.loads(r.value) for r in topic_records(namespace, namespace.rejected_topic)]
    assert message["raw"] == "\x01" * hbase_sink.RAW_CHARS
    assert (message["bytes"], message["sha256"]) == (len(poison), hashlib.sha256(poison).hexdigest())
    assert message["line"] == 2
    assert hbase_row_count(namespace) == 1


# A student's lab 03 file whose cell, for one brand, is the event's dict instead of its JSON bytes.
UNSENDABLE_CELL = '''from pipeline.hbase_sink import cell as reference_cell, purchase_key, row_key  # noqa: F401


def cell(event):
    return vars(event) if event.brand == "unsendable" else reference_cell(event)
'''


def test_events_hbase_refuses_or_thrift_cannot_send_are_quarantined_and_the_sink_goes_on(namespace, tmp_path):
    """A valid event whose cell is over HBase's 10 MiB KeyValue limit (with max_record_bytes raised to allow it),
    and one whose cell (a student's) is not bytes: each goes to the rejected topic as unwritable with its error;
    the other events are written and the offsets committed, so a second run finds nothing to redo."""
    labs = seams.write_reference_labs(tmp_path / "labs")
    seams.SEAMS["03"].path(labs).write_text(UNSENDABLE_CELL)
    lab = dataclasses.replace(namespace, labs_dir=str(labs), student_labs="03", max_record_bytes=16 * 2**20)
    record = "2019-10-01 00:00:0{second} UTC,{kind},1004,2053013555631882655,phone,{brand},1.50,5000,s-1"
    values = {2: record.format(second=1, kind="view", brand="apple"),
              3: record.format(second=2, kind="view", brand="b" * 11 * 2**20),
              4: record.format(second=3, kind="view", brand="unsendable"),
              5: record.format(second=4, kind="purchase", brand="apple")}
    topics.ensure_topics(lab)
    kafka = produce.producer(lab, max_request_size=32 * 2**20)
    for line, value in values.items():
        kafka.send(lab.raw_topic, value.encode(), key=b"s-1", headers=produce.headers("poison.csv", line))
    kafka.flush()
    kafka.close()

    stats = hbase_sink.run(lab, idle_timeout_s=3)
    assert (stats.records, stats.valid, stats.rejected) == (4, 2, {"unwritable": 2})
    rejected = {m["line"]: m for m in (json.loads(r.value) for r in topic_records(lab, lab.rejected_topic))}
    assert sorted(rejected) == [3, 4] and {m["reason"] for m in rejected.values()} == {"unwritable"}
    assert rejected[3]["error"].startswith("IllegalArgument: ") and "KeyValue size too large" in rejected[3]["error"]
    assert rejected[4]["error"].startswith("TDecodeException: ")
    assert rejected[3]["bytes"] == len(values[3]) and rejected[4]["raw"] == values[4]
    assert stats.first_unwritable in (rejected[3]["error"], rejected[4]["error"])
    assert hbase_row_count(lab) == 2
    assert hbase_sink.run(lab, idle_timeout_s=3).records == 0


def test_user_events_are_one_users_events_in_time_order(namespace):
    produce.produce(namespace, SAMPLE, progress=False)
    hbase_sink.run(namespace, idle_timeout_s=3)
    events = [v for v in (contract.validate(contract.decode(raw)) for raw in file_lines(SAMPLE).values())
              if isinstance(v, contract.Event)]
    user = Counter(e.user_id for e in events).most_common(1)[0][0]
    mine = {e.row_id: e.as_dict() for e in events if e.user_id == user}

    found = store.user_events(namespace, user)
    assert {e["row_id"]: e for e in found} == mine
    assert [e["event_time"] for e in found] == sorted(e["event_time"] for e in found)
    assert store.user_events(namespace, user + 10**12) == []


def test_latest_purchases_are_the_distinct_purchases_latest_first(namespace):
    produce.produce(namespace, SAMPLE, progress=False)
    hbase_sink.run(namespace, idle_timeout_s=3)
    events = (contract.validate(contract.decode(raw)) for raw in file_lines(SAMPLE).values())
    purchases = {e.row_id: e.as_dict() for e in events if isinstance(e, contract.Event) and e.event_type == "purchase"}
    assert purchases

    everything = store.latest_purchases(namespace, limit=len(purchases) + 10)
    assert {e["row_id"]: e for e in everything} == purchases
    assert [e["event_time"] for e in everything] == sorted((e["event_time"] for e in everything), reverse=True)
    assert store.latest_purchases(namespace, limit=5) == everything[:5]


def test_workers_racing_to_create_the_tables_all_go_on(namespace):
    """The sink's workers start together, and each creates the missing tables: the losers of that race carry on."""
    outcomes = topics.in_processes([partial(hbase_sink.ensure_tables, namespace)] * 6)
    assert outcomes == [None] * 6
    with namespace.hbase_using() as connection:
        assert {namespace.events_table, namespace.purchase_table} <= {t.decode() for t in connection.tables()}


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {timeout_s} s"
        time.sleep(0.5)


def sink_across(namespace, tmp_path, caplog, break_connection, rows: int, seeds: tuple[int, int],
                idle_timeout_s: float) -> None:
    """Events produced, ``break_connection()``, more events: the sink reconnects, says so in one line, and every
    event of before and after is in HBase (counted by a scan of its own)."""
    before = datasets.generate(tmp_path / "before.csv", rows=rows, seed=seeds[0], defect_rate=0).expected
    after = datasets.generate(tmp_path / "after.csv", rows=rows, seed=seeds[1], defect_rate=0).expected
    caplog.set_level(logging.WARNING, logger="pipeline.hbase_sink")
    hbase_sink.ensure_tables(namespace)  # counted from the start
    with ThreadPoolExecutor(1) as pool:
        sink = pool.submit(hbase_sink.run, namespace, idle_timeout_s=idle_timeout_s)
        produce.produce(namespace, tmp_path / "before.csv", progress=False)
        wait_for(lambda: hbase_row_count(namespace) == before["clean_events"], 120, "the first events in HBase")
        break_connection()
        produce.produce(namespace, tmp_path / "after.csv", progress=False)
        stats = sink.result(timeout=600)
    assert stats.records == before["input_records"] + after["input_records"]
    assert hbase_row_count(namespace) == before["clean_events"] + after["clean_events"]
    lines = [r.getMessage() for r in caplog.records]
    assert sum("connection broke" in line and "wrote the batch again after" in line for line in lines) == 1, lines


def test_the_sink_reconnects_when_hbase_thrift_restarts_and_loses_nothing(namespace, tmp_path, caplog):
    """A restarted Thrift server breaks the sink's connection."""
    sink_across(namespace, tmp_path, caplog, lambda: subprocess.run(
        ["supervisorctl", "restart", "hbase-thrift"], check=True, capture_output=True, timeout=120),
        rows=2000, seeds=(141, 142), idle_timeout_s=30)


# HBase Thrift closes a connection idle for hbase.thrift.server.socket.read.timeout (60 s by default).
THRIFT_IDLE_TIMEOUT_S = 60


@pytest.mark.slow
def test_the_sink_carries_on_after_idling_past_the_thrift_timeout(namespace, tmp_path, caplog):
    """A student pauses the producer for longer than Thrift keeps an idle connection."""
    sink_across(namespace, tmp_path, caplog, lambda: time.sleep(THRIFT_IDLE_TIMEOUT_S + 15),
                rows=1000, seeds=(143, 144), idle_timeout_s=THRIFT_IDLE_TIMEOUT_S + 45)
