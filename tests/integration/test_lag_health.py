"""A consumer group with lag that commits nothing is unhealthy, with the command that fixes it, in `lab status`, on
the Pipeline health page and in /api/pipeline; a group that commits, or has no lag, is healthy. Real groups of a
scratch namespace: records produced to its raw topic, offsets committed by hand (no consumer runs)."""

from __future__ import annotations

import threading
import time

import pytest
from kafka import KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.structs import OffsetAndMetadata
from typer.testing import CliRunner

from dashboard import create_app
from labctl import health
from labctl.cli import app as lab
from pipeline import lag, topics

pytestmark = pytest.mark.integration

WINDOW_S = 2.0  # the progress window, shortened for the tests (lag.PROGRESS_WINDOW_S)
RECORDS = 50


@pytest.fixture
def raw(namespace, monkeypatch):
    """``namespace`` with RECORDS records on partition 0 of its raw topic, and a shorter progress window."""
    monkeypatch.setattr(lag, "PROGRESS_WINDOW_S", WINDOW_S)
    topics.ensure_topics(namespace)
    producer = KafkaProducer(bootstrap_servers=namespace.kafka_bootstrap, acks="all")
    for n in range(RECORDS):
        producer.send(namespace.raw_topic, value=f"record {n}".encode(), partition=0)
    producer.flush()
    producer.close()
    return namespace


def commit(settings, group: str, offset: int) -> None:
    """Commit ``offset`` on partition 0 of the raw topic for ``group``, as a consumer of it would."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        admin.alter_group_offsets(group, {TopicPartition(settings.raw_topic, 0): OffsetAndMetadata(offset, "", -1)})
    finally:
        admin.close()


def pipeline_lag(settings) -> dict[str, dict]:
    """/api/pipeline's consumer groups of a fresh dashboard of ``settings``, by group."""
    body = create_app(settings).test_client().get("/api/pipeline").get_json()
    assert body["lag"] is not None, body["problems"]
    return {row["group"]: row for row in body["lag"]}


def test_a_group_with_lag_and_no_commits_is_unhealthy_with_its_fix(raw):
    commit(raw, raw.hbase_sink_group, 20)
    fix = f"lab pipeline --namespace {raw.namespace} ingest"

    result = CliRunner().invoke(lab, ["status"], env={"LAB_NAMESPACE": raw.namespace})
    assert result.exit_code == 1, result.output
    rows = [line for line in result.output.splitlines() if raw.hbase_sink_group in line and "FAIL" in line]
    assert rows and f"{RECORDS - 20} records wait" in rows[0], result.output
    assert f"{raw.hbase_sink_group}: {RECORDS - 20} records wait; no commit in {WINDOW_S:g} s. To fix it: {fix}" \
        in result.output
    assert f"{raw.landing_group}: {RECORDS} records wait" in result.output

    groups = pipeline_lag(raw)
    sink, landing = groups[raw.hbase_sink_group], groups[raw.landing_group]
    assert (sink["lag"], sink["committed"], sink["healthy"]) == (RECORDS - 20, 20, False)
    assert (landing["lag"], landing["committed"], landing["healthy"]) == (RECORDS, 0, False)
    assert sink["fix"] == landing["fix"] == fix
    html = create_app(raw).test_client().get("/health").get_data(as_text=True)
    assert f"{RECORDS - 20} records wait; no commit in {WINDOW_S:g} s" in html and fix in html


def test_a_group_that_commits_or_has_no_lag_is_healthy(raw):
    committing = threading.Event()

    def consume() -> None:  # both groups commit one more record every 0.2 s, never reaching the end
        for offset in range(1, RECORDS):
            if committing.wait(0.2):
                return
            for group in (raw.hbase_sink_group, raw.landing_group):
                commit(raw, group, offset)

    consumer = threading.Thread(target=consume)
    consumer.start()
    try:
        groups = pipeline_lag(raw)
    finally:
        committing.set()
        consumer.join()
    for group in groups.values():
        assert group["lag"] > 0 and group["healthy"], group
        assert group["detail"].endswith("records behind, committing") and group["fix"] is None

    for group in (raw.hbase_sink_group, raw.landing_group):
        commit(raw, group, RECORDS)
    started = time.monotonic()
    assert [(g["lag"], g["healthy"], g["detail"]) for g in health.consumer_groups(raw)] == [(0, True, "caught up")] * 2
    assert time.monotonic() - started < WINDOW_S, "without lag there is nothing to watch"
    assert [(g["lag"], g["healthy"]) for g in pipeline_lag(raw).values()] == [(0, True)] * 2
    result = CliRunner().invoke(lab, ["status"], env={"LAB_NAMESPACE": raw.namespace})
    assert result.exit_code == 0, result.output
    assert [line for line in result.output.splitlines() if raw.landing_group in line and "ok caught up" in line]
