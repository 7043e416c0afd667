"""Consumer lag: how far each consumer group is behind the end of the raw topic, and whether it is catching up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient

from pipeline.settings import Settings

# A group with lag that commits nothing for this long is stuck. Longer than the slowest commit cadence of a
# working consumer: the landing commits after each flush, at least every 5 s while records arrive
# (landing.run's flush_interval_s); the HBase sink after every poll.
PROGRESS_WINDOW_S = 10.0
PROGRESS_POLL_S = 0.5


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    committed: int  # 0 when the group has not committed on this partition yet
    end: int

    @property
    def lag(self) -> int:
        return self.end - self.committed


@dataclass(frozen=True)
class GroupProgress:
    """A group's lag per partition, and whether it committed while it was watched."""

    group: str
    partitions: list[PartitionLag]
    advanced: bool  # it committed more while watched (or had no lag, so nothing to watch)

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def committed(self) -> int:
        return sum(p.committed for p in self.partitions)

    @property
    def stuck(self) -> bool:
        """Records wait and the group committed none of them during the watch."""
        return self.lag > 0 and not self.advanced


@contextmanager
def _clients(settings: Settings) -> Iterator[tuple[KafkaAdminClient, list[TopicPartition], dict[TopicPartition, int]]]:
    """An admin client, the raw topic's partitions and their end offsets."""
    client_id = f"{settings.namespace}-lag"
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, client_id=client_id)
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id=client_id)
    try:
        partitions = [TopicPartition(settings.raw_topic, p)
                      for p in sorted(consumer.partitions_for_topic(settings.raw_topic) or ())]
        yield admin, partitions, consumer.end_offsets(partitions)
    finally:
        consumer.close()
        admin.close()


def _committed(admin: KafkaAdminClient, groups: list[str], partitions: list[TopicPartition]) -> dict[str, list[int]]:
    """Per group, the committed offset of each partition (0 where it has none)."""
    offsets = admin.list_group_offsets(dict.fromkeys(groups))
    return {group: [offsets[group][tp].offset if tp in offsets.get(group, {}) else 0 for tp in partitions]
            for group in groups}


def _lags(partitions: list[TopicPartition], committed: list[int],
          ends: dict[TopicPartition, int]) -> list[PartitionLag]:
    return [PartitionLag(tp.partition, offset, ends[tp]) for tp, offset in zip(partitions, committed)]


def consumer_lag(settings: Settings, groups: list[str]) -> dict[str, list[PartitionLag]]:
    """Per group, per partition of the raw topic: the committed offset against the end offset."""
    with _clients(settings) as (admin, partitions, ends):
        committed = _committed(admin, groups, partitions)
    return {group: _lags(partitions, offsets, ends) for group, offsets in committed.items()}


def group_progress(settings: Settings, groups: list[str], window_s: float | None = None) -> list[GroupProgress]:
    """Each group's lag on the raw topic, and whether a group with lag is consuming it: its committed offsets are
    read again every PROGRESS_POLL_S until each such group committed more, or ``window_s`` (PROGRESS_WINDOW_S)
    passed. So this answers at once when no group lags, and takes the whole window when one is stuck."""
    window_s = PROGRESS_WINDOW_S if window_s is None else window_s
    with _clients(settings) as (admin, partitions, ends):
        first = _committed(admin, groups, partitions)
        lags = {group: _lags(partitions, offsets, ends) for group, offsets in first.items()}
        waiting = {group for group, partition_lags in lags.items() if any(p.lag for p in partition_lags)}
        deadline = time.monotonic() + window_s
        while waiting and time.monotonic() < deadline:
            time.sleep(PROGRESS_POLL_S)
            for group, offsets in _committed(admin, sorted(waiting), partitions).items():
                if offsets != first[group]:
                    waiting.discard(group)
    return [GroupProgress(group, partition_lags, advanced=group not in waiting)
            for group, partition_lags in lags.items()]


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
