"""Helpers shared by the Kafka stages: the namespace's topics, consumers and their poll loop, worker processes,
removal of a namespace."""

from __future__ import annotations

import logging
import multiprocessing
import queue
import signal
import threading
import time
from typing import Callable, Iterator, TypeVar

from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient
from kafka.errors import CommitFailedError, TopicAlreadyExistsError

from pipeline.settings import Settings

T = TypeVar("T")
log = logging.getLogger(__name__)

PARTITIONS = 3
POLL_MS = 500
SESSION_TIMEOUT_MS = 10_000  # a killed group member's partitions move to the others after this
# The rejected topic's message limit: the broker's default (message.max.bytes, 1 MiB + 12), so that a rejected
# topic created by anyone takes every message the HBase sink sends (hbase_sink.rejection stays below it).
REJECTED_MAX_BYTES = 1024 * 1024


def _admin(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id=f"{settings.namespace}-admin")


def ensure_topics(settings: Settings, partitions: int = PARTITIONS) -> None:
    """Create the raw and rejected topics when they are missing (a no-op for those that exist)."""
    admin = _admin(settings)
    try:
        for topic, configs in ((settings.raw_topic, {}),
                               (settings.rejected_topic, {"max.message.bytes": str(REJECTED_MAX_BYTES)})):
            try:
                admin.create_topics({topic: {"num_partitions": partitions, "replication_factor": 1,
                                             "configs": configs}}, wait_for_metadata=True)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


def consumer(settings: Settings, group: str, name: str, *subscribe: str, **overrides) -> KafkaConsumer:
    """A stage's group consumer: offsets committed by the stage only, from the earliest offset the first time,
    and a short session, so that a killed member's partitions move on within seconds."""
    config = dict(bootstrap_servers=settings.kafka_bootstrap, group_id=group,
                  client_id=f"{settings.namespace}-{name}", enable_auto_commit=False, auto_offset_reset="earliest",
                  session_timeout_ms=SESSION_TIMEOUT_MS,
                  heartbeat_interval_ms=SESSION_TIMEOUT_MS // 3)
    config.update(overrides)
    return KafkaConsumer(*subscribe, **config)


def commit(consumer: KafkaConsumer, offsets: dict) -> None:
    """Commit a stage's offsets after its output is safely written; a warning when the group rebalanced first.

    A member that missed its session (a stall on a busy machine) is no longer in the group, so
    its commit is refused. The output is kept: the partitions' next owner (this consumer, once
    it rejoins at its next poll) re-reads from the last commit, and every stage's output is
    idempotent on re-delivery.
    """
    try:
        consumer.commit(offsets)
    except CommitFailedError as error:
        log.warning("%s: offsets not committed (%s); the group rebalanced, the records will be read again",
                    consumer.config["client_id"], error)


def drop_namespace(settings: Settings) -> None:
    """Delete the namespace's topics, consumer groups, HBase tables and HDFS tree (tests and benchmarks use it)."""
    admin = _admin(settings)
    try:
        existing = set(admin.list_topics())
        topics = [t for t in (settings.raw_topic, settings.rejected_topic) if t in existing]
        if topics:
            admin.delete_topics(topics)
        # Groups that never committed do not exist; the per-group errors are expected then.
        admin.delete_groups([settings.hbase_sink_group, settings.landing_group])
    finally:
        admin.close()
    connection = settings.hbase()
    try:
        tables = {t.decode() for t in connection.tables()}
        for table in tables & set(settings.hbase_tables):
            connection.delete_table(table, disable=True)
    finally:
        connection.close()
    settings.webhdfs().delete(settings.hdfs_root, recursive=True)


def batches(consumer: KafkaConsumer, idle_timeout_s: float | None) -> Iterator[dict]:
    """The consumer's poll results, empty ones included (a chance to flush), until SIGTERM or SIGINT arrives
    (then the caller's current batch is finished first: SIGTERM means flush, commit and return) or, unless
    idle_timeout_s is None, no record arrived for idle_timeout_s seconds."""
    stop = []
    previous = {}
    if threading.current_thread() is threading.main_thread():  # Python takes signals in the main thread only
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda signum, frame: stop.append(signum))
    last_record = time.monotonic()
    try:
        while not stop:
            batch = consumer.poll(timeout_ms=POLL_MS)
            if batch:
                last_record = time.monotonic()
            elif idle_timeout_s is not None and time.monotonic() - last_record >= idle_timeout_s:
                return
            yield batch
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def in_processes(calls: list[Callable[[], T]], while_waiting: Callable[[], None] = lambda: None) -> list[T]:
    """Run each of ``calls`` in a forked process of its own and return their results, in order.

    SIGTERM/SIGINT to this process is passed on to every worker, which then stops gracefully;
    ``while_waiting`` is called about every 0.2 s until all have finished (e.g. a progress bar).
    """
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [context.Process(target=_put_result, args=(results, number, call)) for number, call in enumerate(calls)]
    for process in processes:
        process.start()
    previous = {sig: signal.signal(sig, lambda signum, frame: [p.terminate() for p in processes if p.is_alive()])
                for sig in (signal.SIGTERM, signal.SIGINT)}
    outcomes: dict[int, object] = {}
    try:
        while len(outcomes) < len(processes):
            try:
                number, outcome = results.get(timeout=0.2)
                outcomes[number] = outcome
            except queue.Empty:
                if not any(p.is_alive() for p in processes) and results.empty():
                    raise RuntimeError("a worker process died without a result") from None
            while_waiting()
        for process in processes:
            process.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    failures = [o for o in outcomes.values() if isinstance(o, BaseException)]
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(calls)} workers failed") from failures[0]
    return [outcomes[number] for number in range(len(calls))]


def _put_result(results, number: int, call: Callable) -> None:
    try:
        results.put((number, call()))
    except BaseException as error:  # reported to the parent, which raises
        results.put((number, error))
