"""Consumer lag: how far each consumer group is behind the end of the raw topic."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient

from pipeline.settings import Settings


def consumer_lag(settings: Settings, group: str) -> dict[int, int]:
    """Messages not yet committed by `group`, per partition of the raw topic."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, client_id=f"{settings.namespace}-lag")
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id=f"{settings.namespace}-lag")
    try:
        partitions = [TopicPartition(settings.raw_topic, p)
                      for p in sorted(consumer.partitions_for_topic(settings.raw_topic) or ())]
        ends = consumer.end_offsets(partitions)
        committed = admin.list_group_offsets(group)[group]
    finally:
        consumer.close()
        admin.close()
    return {tp.partition: ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in partitions}


def wait_caught_up(settings: Settings, groups: list[str], timeout_s: float, on_poll=lambda lags: None) -> None:
    """Block until every group has committed up to the end of the raw topic."""
    deadline = time.monotonic() + timeout_s
    while True:
        lags = {group: sum(consumer_lag(settings, group).values()) for group in groups}
        on_poll(lags)
        if not any(lags.values()):
            return
        if time.monotonic() > deadline:
            behind = ", ".join(f"{group}: {lag} messages" for group, lag in lags.items() if lag)
            raise TimeoutError(f"consumers did not catch up within {timeout_s:.0f}s ({behind})")
        time.sleep(1.0)
