"""Stage 6, real-time aggregates: Spark Structured Streaming from the raw topic into HBase.

raw topic → ``decode`` → ``clean.apply_contract`` → ``events`` (valid, distinct by row id
within a watermark) → ``aggregates`` (one stateful aggregation, output mode update) →
``hbase_writer`` (foreachBatch puts). ``events`` and ``aggregates`` are pure DataFrame
functions, so unit tests run them on static or file-stream DataFrames.

HBase layout (column family ``c``, one version, every value ASCII text):

* ``settings.minute_table``: row key = the event's minute, UTC, ``YYYYMMDDHHMM``, so a scan
  from a minute on returns the minutes in time order;
* ``settings.product_table``: row key = product_id in plain decimal (no padding: readers get
  products by id or scan them all, never by range);
* columns ``c:view``, ``c:cart``, ``c:remove_from_cart``, ``c:purchase`` (event counts) and
  ``c:revenue`` (sum of the purchase prices, exact decimal, 2 places) in both tables.

Exactly-once in effect: the values are absolute totals kept in Spark's state (checkpoint
on HDFS), and every put overwrites all five columns, so a batch redone after a crash or
restart writes the same values again instead of adding to them.

Duplicates: ``withWatermark("event_time", delay)`` + ``dropDuplicates(["row_id", "event_time"])``.
The row id hashes the normalised event_time, so two events with one row id always share
their event time and this drops exactly what ``dropDuplicatesWithinWatermark(["row_id"])``
would; but its state expires as soon as the watermark passes an event's time, where the
other keeps each id for another ``delay`` beyond the watermark (twice the state).
An event older than the watermark (the latest event time of the earlier batches, minus
``delay``) is dropped as late; it is never counted twice. The delay trades state for tolerance: the input files
are replayed at full speed in event-time order, each of the 3 partitions is read as far as
its producer batches have arrived, so one partition can be hours or days of event time
ahead of another. ``WATERMARK_DELAY`` (7 days, the span of the sample and of ``generate``'s
default files) guarantees that no event of such a file is ever late, at the price of
keeping every row id of the last 7 days of event time in the state store (RocksDB, on
local disk and checkpointed to HDFS, so it is not bound by the executor's heap). A longer
file (a REES46 month) wants a longer ``watermark_delay`` or a ``--rate``; a live source
with events in real time needs only minutes. Replaying a file a second time
(``produce --loop``) adds nothing: its events are duplicates or late.
The aggregation itself has no time key, so its state keeps every minute and product seen.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from decimal import Decimal
from typing import Callable, Iterator

import happybase
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from pipeline import clean, topics
from pipeline import spark as spark_session
from pipeline.contract import EVENT_TYPES
from pipeline.settings import Settings

WATERMARK_DELAY = "7 days"
MINUTE, PRODUCT = "minute", "product"  # the `table` labels of ``aggregates``' rows
MINUTE_FORMAT = "yyyyMMddHHmm"
FAMILY = "c"
COLUMNS = {name: f"{FAMILY}:{name}".encode() for name in (*EVENT_TYPES, "revenue")}
STATE_STORE = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
PUT_BATCH_SIZE = 1000


def decode(value: Column) -> Column:
    """contract.decode in Spark: UTF-8, each invalid sequence replaced by U+FFFD.

    A plain cast of binary to string keeps invalid bytes as they are (and a surrogate
    such as ED A0 80 would then reach the row id hash as it is).
    """
    return F.make_valid_utf8(value.cast("string"))


def events(messages: DataFrame, watermark_delay: str = WATERMARK_DELAY) -> DataFrame:
    """The distinct valid events of Kafka-shaped rows (a binary ``value``).

    Columns event_time, event_type, product_id, price, row_id.
    """
    checked = clean.apply_contract(messages.select(decode(F.col("value")).alias("raw")))
    return (checked.where(F.col("reason").isNull())
            .select("event_time", "event_type", "product_id", "price", "row_id")
            .withWatermark("event_time", watermark_delay)
            .dropDuplicates(["row_id", "event_time"]))


def aggregates(events: DataFrame) -> DataFrame:
    """Totals per HBase row: table (MINUTE or PRODUCT), row_key, a count per event type, revenue.

    Each event counts once towards its minute's row and once towards its product's row,
    so one aggregation (one state, one read of the stream) serves both tables.
    """
    keys = F.array(
        F.struct(F.lit(MINUTE).alias("table"), F.date_format("event_time", MINUTE_FORMAT).alias("row_key")),
        F.struct(F.lit(PRODUCT).alias("table"), F.col("product_id").cast("string").alias("row_key")),
    )
    rows = events.select(F.inline(keys), "event_type", "price")
    counts = [F.count_if(F.col("event_type") == name).alias(name) for name in EVENT_TYPES]
    revenue = F.sum(F.when(F.col("event_type") == "purchase", F.col("price")).otherwise(F.lit(0)))
    return rows.groupBy("table", "row_key").agg(*counts, revenue.cast("decimal(38,2)").alias("revenue"))


def puts(batch: DataFrame) -> Iterator[tuple[str, bytes, dict[bytes, bytes]]]:
    """(table label, row key, all five columns) for each row of a batch of ``aggregates``."""
    for row in batch.toLocalIterator():
        data = {COLUMNS[name]: str(row[name]).encode() for name in EVENT_TYPES}
        data[COLUMNS["revenue"]] = f"{row.revenue:.2f}".encode()
        yield row.table, row.row_key.encode(), data


def values(data: dict[bytes, bytes]) -> dict:
    """The counts (int) and revenue (Decimal) of one HBase row's columns."""
    counts = {name: int(data[COLUMNS[name]]) for name in EVENT_TYPES}
    return {**counts, "revenue": Decimal(data[COLUMNS["revenue"]].decode())}


