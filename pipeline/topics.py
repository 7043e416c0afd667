"""Helpers shared by the Kafka stages: the namespace's topics, consumers and their poll loop, worker processes,
removal of a namespace."""

from __future__ import annotations

import logging
import multiprocessing
import queue
import signal
import threading
import time
from functools import partial
from typing import Callable, Iterator, TypeVar

from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient
from kafka.errors import (CommitFailedError, KafkaError, NoOffsetForPartitionError, OffsetOutOfRangeError,
                          TopicAlreadyExistsError)

from pipeline import outage
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


KAFKA_FIX = "is kafka running (`lab status`)?"


def kafka_away(error: BaseException) -> bool:
    """Whether a Kafka client error is the broker being away for a while (a restart): Kafka marks those retriable."""
    return isinstance(error, KafkaError) and error.retriable


def ensure_topics(settings: Settings, partitions: int = PARTITIONS) -> None:
    """Create the raw and rejected topics when they are missing (a no-op for those that exist); waits out a
    broker that is restarting (pipeline/outage.py)."""
    outage.retried(partial(_create_topics, settings, partitions), kafka_away, "Kafka was away at start",
                   "reached it", KAFKA_FIX, log)


def _create_topics(settings: Settings, partitions: int) -> None:
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


class RecordsExpired(RuntimeError):
    """The topic's retention deleted records a stage had not read yet; the stage stops rather than skip them."""


def _expired(positions: dict) -> RecordsExpired:
    where = ", ".join(f"{tp.topic} partition {tp.partition} from offset {offset}"
                      for tp, offset in sorted(positions.items()))
    return RecordsExpired(
        f"records this stage had not read yet were deleted by the topic's retention ({where}). Nothing was "
        "skipped: the stage stopped. Produce the source file again into a new namespace (lab pipeline "
        "--namespace NEW run --input FILE); to keep more, raise kafka_log_retention_hours or "
        "kafka_log_retention_bytes in ansible/roles/kafka/defaults/main.yml and run `sudo ./lab up --provision`.")


def consumer(settings: Settings, group: str, name: str, *subscribe: str, **overrides) -> KafkaConsumer:
    """A stage's group consumer: offsets committed by the stage only, from the earliest offset the first time
    (see poll), and a short session, so that a killed member's partitions move on within seconds.

    No automatic offset reset: a position the topic no longer holds is an error (RecordsExpired), not a
    silent jump to the oldest record kept."""
    config = dict(bootstrap_servers=settings.kafka_bootstrap, group_id=group,
                  client_id=f"{settings.namespace}-{name}", enable_auto_commit=False, auto_offset_reset="none",
                  session_timeout_ms=SESSION_TIMEOUT_MS,
                  heartbeat_interval_ms=SESSION_TIMEOUT_MS // 3)
    config.update(overrides)
    return KafkaConsumer(*subscribe, **config)


def poll(consumer: KafkaConsumer) -> dict:
    """One poll of a stage's consumer; a partition the group never committed is read from its beginning.

    Raises RecordsExpired when a position (a committed offset, or one the stage sought) is below the
    partition's oldest kept record."""
    while True:
        try:
            return consumer.poll(timeout_ms=POLL_MS)
        except NoOffsetForPartitionError as error:
            consumer.seek_to_beginning(*error.args[0])
        except OffsetOutOfRangeError as error:
            raise _expired(error.args[0]) from None


def commit(consumer: KafkaConsumer, offsets: dict) -> None:
    """Commit a stage's offsets after its output is safely written; a warning when the group rebalanced first.

    A member that missed its session (a stall on a busy machine) is no longer in the group, so
    its commit is refused. The output is kept: the partitions' next owner (this consumer, once
    it rejoins at its next poll) re-reads from the last commit, and every stage's output is
    idempotent on re-delivery.
    """
    try:
        outage.retried(partial(consumer.commit, offsets), kafka_away, f"{consumer.config['client_id']}: a commit "
                       "failed, Kafka was away", "committed", KAFKA_FIX, log)
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
            batch = poll(consumer)
            if batch:
                last_record = time.monotonic()
            elif idle_timeout_s is not None and time.monotonic() - last_record >= idle_timeout_s:
                return
            yield batch
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def in_processes(calls: list[Callable[[], T]], while_waiting: Callable[[], None] = lambda: None) -> list[T]:
    """Run each of ``calls`` in a forked process of its own and return their results, in order (or raise the
    first failed one's exception).

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
    if failures:  # the first worker's own exception, so that callers can tell what failed
        failures[0].add_note(f"{len(failures)} of {len(calls)} workers failed")
        raise failures[0]
    return [outcomes[number] for number in range(len(calls))]


def _put_result(results, number: int, call: Callable) -> None:
    try:
        results.put((number, call()))
    except BaseException as error:  # reported to the parent, which raises
        results.put((number, error))
