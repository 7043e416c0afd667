"""Stage 6, real-time aggregates: Spark Structured Streaming from the raw topic into HBase.

raw topic → ``decode`` → ``clean.apply_contract`` → ``events`` (valid, distinct by row id
within a watermark) → ``aggregates`` (one stateful aggregation, output mode update) →
``hbase_writer`` (foreachBatch puts). ``events`` and ``aggregates`` are pure DataFrame
functions, so unit tests run them on static or file-stream DataFrames.

HBase layout (every value ASCII text; counts are ``view``, ``cart``, ``remove_from_cart``,
``purchase``, and ``revenue`` is the sum of the purchase prices, exact decimal, 2 places):

* ``settings.minute_table``: row key = the event's minute, UTC, ``YYYYMMDDHHMM``, so a scan
  from a minute on returns the minutes in time order;
* ``settings.product_table``: row key = product_id in plain decimal (no padding: readers get
  products by id or scan them all, never by range);
* ``settings.total_table``: one row, ``all``, the totals over every event;
* these three have one column per count and ``c:revenue`` in family ``c``;
* ``settings.minute_product_table``: row key = the minute as above, one cell per product with
  events in that minute, ``p:<product_id>`` = the five values separated by spaces (a wide row,
  so the last 15 minutes' products are 15 rows in one scan).

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
PROCESSING_TIME = "2 seconds"  # between micro-batches of a running stream
# the `table` labels of ``aggregates``' rows
MINUTE, PRODUCT, MINUTE_PRODUCT, TOTAL = "minute", "product", "minute_product", "total"
MINUTE_FORMAT = "yyyyMMddHHmm"
TOTAL_KEY = "all"
FAMILY, PRODUCT_FAMILY = "c", "p"
VALUES = (*EVENT_TYPES, "revenue")
COLUMNS = {name: f"{FAMILY}:{name}".encode() for name in VALUES}
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
# The stream's JVMs (driver and executor) compile with C1 only. With C2 as well, each JVM spent
# about 0.4 of a core compiling for minutes on end (Spark plans every micro-batch anew, and the
# executor loads new generated classes for each). At 1,000 events/s, C1 alone cut the stream's
# CPU from 117 % to 86 % of a core and the Live API's p95 from 4.7 s to 2.9-3.1 s. The price is
# a slower drain of a large backlog: 1 M events in 157 s instead of 97 s (300,000 in 64 s either
# way); C1 in the driver only kept the drain at 105 s but the p95 at 3.9 s.
JVM_OPTIONS = "-XX:TieredStopAtLevel=1"


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
    """Totals per HBase cell group: table (a label), row_key, a count per event type, revenue.

    Each event counts once towards its minute, its product, its (minute, product) pair
    (row_key ``<minute>|<product_id>``) and the grand total, so one aggregation (one state,
    one read of the stream) serves every table.
    """
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


def puts(batch: DataFrame) -> Iterator[tuple[str, bytes, dict[bytes, bytes]]]:
    """(table label, row key, cells) for each row of a batch of ``aggregates``: all five columns of
    its row, or for MINUTE_PRODUCT the one product cell of its minute's row."""
    for row in batch.toLocalIterator():
        texts = [*(str(row[name]) for name in EVENT_TYPES), f"{row.revenue:.2f}"]
        if row.table == MINUTE_PRODUCT:
            minute, product = row.row_key.split("|")
            yield row.table, minute.encode(), {f"{PRODUCT_FAMILY}:{product}".encode(): " ".join(texts).encode()}
        else:
            yield row.table, row.row_key.encode(), {COLUMNS[name]: text.encode() for name, text in zip(VALUES, texts)}


def values(data: dict[bytes, bytes]) -> dict:
    """The counts (int) and revenue (Decimal) of one HBase row's columns."""
    return parse_values([data[COLUMNS[name]] for name in VALUES])


def zero() -> dict:
    """The values of a row without events: zero counts, revenue 0.00."""
    return {**dict.fromkeys(EVENT_TYPES, 0), "revenue": Decimal("0.00")}


def parse_values(texts: list[bytes]) -> dict:
    """{view, cart, remove_from_cart, purchase: int, revenue: Decimal} from the five values as text."""
    return {**{name: int(text) for name, text in zip(EVENT_TYPES, texts)}, "revenue": Decimal(texts[-1].decode())}


