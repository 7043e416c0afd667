"""Public checks of lab 07 (`lab check 07`): your aggregates on a small table of events, your puts on
hand-made rows, then both in a real stream that stops and restarts from its checkpoint, and on Kafka + HBase.

Every Spark check runs your code with a local time zone of UTC+05:45 (in this process and in Spark's
Python workers), so a minute key taken from local time shows up whatever the time zone of your machine.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Iterator

from pyspark.sql import Row
from pyspark.sql import functions as F

from datasets.manifest import manifest_path
from labctl.checking import Context, check, local_time_zone
from pipeline import clean, contract, produce, realtime
from pipeline.readback import stream_files
from pipeline.contract import EVENT_TYPES
from pipeline.store import COLUMNS, MINUTE, MINUTE_PRODUCT, PRODUCT, TOTAL, TOTAL_KEY, VALUES

AWAY_FROM_UTC = "Asia/Kathmandu"  # UTC+05:45: a local-time minute is off by 5 hours 45 minutes
COLUMN_NAMES = ("table", "row_key", *VALUES)

# Distinct valid events as the stream gives them to aggregates: (event_time UTC, type, product, price).
# Times that a wrong pattern gives away: 09:05 (no zero padding), 14:07 (hh, MM), 23:59:59 (rounding),
# 2019-12-30 (YYYY is the week-based year, 2020 there), the first minute of 2019-12-31.
EVENTS = [
    ("2019-10-01 09:05:30", "view", 5, "10.00"),
    ("2019-10-01 09:05:59", "purchase", 5, "10.00"),
    ("2019-10-01 09:05:01", "cart", 1004856, "249.50"),
    ("2019-10-01 14:07:00", "purchase", 1004856, "9999999999999999.99"),
    ("2019-10-01 14:07:59", "purchase", 1004856, "0.01"),
    ("2019-10-01 14:07:30", "remove_from_cart", 5, "10.00"),
    ("2019-10-01 14:07:10", "view", 5, "10.00"),
    ("2019-12-30 23:59:59", "view", 42, "1081.98"),
    ("2019-12-31 00:00:00", "purchase", 42, "0.10"),
    ("2019-12-31 00:00:00", "purchase", 42, "0.20"),
    ("2019-12-31 00:00:59", "view", 7, "5.00"),
]


def zero() -> dict:
    return {**dict.fromkeys(EVENT_TYPES, 0), "revenue": Decimal("0.00")}


def expected_rows(events: list[tuple[str, str, int, Decimal]]) -> dict[str, dict[str, dict]]:
    """{table label: {row_key: {view, cart, remove_from_cart, purchase, revenue}}} of (time, type, product,
    price) events, in plain Python: the minute is the text of the UTC time without separators."""
    tables: dict[str, dict[str, dict]] = {label: defaultdict(zero) for label in (MINUTE, PRODUCT, MINUTE_PRODUCT, TOTAL)}
    for event_time, event_type, product_id, price in events:
        minute = re.sub(r"[^0-9]", "", event_time)[:12]
        for label, key in ((MINUTE, minute), (PRODUCT, str(product_id)), (MINUTE_PRODUCT, f"{minute}|{product_id}"),
                           (TOTAL, TOTAL_KEY)):
            row = tables[label][key]
            row[event_type] += 1
            if event_type == "purchase":
                row["revenue"] += price
    return {label: dict(rows) for label, rows in tables.items()}


EXPECTED = expected_rows([(t, kind, product, Decimal(price)) for t, kind, product, price in EVENTS])


@contextmanager
def away_from_utc(ctx: Context) -> Iterator:
    """ctx.spark, with the local time zone UTC+05:45 in this process and in the Python workers Spark starts
    from now on (the session's own time zone stays UTC, as in the pipeline)."""
    with local_time_zone(AWAY_FROM_UTC, ctx.spark):
        yield ctx.spark


@dataclass
class Aggregated:
    """What the student's aggregates made of EVENTS: its rows, column types and number of aggregations."""

    rows: list[Row]
    types: dict[str, str]
    aggregations: int  # Aggregate nodes of its plan: on a stream, each keeps a state of its own

    def tables(self) -> dict[str, dict[str, dict]]:
        """{table label: {row_key: values}}, checking that no (table, row_key) comes twice."""
        tables: dict[str, dict[str, dict]] = {}
        for row in self.rows:
            table = tables.setdefault(row.table, {})
            assert row.row_key not in table, f"aggregates returned two rows for ({row.table!r}, {row.row_key!r})"
            table[row.row_key] = {name: row[name] for name in VALUES}
        return tables


_aggregated: dict[int, Aggregated] = {}  # by student module: four checks read one result


def aggregated(ctx: Context) -> Aggregated:
    """The student's aggregates of EVENTS (a static DataFrame, computed once)."""
    student = ctx.student
    if id(student) not in _aggregated:
        with away_from_utc(ctx) as spark:
            events = spark.createDataFrame(
                [(t, kind, product, price, f"{number:032x}") for number, (t, kind, product, price) in enumerate(EVENTS)],
                "event_time string, event_type string, product_id long, price string, row_id string",
            ).select(F.to_timestamp("event_time").alias("event_time"), "event_type", "product_id",
                     F.col("price").cast("decimal(38,2)").alias("price"), "row_id")
            result = student.aggregates(events)
            missing = [name for name in COLUMN_NAMES if name not in result.columns]
            assert not missing, f"aggregates returned the columns {result.columns}; missing {missing}"
            rows = result.select(*COLUMN_NAMES).collect()
            plan = result._jdf.queryExecution().analyzed().treeString()
        _aggregated[id(student)] = Aggregated(rows, dict(result.dtypes),
                                              len(re.findall(r"^[\s:+|-]*Aggregate \[", plan, re.MULTILINE)))
    return _aggregated[id(student)]


def compare(label: str, got: dict[str, dict], wanted: dict[str, dict], names=VALUES, what="aggregates") -> None:
    """Assert that the rows of one table have the wanted keys and values (one line naming the first difference)."""
    extra, missing = sorted(set(got) - set(wanted)), sorted(set(wanted) - set(got))
    assert not extra and not missing, (
        f"{what}: {label} row keys {sorted(got)[:6]}{'...' if len(got) > 6 else ''}; expected "
        f"{sorted(wanted)[:6]}{'...' if len(wanted) > 6 else ''} (unexpected: {extra[:3]}, missing: {missing[:3]})")
    for key in sorted(wanted):
        for name in names:
            value, expected = got[key][name], wanted[key][name]
            assert value == expected and type(value) is type(expected), (
                f"{what}: ({label!r}, {key!r}) has {name} = {value!r}, expected {expected!r}")


@check(points=2, spark=True, timeout=60,
       hint="A minute key is the event's UTC minute formatted by Spark as yyyyMMddHHmm (HH: 0-23, mm: minutes, "
            "MM: months); the session's time zone is UTC, your machine's may not be.")
def minute_rows_are_utc_minutes(ctx: Context) -> None:
    tables = aggregated(ctx).tables()
    compare(MINUTE, tables.get(MINUTE, {}), EXPECTED[MINUTE])
    compare(MINUTE_PRODUCT, tables.get(MINUTE_PRODUCT, {}), EXPECTED[MINUTE_PRODUCT])


@check(points=2, spark=True, timeout=60,
       hint="Every event counts once in its product's row and in the total row 'all'; a row has a count for "
            "each of the four event types, 0 (not null) for a type it never saw.")
def product_and_total_rows_count_every_type(ctx: Context) -> None:
    tables = aggregated(ctx).tables()
    for label in (PRODUCT, TOTAL):
        compare(label, tables.get(label, {}), EXPECTED[label], names=EVENT_TYPES)


@check(points=2, spark=True, timeout=60,
       hint="Revenue adds the prices of purchases only, as decimal(38,2) (a double loses cents on large sums), "
            "and is 0.00, not null, for a row without purchases.")
def revenue_is_the_exact_sum_of_purchase_prices(ctx: Context) -> None:
    kind = aggregated(ctx).types["revenue"]
    assert kind == "decimal(38,2)", f"aggregates gives revenue the type {kind}, expected decimal(38,2)"
    tables = aggregated(ctx).tables()
    for label in (PRODUCT, TOTAL):
        compare(label, tables.get(label, {}), EXPECTED[label], names=("revenue",))


@check(points=1, spark=True, timeout=60,
       hint="One groupBy over every (table, row_key) of an event serves the four tables with one state; a union "
            "of four groupBys keeps four states and reads the stream four times.")
def aggregates_is_one_aggregation(ctx: Context) -> None:
    aggregations = aggregated(ctx).aggregations
    assert aggregations == 1, f"the plan of your aggregates holds {aggregations} aggregations, expected one"


def put_rows() -> list[Row]:
    """Hand-made rows of aggregates, as a micro-batch would hold them."""
    def row(table: str, key: str, view: int, cart: int, remove: int, purchase: int, revenue: str) -> Row:
        return Row(table=table, row_key=key, view=view, cart=cart, remove_from_cart=remove, purchase=purchase,
                   revenue=Decimal(revenue))
    return [row(MINUTE, "201910010905", 3, 0, 0, 1, "1081.98"),
            row(PRODUCT, "1004856", 12, 2, 1, 0, "0.00"),
            row(TOTAL, TOTAL_KEY, 120, 7, 0, 2, "7.5"),
            row(MINUTE_PRODUCT, "201910010905|1004856", 2, 1, 0, 1, "249.50"),
            row(MINUTE_PRODUCT, "201910010905|5", 0, 0, 0, 3, "30.00")]


def student_puts(ctx: Context, rows: list) -> list[tuple]:
    """The student's puts of ``rows`` as a list, each checked to be (label, key bytes, {bytes: bytes})."""
    puts = list(ctx.student.puts(iter(rows)))
    for put in puts:
        assert isinstance(put, tuple) and len(put) == 3, f"puts gave {put!r}; give (table label, row key, cells)"
        label, key, cells = put
        assert isinstance(key, bytes), f"puts gave the row key {key!r} for {label!r}; keys are bytes"
        assert isinstance(cells, dict) and all(isinstance(c, bytes) and isinstance(v, bytes) for c, v in cells.items()), (
            f"puts gave the cells {cells!r} for {label!r} {key!r}; give {{column bytes: value bytes}}")
    return puts


@check(points=1, hint="A put writes every one of the five columns, zeros too, as ASCII text: counts as plain "
                      "integers, the revenue with exactly 2 decimals.")
def puts_write_all_five_columns_as_text(ctx: Context) -> None:
    puts = [put for put in student_puts(ctx, put_rows()[:3]) if put[0] != MINUTE_PRODUCT]
    wanted = [(MINUTE, b"201910010905", [b"3", b"0", b"0", b"1", b"1081.98"]),
              (PRODUCT, b"1004856", [b"12", b"2", b"1", b"0", b"0.00"]),
              (TOTAL, TOTAL_KEY.encode(), [b"120", b"7", b"0", b"2", b"7.50"])]
    assert len(puts) == 3, f"puts gave {len(puts)} puts for 3 rows of the minute, product and total tables"
    for (label, key, values), put in zip(wanted, puts):
        cells = {COLUMNS[name]: value for name, value in zip(VALUES, values)}
        assert put == (label, key, cells), f"puts gave {put!r} for a {label} row; expected {(label, key, cells)!r}"
    again = student_puts(ctx, put_rows()[:3])
    assert again == puts, "puts of the same rows gave other puts the second time: a put must not depend on the past"


@check(points=1, hint="A (minute, product) total is one cell, p:<product_id>, of the minute's row: other "
                      "products' cells in that row must stay as they are.")
def a_minute_product_is_one_cell_of_the_minute_row(ctx: Context) -> None:
    puts = student_puts(ctx, put_rows()[3:])
    wanted = [(MINUTE_PRODUCT, b"201910010905", {b"p:1004856": b"2 1 0 1 249.50"}),
              (MINUTE_PRODUCT, b"201910010905", {b"p:5": b"0 0 0 3 30.00"})]
    assert puts == wanted, f"puts of two (minute, product) rows gave {puts!r}; expected {wanted!r}"


# ---------------------------------------------------------------------------------------------------
# The stream: a file source (the test suite's way to stream without Kafka), stopped and restarted.


class FakeHBase:
    """What HBase holds after the puts: one row per (label, key); a put overwrites the cells it names."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.rows: dict[tuple[str, bytes], dict[bytes, bytes]] = {}

    def write(self, batch, batch_id: int) -> None:
        for label, key, cells in self.ctx.student.puts(batch.collect()):
            self.rows.setdefault((label, key), {}).update(cells)

    def tables(self) -> dict[str, dict[str, dict]]:
        """{label: {row key: values}} as a reader of the layout sees them (minute-product keys as minute|product)."""
        tables: dict[str, dict[str, dict]] = defaultdict(dict)
        for (label, key), cells in self.rows.items():
            if label == MINUTE_PRODUCT:
                for column, text in cells.items():
                    tables[label][f"{key.decode()}|{column.decode().split(':', 1)[1]}"] = parse(text.split(b" "))
            else:
                tables[label][key.decode()] = parse([cells.get(COLUMNS[name], b"?") for name in VALUES])
        return tables


def parse(texts: list[bytes]) -> dict:
    assert len(texts) == 5, f"a put holds {len(texts)} values, expected the five {VALUES}"
    assert all(re.fullmatch(rb"[0-9]+", t) for t in texts[:4]) and re.fullmatch(rb"[0-9]+\.[0-9]{2}", texts[4]), (
        f"a put holds the values {texts}: counts must be integers and the revenue have 2 decimals")
    return {**{name: int(text) for name, text in zip(EVENT_TYPES, texts)}, "revenue": Decimal(texts[4].decode())}


def clean_events(spark, records: list[bytes]) -> list[tuple[str, str, int, Decimal]]:
    """The distinct valid events of raw records, as (time, type, product, price): the data contract as the
    stream applies it (pipeline.clean.apply_contract, given), the first record of each row id."""
    raw = spark.createDataFrame([(contract.decode(record),) for record in records], "raw string")
    valid = clean.apply_contract(raw).where(F.col("reason").isNull()).select(
        F.date_format("event_time", "yyyy-MM-dd HH:mm:ss").alias("event_time"), "event_type", "product_id", "price",
        "row_id")
    seen, events = set(), []
    for row in valid.collect():
        if row.row_id not in seen:
            seen.add(row.row_id)
            events.append((row.event_time, row.event_type, row.product_id, row.price))
    return events


def drain(spark, directory: Path, checkpoint: Path, sink: FakeHBase, aggregate) -> None:
    """Start the lab's stream on the files not yet read, one file per micro-batch, until none is left
    (without the batches that only move the watermark: they would write nothing here, and take seconds)."""
    stream = (spark.readStream.option("maxFilesPerTrigger", 1).text(directory.as_uri())
              .select(F.unhex("value").alias("value")))
    name = "spark.sql.streaming.noDataMicroBatches.enabled"
    before = spark.conf.get(name, None)
    spark.conf.set(name, "false")
    try:
        query = realtime.start(stream, checkpoint.as_uri(), sink.write, {"availableNow": True},
                               realtime.WATERMARK_DELAY, aggregate)
    finally:
        if before is None:
            spark.conf.unset(name)
        else:
            spark.conf.set(name, before)
    query.awaitTermination()


@check(points=2, spark=True, timeout=90,
       hint="The stream keeps absolute totals in its state and every put overwrites them: a batch after a "
            "restart must write the new total, never a sum or a difference of totals.")
def a_restart_from_the_checkpoint_neither_loses_nor_doubles(ctx: Context) -> None:
    with open(ctx.dataset(rows=600), "rb") as csv:
        records = [raw for _, raw in contract.read_records(csv)]
    directory, checkpoint, sink = ctx.tmp / "in", ctx.tmp / "checkpoint", FakeHBase(ctx)
    directory.mkdir()
    with away_from_utc(ctx) as spark:
        stream_files(directory, [records[:300]])
        drain(spark, directory, checkpoint, sink, ctx.student.aggregates)
        first = expected_rows(clean_events(spark, records[:300]))
        compare(TOTAL, sink.tables().get(TOTAL, {}), first[TOTAL], what="after the first micro-batch, HBase")
        # After the restart: new records, and some that were already counted (a producer that sent them again).
        stream_files(directory, [records[300:] + records[250:300]])
        drain(spark, directory, checkpoint, sink, ctx.student.aggregates)
    wanted, got = expected_rows(clean_events(ctx.spark, records)), sink.tables()
    for label in (TOTAL, MINUTE, PRODUCT, MINUTE_PRODUCT):
        compare(label, got.get(label, {}), wanted[label], what="after a restart and one more micro-batch, HBase")


@check(points=1, spark=True, timeout=90, services=("kafka", "hbase-thrift", "hdfs"),
       hint="Run `lab pipeline --mine --namespace $USER stream --available-now` on a topic you produced, then "
            "compare the rows of ${USER}_rt_total and ${USER}_rt_minute with the clean events of your file.")
def the_stream_on_kafka_and_hbase_counts_every_clean_event(ctx: Context) -> None:
    path = ctx.dataset(rows=1000)
    produce.produce(ctx.settings, path, progress=False, processes=1)
    with open(path, "rb") as csv:
        events = clean_events(ctx.spark, [raw for _, raw in contract.read_records(csv)])
    manifest = json.loads(manifest_path(path).read_text())["expected"]["clean_events"]
    assert len(events) == manifest, f"the check's own count ({len(events)}) disagrees with the manifest ({manifest})"
    wanted = expected_rows(events)
    with away_from_utc(ctx) as spark:
        realtime.run(ctx.settings, available_now=True, spark=spark)
    connection = ctx.settings.hbase()
    try:
        total = connection.table(ctx.settings.total_table).row(TOTAL_KEY.encode())
        minutes = {key.decode(): cells for key, cells in connection.table(ctx.settings.minute_table).scan()}
    finally:
        connection.close()
    what = "after the stream, HBase"
    assert total, f"{what}: {ctx.settings.total_table} has no row '{TOTAL_KEY}'"
    compare(ctx.settings.total_table, {TOTAL_KEY: parse([total.get(COLUMNS[name], b"?") for name in VALUES])},
            wanted[TOTAL], what=what)
    got = {key: parse([cells.get(COLUMNS[name], b"?") for name in VALUES]) for key, cells in minutes.items()}
    compare(ctx.settings.minute_table, got, wanted[MINUTE], what=what)
