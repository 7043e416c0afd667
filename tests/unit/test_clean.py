"""pipeline.clean on small frames: the split into valid and rejected, de-duplication, quality counts."""

from __future__ import annotations

import pytest

from pipeline import clean, contract
from pipeline import settings as lab_settings
from pipeline import spark as spark_session

pytestmark = pytest.mark.unit

GOOD = "2019-10-01 14:03:27 UTC,view,1004856,2053013555631882655,electronics.smartphone,samsung,1081.98,541312140,s1"
SAME = " 2019-10-01 14:03:27 ,VIEW,01004856,2053013555631882655,Electronics.Smartphone,\"SAMSUNG\",1081.980,541312140,s1"
OTHER = GOOD.replace(",s1", ",s2")
BAD_PRICE = GOOD.replace("1081.98", "free")
BAD_TYPE = GOOD.replace(",view,", ",click,")


@pytest.fixture(scope="module")
def spark():
    session = spark_session.session(lab_settings.load(), "test-clean", master="local[1]")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def checked(spark):
    records = [GOOD, SAME.replace("1081.980", "1081.98"), OTHER, BAD_PRICE, BAD_TYPE, BAD_TYPE]
    rows = [(record, "events.csv", line) for line, record in enumerate(records, start=2)]
    return clean.apply_contract(spark.createDataFrame(rows, "raw string, source string, line long"))


def test_apply_contract_adds_reason_and_event_columns(checked):
    assert checked.columns == ["raw", "source", "line", "reason", *clean.EVENT_COLUMNS]
    types = dict(checked.dtypes)
    assert (types["event_time"], types["price"], types["product_id"], types["event_date"], types["event_hour"]) == (
        "timestamp", "decimal(38,2)", "bigint", "date", "int")


def test_valid_events_are_the_records_without_reason(checked):
    events = clean.valid_events(checked)
    assert events.columns == list(clean.EVENT_COLUMNS)
    assert sorted(r["user_session"] for r in events.collect()) == ["s1", "s1", "s2"]


def test_rejected_records_keep_reason_raw_source_and_line(checked):
    rows = sorted(tuple(r) for r in clean.rejected_records(checked).collect())
    assert rows == [("bad_event_type", BAD_TYPE, "events.csv", 6), ("bad_event_type", BAD_TYPE, "events.csv", 7),
                    ("bad_price", BAD_PRICE, "events.csv", 5)]


def test_deduplicate_keeps_one_event_per_row_id(checked):
    clean_events = clean.deduplicate(clean.valid_events(checked)).collect()
    assert sorted(r["user_session"] for r in clean_events) == ["s1", "s2"]
    s1 = next(r for r in clean_events if r["user_session"] == "s1")
    assert s1["row_id"] == contract.validate(GOOD).row_id


def test_quality_counts_include_every_reason(checked):
    counts = clean.quality_counts(checked, clean.deduplicate(clean.valid_events(checked)))
    assert counts == {
        "input_records": 6, "valid": 3, "duplicates_removed": 1, "clean_events": 2,
        "rejected": {"record_too_large": 0, "bad_field_count": 0, "bad_event_time": 0, "bad_event_type": 2,
                     "bad_id": 0, "bad_price": 1},
    }
