"""pipeline.analyze on a hand-made clean table whose every figure is worked out below."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pipeline import analyze, clean
from pipeline import settings as lab_settings
from pipeline import spark as spark_session
from tests import breakdowns_reference

pytestmark = pytest.mark.unit

# time, type, product, code, brand, price, user, session
EVENTS = [
    ("2019-10-01 00:10:00", "view", 1, "electronics.phone", "a", "10.00", 1, "s1"),
    ("2019-10-01 00:11:00", "cart", 1, "electronics.phone", "a", "10.00", 1, "s1"),
    ("2019-10-01 00:12:00", "purchase", 1, "electronics.phone", "a", "10.00", 1, "s1"),
    ("2019-10-01 00:13:00", "purchase", 2, "", "b", "5.50", 1, "s1"),
    ("2019-10-01 00:20:00", "view", 2, "", "b", "5.50", 2, "s2"),
    ("2019-10-01 00:21:00", "cart", 2, "", "b", "5.50", 2, "s2"),
    ("2019-10-02 23:00:00", "view", 3, "kids.toys", "", "3.25", 3, "s3"),
    ("2019-10-02 23:05:00", "purchase", 3, "kids.toys", "a", "3.25", 4, ""),
]
QUALITY = {"input_records": 8, "valid": 8, "rejected": {}, "duplicates_removed": 0, "clean_events": 8}


@pytest.fixture(scope="module")
def spark():
    session = spark_session.session(lab_settings.load(), "test-analyze", master="local[1]")
    yield session
    session.stop()


def clean_table(spark, events):
    records = [f"{t},{kind},{product},7,{code},{brand},{price},{user},{session}"
               for t, kind, product, code, brand, price, user, session in events]
    checked = clean.apply_contract(spark.createDataFrame([(r,) for r in records], "raw string"))
    return clean.valid_events(checked)


@pytest.fixture(scope="module")
def summary(spark):
    return analyze.summary(analyze.marts(clean_table(spark, EVENTS)), QUALITY)


def reference_breakdowns(events) -> dict:
    return breakdowns_reference.breakdowns([(kind, product, code or None, brand or None, Decimal(price))
                                            for _, kind, product, code, brand, price, _, _ in events])


def test_summary_has_exactly_the_keys_of_the_contract(summary):
    assert list(summary) == list(analyze.SUMMARY_KEYS)
    assert summary["quality"] == QUALITY


def test_kpis(summary):
    assert summary["kpis"] == {
        "events": 8, "events_by_type": {"view": 3, "cart": 2, "remove_from_cart": 0, "purchase": 3},
        "unique_users": 4, "unique_sessions": 3, "revenue": 18.75, "purchases": 3,
        "orders": 1,  # the purchase without a session is no order
        "aov": 18.75, "conversion_rate": 0.3333, "cart_abandonment_rate": 0.5,
    }


def test_funnel(summary):
    assert summary["funnel"] == {"view_sessions": 3, "cart_sessions": 2, "purchase_sessions": 1}


def test_top_lists(summary):
    assert summary["top_products"] == [{"product_id": 1, "revenue": 10.0, "purchases": 1},
                                       {"product_id": 2, "revenue": 5.5, "purchases": 1},
                                       {"product_id": 3, "revenue": 3.25, "purchases": 1}]
    assert summary["top_brands"] == [{"brand": "a", "revenue": 13.25, "purchases": 2},
                                     {"brand": "b", "revenue": 5.5, "purchases": 1}]
    assert summary["revenue_by_category"] == [{"category": "electronics", "revenue": 10.0, "purchases": 1},
                                              {"category": "unknown", "revenue": 5.5, "purchases": 1},
                                              {"category": "kids", "revenue": 3.25, "purchases": 1}]


def test_breakdowns_by_category_and_subcategory(spark):
    result = analyze.breakdowns(analyze.marts(clean_table(spark, EVENTS)))
    assert result == reference_breakdowns(EVENTS)
    assert list(result["by_category"]) == ["electronics", "kids", "unknown"]
    # kids' only brand is a's purchase: the view without a brand counts for no brand
    assert result["by_category"]["kids"] == {"top_products": [{"product_id": 3, "revenue": 3.25, "purchases": 1}],
                                             "top_brands": [{"brand": "a", "revenue": 3.25, "purchases": 1}]}
    assert [(r["category"], r["subcategory"]) for r in result["revenue_by_subcategory"]] == [
        ("electronics", "phone"), ("kids", "toys"), ("unknown", "unknown")]


def test_breakdowns_keep_ten_a_category_in_revenue_then_name_order(spark):
    # 12 products (and brands) in each code; product p costs p // 2, so neighbours tie; 12 is only viewed
    events = [("2019-10-01 00:00:00", "view" if product == 12 else "purchase", product, code, f"brand{product:02d}",
               f"{product // 2}.00", 1, "s1")
              for code in ("toys.cars", "toys.dolls", "garden") for product in range(1, 13)]
    events.append(("2019-10-01 00:00:00", "purchase", 99, "toys.dolls", "", "100.00", 1, "s1"))
    result = analyze.breakdowns(analyze.marts(clean_table(spark, events)))
    assert result == reference_breakdowns(events)
    assert [p["product_id"] for p in result["by_category"]["toys"]["top_products"]] == [99, 10, 11, 8, 9, 6, 7, 4, 5, 2]
    assert [b["brand"] for b in result["by_category"]["garden"]["top_brands"]] == [
        f"brand{p:02d}" for p in (10, 11, 8, 9, 6, 7, 4, 5, 2, 3)]
    assert [(r["category"], r["subcategory"], r["revenue"]) for r in result["revenue_by_subcategory"]] == [
        ("garden", "unknown", 30.0), ("toys", "dolls", 130.0), ("toys", "cars", 30.0)]


def test_daily_and_hourly(summary):
    assert summary["daily"] == [{"date": "2019-10-01", "events": 6, "purchases": 2, "revenue": 15.5},
                                {"date": "2019-10-02", "events": 2, "purchases": 1, "revenue": 3.25}]
    assert summary["hourly"] == [{"hour": h, "events": {0: 6, 23: 2}.get(h, 0)} for h in range(24)]


def test_ties_are_broken_by_name_and_ratios_round_half_up(spark):
    purchases = [(2, "z", "0.02", "s2"), (1, "y", "0.02", "s1"), (3, "", "0.01", "s1")]
    events = [("2019-10-01 00:00:00", "purchase", p, "", brand, price, 1, session)
              for p, brand, price, session in purchases]
    events += [("2019-10-01 00:00:00", "view", 9, "", "", "1.00", 1, f"v{i}") for i in range(64)]
    result = analyze.summary(analyze.marts(clean_table(spark, events)), QUALITY)
    assert [p["product_id"] for p in result["top_products"]] == [1, 2, 3, 9]
    assert [b["brand"] for b in result["top_brands"]] == ["y", "z"]
    # 0.05 / 2 orders = 0.025 -> 0.03; 2 purchase sessions / 64 view sessions = 0.03125 -> 0.0313
    assert (result["kpis"]["aov"], result["kpis"]["conversion_rate"]) == (0.03, 0.0313)


def test_no_divisor_gives_zero(spark):
    events = [("2019-10-01 05:00:00", "remove_from_cart", 1, "", "", "1.00", 1, "")]
    result = analyze.summary(analyze.marts(clean_table(spark, events)), QUALITY)
    kpis = result["kpis"]
    assert (kpis["aov"], kpis["conversion_rate"], kpis["cart_abandonment_rate"], kpis["revenue"]) == (0, 0, 0, 0)
    assert result["funnel"] == {"view_sessions": 0, "cart_sessions": 0, "purchase_sessions": 0}
    assert result["revenue_by_category"] == [] and result["top_brands"] == []
    assert sum(h["events"] for h in result["hourly"]) == 1 and len(result["hourly"]) == 24
