"""Unit tests of stage 6 (pipeline/realtime.py) on local[1]: static DataFrames and a file stream."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st
from pyspark.sql import functions as F

from pipeline import contract, realtime, settings, store
from pipeline.readback import stream_files
from pipeline import spark as spark_session
from tests.realtime_reference import aggregates as reference, csv_records

pytestmark = pytest.mark.unit

SAMPLE = Path(__file__).resolve().parents[2] / "datasets" / "sample" / "events.csv"


@pytest.fixture(scope="module")
def spark():
    return spark_session.session(settings.load(), "test-realtime", master="local[1]")


@pytest.fixture(scope="module")
def records():
    return csv_records(SAMPLE)


def messages(spark, records):
    return spark.createDataFrame([(raw,) for raw in records], "value binary")


@hypothesis_settings(max_examples=5, deadline=None)
@given(st.lists(st.binary(max_size=12) | st.text(max_size=6).map(str.encode), min_size=1, max_size=300))
def test_decode_replaces_invalid_utf8_like_contract_decode(spark, values):
    decoded = spark.createDataFrame([(v,) for v in values], "value binary").select(
        realtime.decode(F.col("value")).alias("text")).collect()
    assert [row.text for row in decoded] == [contract.decode(v) for v in values]


def test_decode_replaces_a_surrogate_that_a_plain_cast_keeps(spark):
    surrogate = b"\xed\xa0\x80"
    row = spark.createDataFrame([(surrogate,)], "value binary").select(
        F.hex(realtime.decode(F.col("value")).cast("binary")).alias("decoded"),
        F.hex(F.col("value").cast("string").cast("binary")).alias("cast")).first()
    assert bytes.fromhex(row.decoded) == contract.decode(surrogate).encode() == "\ufffd".encode() * 3
    assert bytes.fromhex(row.cast) == surrogate


def test_events_are_the_distinct_valid_events_of_the_contract(spark, records):
    got = realtime.events(messages(spark, records)).collect()
    valid = [e for e in map(contract.validate, map(contract.decode, records)) if isinstance(e, contract.Event)]
    assert sorted(row.row_id for row in got) == sorted({e.row_id for e in valid})
    manifest = json.loads(SAMPLE.with_name("events.manifest.json").read_text())
    assert len(got) == manifest["expected"]["clean_events"]


def test_aggregates_equal_a_plain_python_computation(spark, records):
    result = realtime.aggregates(realtime.events(messages(spark, records)))
    assert dict(result.dtypes)["revenue"] == "decimal(38,2)"
    rows = result.collect()
    expected = reference(records)
    got = {table: {row.row_key: {name: row[name] for name in store.VALUES}
                   for row in rows if row.table == table}
           for table in (store.MINUTE, store.PRODUCT, store.MINUTE_PRODUCT, store.TOTAL)}
    assert got[store.MINUTE] == expected["minutes"]
    assert got[store.PRODUCT] == {str(k): v for k, v in expected["products"].items()}
    assert got[store.MINUTE_PRODUCT] == {f"{minute}|{product}": row for minute, products in
                                         expected["minute_products"].items() for product, row in products.items()}
    total = got[store.TOTAL][store.TOTAL_KEY]
    assert {name: total[name] for name in contract.EVENT_TYPES} == expected["totals"]["events_by_type"]
    assert total["revenue"] == expected["totals"]["revenue"]


class FakeTables:
    """What HBase would hold after the puts: one row per (table, key), each put overwriting its columns."""

    def __init__(self):
        self.rows: dict[tuple[str, bytes], dict[bytes, bytes]] = {}

    def write(self, batch, batch_id):
        for label, key, data in realtime.puts(batch.toLocalIterator()):
            self.rows.setdefault((label, key), {}).update(data)

    def table(self, label):
        return {key.decode(): store.values(data) for (table, key), data in self.rows.items() if table == label}

    def minute_products(self):
        """{minute: {product_id: row}} from the wide rows of the minute-product table."""
        return {key.decode(): {int(column.split(b":")[1]): store.parse_values(text.split()) for column, text in data.items()}
                for (table, key), data in self.rows.items() if table == store.MINUTE_PRODUCT}


def event_times(records: list[bytes]) -> list[datetime]:
    events = (contract.validate(contract.decode(raw)) for raw in records)
    return [datetime.fromisoformat(e.event_time) for e in events if isinstance(e, contract.Event)]


def drain(spark, directory: Path, checkpoint: Path, sink: FakeTables, delay: str) -> None:
    stream = (spark.readStream.option("maxFilesPerTrigger", 1).text(directory.as_uri())
              .select(F.unhex("value").alias("value")))
    query = realtime.start(stream, checkpoint.as_uri(), sink.write, {"availableNow": True}, delay)
    query.awaitTermination()
    assert query.exception() is None


def test_a_restart_from_the_checkpoint_neither_loses_nor_doubles(spark, records, tmp_path):
    delay = "1 hour"
    directory, checkpoint, sink = tmp_path / "in", tmp_path / "checkpoint", FakeTables()
    directory.mkdir()
    first, second = records[:6000], records[6000:]
    stream_files(directory, [first[:3000], first[3000:]])
    session_partitions = spark.conf.get("spark.sql.shuffle.partitions")
    drain(spark, directory, checkpoint, sink, delay)
    # The query ran with realtime.STREAM_CONF (recorded in the checkpoint); the session kept its own.
    offsets = json.loads((checkpoint / "offsets" / "0").read_text().splitlines()[1])["conf"]
    provider = "spark.sql.streaming.stateStore.providerClass"
    assert offsets[provider] == realtime.STREAM_CONF[provider]
    assert offsets["spark.sql.shuffle.partitions"] == "1" != session_partitions
    assert spark.conf.get("spark.sql.shuffle.partitions") == session_partitions
    assert sink.table(store.MINUTE) == reference(first)["minutes"]

    # Redelivered records after the restart: the last few are within the watermark (the dedup state
    # must catch them), older ones are late; a valid event a month older than the rest is late too.
    recent = first[-5:]
    newest = max(event_times(first))
    assert event_times(recent) and all(newest - t < timedelta(hours=1) for t in event_times(recent))
    late = b"2019-09-01 00:00:00 UTC,view,1,1,,,1.00,1,late-session"
    stream_files(directory, [first[2000:2100] + recent, second[:2000], second[2000:] + [late]])
    drain(spark, directory, checkpoint, sink, delay)

    expected = reference(records)
    assert sink.table(store.MINUTE) == expected["minutes"]
    assert sink.table(store.PRODUCT) == {str(k): v for k, v in expected["products"].items()}
    assert sink.minute_products() == expected["minute_products"]
    assert sink.table(store.TOTAL)[store.TOTAL_KEY]["revenue"] == expected["totals"]["revenue"]
    assert all(re.fullmatch(rb"[0-9]+\.[0-9]{2}", data[store.COLUMNS["revenue"]])
               for (table, _), data in sink.rows.items() if table != store.MINUTE_PRODUCT)
    assert all(re.fullmatch(rb"([0-9]+ ){4}[0-9]+\.[0-9]{2}", text)
               for (table, _), data in sink.rows.items() if table == store.MINUTE_PRODUCT for text in data.values())
