"""Stage 6, real-time aggregates: Spark Structured Streaming from the raw topic into HBase.

raw topic → ``decode`` → ``clean.apply_contract`` → ``events`` (valid, distinct by row id
within a watermark) → ``aggregates`` (one stateful aggregation, output mode update) →
``hbase_writer`` (foreachBatch puts). ``events`` and ``aggregates`` are pure DataFrame
functions, so unit tests run them on static or file-stream DataFrames.

The HBase layout (a minute, product, minute-product and total table) and its readers
(``minute_counts``, ``latest_minute``, ``product_totals``, ``top_products``, ``totals``) are in
``pipeline/store.py``, which the dashboard imports without Spark.

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
local disk and checkpointed to HDFS, so it is not bound by the executor's heap; see STREAM_CONF). A longer
file (a REES46 month) wants a longer ``watermark_delay`` or a ``--rate``; a live source
with events in real time needs only minutes, and a stream that runs for days wants no more:
each micro-batch that moves the watermark scans the whole deduplication state to evict
(about 1.6 µs per row id on the lab's 2 cores: 414,000 ids took 0.66 s a batch), so 7 days
of a 20 events/s demo (12 M ids) would cost about 20 s a batch; the demo's stream runs with
10 minutes (the demo role's ``demo_watermark_delay``). Replaying a file a second time
(``produce --loop``) adds nothing: its events are duplicates or late.
The aggregation itself has no time key, so its state keeps every minute and product seen.
"""

from __future__ import annotations

import itertools
import signal
import threading
from typing import Callable, Iterable, Iterator

from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from pipeline import clean, seams, topics
from pipeline import spark as spark_session
from pipeline.contract import EVENT_TYPES, MAX_RECORD_BYTES
from pipeline.settings import Settings
from pipeline.store import COLUMNS, MINUTE, MINUTE_PRODUCT, PRODUCT, PRODUCT_FAMILY, TOTAL, TOTAL_KEY, VALUES, _tables

WATERMARK_DELAY = "7 days"
PROCESSING_TIME = "2 seconds"  # between micro-batches of a running stream
MINUTE_FORMAT = "yyyyMMddHHmm"  # Spark's pattern of the minute row keys (store.MINUTE's table)
# Named after the aggregation's layout: a changed `aggregates` starts a new checkpoint from the
# earliest offset, which rewrites every table, instead of adding new rows to the old state's.
CHECKPOINT = "realtime-v2"
# The stream's own configuration (the query takes a copy when it starts; a new checkpoint records it).
# One state partition: the job has one core, and every partition of each of the two stateful
# operators commits a state store per micro-batch. The RocksDB changelog commits only the batch's
# changes to HDFS instead of a checkpoint of the whole store: micro-batches of a 1,000 events/s
# stream take about 1 s instead of 5.
STREAM_CONF = {
    "spark.sql.streaming.stateStore.providerClass":
        "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
    "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
    "spark.sql.shuffle.partitions": "1",
}
PUT_BATCH_SIZE = 1000


def decode(value: Column) -> Column:
    """contract.decode in Spark: UTF-8, each invalid sequence replaced by U+FFFD.

    A plain cast of binary to string keeps invalid bytes as they are (and a surrogate
    such as ED A0 80 would then reach the row id hash as it is).
    """
    return F.make_valid_utf8(value.cast("string"))


def events(messages: DataFrame, watermark_delay: str = WATERMARK_DELAY,
           max_record_bytes: int = MAX_RECORD_BYTES) -> DataFrame:
    """The distinct valid events of Kafka-shaped rows (a binary ``value``), records longer than
    ``max_record_bytes`` rejected.

    Columns event_time, event_type, product_id, price, row_id.
    """
    checked = clean.apply_contract(messages.select(decode(F.col("value")).alias("raw")), max_bytes=max_record_bytes)
    return (checked.where(F.col("reason").isNull())
            .select("event_time", "event_type", "product_id", "price", "row_id")
            .withWatermark("event_time", watermark_delay)
            .dropDuplicates(["row_id", "event_time"]))


def aggregates(events: DataFrame) -> DataFrame:
    """The totals of ``events`` per HBase row, in one stateful aggregation (one state, one read of the stream).

    ``events``: distinct valid events, columns event_time (timestamp), event_type, product_id (long),
    price (decimal(38,2)), row_id. Each event counts once towards four rows, each a (table label,
    row_key): (MINUTE, its UTC minute as ``yyyyMMddHHmm``), (PRODUCT, its product_id in plain decimal),
    (MINUTE_PRODUCT, ``<minute>|<product_id>``) and (TOTAL, TOTAL_KEY).
    Returns one row per (table, row_key) with the columns table, row_key, view, cart,
    remove_from_cart, purchase (the counts, 0 when none) and revenue (the exact sum of the purchase
    prices only, decimal(38,2), 0.00 when none).
    """
    ### BEGIN SOLUTION
    minute = F.date_format("event_time", MINUTE_FORMAT)
    product = F.col("product_id").cast("string")

    def key(label: str, row_key: Column) -> Column:
        return F.struct(F.lit(label).alias("table"), row_key.alias("row_key"))

    keys = F.array(key(MINUTE, minute), key(PRODUCT, product), key(MINUTE_PRODUCT, F.concat_ws("|", minute, product)),
                   key(TOTAL, F.lit(TOTAL_KEY)))
    rows = events.select(F.inline(keys), "event_type", "price")
    counts = [F.count_if(F.col("event_type") == name).alias(name) for name in EVENT_TYPES]
    revenue = F.sum(F.when(F.col("event_type") == "purchase", F.col("price")).otherwise(F.lit(0)))
    return rows.groupBy("table", "row_key").agg(*counts, revenue.cast("decimal(38,2)").alias("revenue"))
    ### END SOLUTION


