"""Consumer lag: how far each consumer group is behind the end of the raw topic."""

from __future__ import annotations

import time
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient

from pipeline.settings import Settings


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    committed: int  # 0 when the group has not committed on this partition yet
    end: int

    @property
    def lag(self) -> int:
        return self.end - self.committed


def consumer_lag(settings: Settings, groups: list[str]) -> dict[str, list[PartitionLag]]:
    """Per group, per partition of the raw topic: the committed offset against the end offset."""
    client_id = f"{settings.namespace}-lag"
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, client_id=client_id)
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id=client_id)
    try:
        partitions = [TopicPartition(settings.raw_topic, p)
                      for p in sorted(consumer.partitions_for_topic(settings.raw_topic) or ())]
        ends = consumer.end_offsets(partitions)
        committed = admin.list_group_offsets(dict.fromkeys(groups))
    finally:
        consumer.close()
        admin.close()
    return {group: [PartitionLag(tp.partition, committed[group][tp].offset if tp in committed.get(group, {}) else 0,
                                 ends[tp]) for tp in partitions]
            for group in groups}


def wait_caught_up(settings: Settings, groups: list[str], timeout_s: float, on_poll=lambda lags: None) -> None:
    """Block until every group has committed up to the end of the raw topic."""
    deadline = time.monotonic() + timeout_s
    while True:
        lags = {group: sum(p.lag for p in partitions)
                for group, partitions in consumer_lag(settings, groups).items()}
        on_poll(lags)
        if not any(lags.values()):
            return
        if time.monotonic() > deadline:
            behind = ", ".join(f"{group}: {lag} messages" for group, lag in lags.items() if lag)
            raise TimeoutError(f"consumers did not catch up within {timeout_s:.0f}s ({behind})")
        time.sleep(1.0)