@contextmanager
def _tables(settings: Settings, connection: happybase.Connection | None = None) -> Iterator[dict[str, happybase.Table]]:
    """The tables by label, created when missing (by the writer or a reader), on ``connection`` or a new one."""
    names = {MINUTE: settings.minute_table, PRODUCT: settings.product_table,
             MINUTE_PRODUCT: settings.minute_product_table, TOTAL: settings.total_table}
    with settings.hbase_using(connection) as connection:
        settings.ensure_hbase_tables({name: PRODUCT_FAMILY if label == MINUTE_PRODUCT else FAMILY
                                      for label, name in names.items()}, connection)
        yield {label: connection.table(name) for label, name in names.items()}


def hbase_writer(settings: Settings) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function: every updated total overwrites its HBase row."""

    def write(batch: DataFrame, batch_id: int) -> None:
        # The first row comes once the batch's job is done; only then is HBase connected, because
        # its Thrift server closes a connection that has been idle for 60 s (a long first batch).
        rows = puts(batch)
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
          watermark_delay: str = WATERMARK_DELAY) -> StreamingQuery:
    """Start the aggregation of ``messages`` into ``write`` (foreachBatch), checkpointed at ``checkpoint``.

    The session's configuration is left as it was (STREAM_CONF applies to the query only).
    """
    conf = messages.sparkSession.conf
    previous = {name: conf.get(name, None) for name in STREAM_CONF}
    for name, value in STREAM_CONF.items():
        conf.set(name, value)
    try:
        return (aggregates(events(messages, watermark_delay)).writeStream
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
    standalone master (one core, spark.cores.max; no event log; JVM_OPTIONS) is made and stopped at the end.
    """
    topics.ensure_topics(settings)
    session = spark or spark_session.session(settings, "realtime", event_log=False, java_options=JVM_OPTIONS)
    try:
        trigger = {"availableNow": True} if available_now else {"processingTime": processing_time}
        checkpoint = settings.hdfs_uri(f"{settings.checkpoint_dir}/{CHECKPOINT}")
        query = start(kafka_messages(session, settings), checkpoint, hbase_writer(settings), trigger,
                      watermark_delay)
        if available_now:
            query.awaitTermination()
        else:
            _await_stop(query)
    finally:
        if spark is None:
            session.stop()


def minute_counts(settings: Settings, since_minute: str, connection: happybase.Connection | None = None) -> list[dict]:
    """Per-minute counts and revenue from ``since_minute`` ("YYYYMMDDHHMM", UTC) on, in time order."""
    with _tables(settings, connection) as tables:
        return [{"minute": key.decode(), **values(data)}
                for key, data in tables[MINUTE].scan(row_start=since_minute.encode())]


def latest_minute(settings: Settings, connection: happybase.Connection | None = None) -> str | None:
    """The latest minute with events ("YYYYMMDDHHMM"), or None before the first."""
    with _tables(settings, connection) as tables:
        for key, _ in tables[MINUTE].scan(reverse=True, limit=1, columns=[COLUMNS["view"]]):
            return key.decode()
    return None


def product_totals(settings: Settings, product_ids: list[int] | None = None,
                   connection: happybase.Connection | None = None) -> list[dict]:
    """Counts and revenue of the given products (those with events), or of every product."""
    with _tables(settings, connection) as tables:
        table = tables[PRODUCT]
        rows = table.scan() if product_ids is None else table.rows([str(p).encode() for p in product_ids])
        return [{"product_id": int(key), **values(data)} for key, data in rows]


def top_products(settings: Settings, since_minute: str, limit: int = 10,
                 connection: happybase.Connection | None = None) -> list[dict]:
    """The products with the most revenue (then purchases, views, lowest id) in the minutes from
    ``since_minute`` on, with their counts and revenue summed over those minutes."""
    sums: dict[int, dict] = {}
    with _tables(settings, connection) as tables:
        for _, cells in tables[MINUTE_PRODUCT].scan(row_start=since_minute.encode()):
            for column, text in cells.items():
                product = int(column.split(b":", 1)[1])
                row = parse_values(text.split())
                total = sums.setdefault(product, dict.fromkeys(row, 0))
                for name, value in row.items():
                    total[name] += value
    ranked = sorted(sums.items(), key=lambda item: (-item[1]["revenue"], -item[1]["purchase"], -item[1]["view"],
                                                    item[0]))
    return [{"product_id": product, **row} for product, row in ranked[:limit]]


def totals(settings: Settings, connection: happybase.Connection | None = None) -> dict:
    """Totals over every event: ``events``, ``events_by_type``, ``purchases``, ``revenue`` (the summary's names)."""
    with _tables(settings, connection) as tables:
        data = tables[TOTAL].row(TOTAL_KEY.encode())
    row = values(data) if data else zero()
    by_type = {name: row[name] for name in EVENT_TYPES}
    return {"events": sum(by_type.values()), "events_by_type": by_type, "purchases": by_type["purchase"],
            "revenue": row["revenue"]}