def puts(rows: Iterable[Row]) -> Iterator[tuple[str, bytes, dict[bytes, bytes]]]:
    """The HBase puts of a micro-batch of ``aggregates`` rows: one (table label, row key, cells) per row,
    key and cells as bytes, every value ASCII text; each put overwrites the absolute totals HBase holds.

    MINUTE, PRODUCT and TOTAL rows: the key is row_key; the cells are all five COLUMNS (c:view,
    c:cart, c:remove_from_cart, c:purchase: the counts; c:revenue: the revenue with 2 decimals),
    zeros included. A MINUTE_PRODUCT row is one cell of its minute's row: the key is the minute,
    the cell ``p:<product_id>`` holds the five values in VALUES order, separated by spaces.
    """
    ### BEGIN SOLUTION
    for row in rows:
        texts = [*(str(row[name]) for name in EVENT_TYPES), f"{row.revenue:.2f}"]
        if row.table == MINUTE_PRODUCT:
            minute, product = row.row_key.split("|")
            yield row.table, minute.encode(), {f"{PRODUCT_FAMILY}:{product}".encode(): " ".join(texts).encode()}
        else:
            yield row.table, row.row_key.encode(), {COLUMNS[name]: text.encode() for name, text in zip(VALUES, texts)}
    ### END SOLUTION


def hbase_writer(settings: Settings) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function: every updated total overwrites its HBase row."""

    to_puts = seams.function(settings, "07", "puts")

    def write(batch: DataFrame, batch_id: int) -> None:
        # The first row comes once the batch's job is done; only then is HBase connected, because
        # its Thrift server closes a connection that has been idle for 60 s (a long first batch).
        rows = iter(to_puts(batch.toLocalIterator()))
        first = next(rows, None)
        if first is None:
            return
        with _tables(settings) as tables:
            writers = {label: table.batch(batch_size=PUT_BATCH_SIZE) for label, table in tables.items()}
            for label, key, data in itertools.chain([first], rows):
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
          watermark_delay: str = WATERMARK_DELAY,
          aggregate: Callable[[DataFrame], DataFrame] = aggregates,
          max_record_bytes: int = MAX_RECORD_BYTES) -> StreamingQuery:
    """Start the aggregation (``aggregate``, lab 07's ``aggregates``) of ``messages`` into ``write``
    (foreachBatch), checkpointed at ``checkpoint``.

    The session's configuration is left as it was (STREAM_CONF applies to the query only).
    """
    conf = messages.sparkSession.conf
    previous = {name: conf.get(name, None) for name in STREAM_CONF}
    for name, value in STREAM_CONF.items():
        conf.set(name, value)
    try:
        return (aggregate(events(messages, watermark_delay, max_record_bytes)).writeStream
                .outputMode("update")
                .foreachBatch(write)
                .option("checkpointLocation", checkpoint)
                .trigger(**trigger)
                .start())
    finally:
        for name, value in previous.items():
            if value is None:
                conf.unset(name)
            else:
                conf.set(name, value)


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


def run(settings: Settings, available_now: bool = False, processing_time: str = PROCESSING_TIME,
        spark: SparkSession | None = None, watermark_delay: str = WATERMARK_DELAY) -> None:
    """Aggregate the raw topic into HBase, checkpointed at ``settings.checkpoint_dir``/CHECKPOINT.

    available_now: process what the topic holds now and return; otherwise a batch every
    ``processing_time`` until SIGTERM or Ctrl-C. Without ``spark``, a session on the
    ``settings.spark_master`` (no event log) is made and stopped at the end.
    """
    topics.ensure_topics(settings)
    session = spark or spark_session.session(settings, "realtime", event_log=False, long_running=not available_now)
    try:
        trigger = {"availableNow": True} if available_now else {"processingTime": processing_time}
        checkpoint = settings.hdfs_uri(f"{settings.checkpoint_dir}/{CHECKPOINT}")
        query = start(kafka_messages(session, settings), checkpoint, hbase_writer(settings), trigger,
                      watermark_delay, seams.function(settings, "07", "aggregates"), settings.max_record_bytes)
        if available_now:
            query.awaitTermination()
        else:
            _await_stop(query)
    finally:
        if spark is None:
            session.stop()