@contextmanager
def _tables(settings: Settings) -> Iterator[dict[str, happybase.Table]]:
    """The minute and product tables by label, created when missing (by the writer or a reader)."""
    connection = settings.hbase()
    try:
        names = {MINUTE: settings.minute_table, PRODUCT: settings.product_table}
        existing = {name.decode() for name in connection.tables()}
        for name in set(names.values()) - existing:
            connection.create_table(name, {FAMILY: dict(max_versions=1)})
        yield {label: connection.table(name) for label, name in names.items()}
    finally:
        connection.close()


def hbase_writer(settings: Settings) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function: every updated total overwrites its HBase row."""

    def write(batch: DataFrame, batch_id: int) -> None:
        with _tables(settings) as tables:
            writers = {label: table.batch(batch_size=PUT_BATCH_SIZE) for label, table in tables.items()}
            for label, key, data in puts(batch):
                writers[label].put(key, data)
            for writer in writers.values():
                writer.send()

    return write


def kafka_messages(spark: SparkSession, settings: Settings) -> DataFrame:
    """The raw topic as a stream, from the earliest offset."""
    return (spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", settings.kafka_bootstrap)
            .option("subscribe", settings.raw_topic)
            .option("startingOffsets", "earliest")
            .load())


def start(messages: DataFrame, checkpoint: str, write: Callable[[DataFrame, int], None], trigger: dict,
          watermark_delay: str = WATERMARK_DELAY) -> StreamingQuery:
    """Start the aggregation of ``messages`` into ``write`` (foreachBatch), checkpointed at ``checkpoint``."""
    messages.sparkSession.conf.set("spark.sql.streaming.stateStore.providerClass", STATE_STORE)
    return (aggregates(events(messages, watermark_delay)).writeStream
            .outputMode("update")
            .foreachBatch(write)
            .option("checkpointLocation", checkpoint)
            .trigger(**trigger)
            .start())


def _await_stop(query: StreamingQuery) -> None:
    """Wait until the query fails, or SIGTERM or Ctrl-C asks to stop (then stop it)."""
    stop = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if in_main else None
    try:
        while not stop.is_set() and not query.awaitTermination(1):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        # A batch cut short is redone from the checkpoint on restart; its puts are idempotent.
        query.stop()


def run(settings: Settings, available_now: bool = False, processing_time: str = "5 seconds",
        spark: SparkSession | None = None, watermark_delay: str = WATERMARK_DELAY) -> None:
    """Aggregate the raw topic into HBase, checkpointed at ``settings.checkpoint_dir``/realtime.

    available_now: process what the topic holds now and return; otherwise a batch every
    ``processing_time`` until SIGTERM or Ctrl-C. Without ``spark``, a session on the
    standalone master (one core, spark.cores.max) is made and stopped at the end.
    """
    topics.ensure_topics(settings)
    session = spark or spark_session.session(settings, "realtime")
    try:
        trigger = {"availableNow": True} if available_now else {"processingTime": processing_time}
        checkpoint = settings.hdfs_uri(f"{settings.checkpoint_dir}/realtime")
        query = start(kafka_messages(session, settings), checkpoint, hbase_writer(settings), trigger,
                      watermark_delay)
        if available_now:
            query.awaitTermination()
        else:
            _await_stop(query)
    finally:
        if spark is None:
            session.stop()


def minute_counts(settings: Settings, since_minute: str) -> list[dict]:
    """Per-minute counts and revenue from ``since_minute`` ("YYYYMMDDHHMM", UTC) on, in time order."""
    with _tables(settings) as tables:
        return [{"minute": key.decode(), **values(data)}
                for key, data in tables[MINUTE].scan(row_start=since_minute.encode())]


def product_totals(settings: Settings, product_ids: list[int] | None = None) -> list[dict]:
    """Counts and revenue of the given products (those with events), or of every product."""
    with _tables(settings) as tables:
        table = tables[PRODUCT]
        rows = table.scan() if product_ids is None else table.rows([str(p).encode() for p in product_ids])
        return [{"product_id": int(key), **values(data)} for key, data in rows]


def totals(settings: Settings) -> dict:
    """Sums over all products: ``events``, ``events_by_type``, ``purchases``, ``revenue`` (the summary's names)."""
    by_type, revenue = dict.fromkeys(EVENT_TYPES, 0), Decimal("0.00")
    for product in product_totals(settings):
        for name in EVENT_TYPES:
            by_type[name] += product[name]
        revenue += product["revenue"]
    return {"events": sum(by_type.values()), "events_by_type": by_type, "purchases": by_type["purchase"],
            "revenue": revenue}
