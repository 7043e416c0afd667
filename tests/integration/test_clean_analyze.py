"""Clean and analyze on the cluster, end to end on a generated file with defects.

The raw zone is written straight from the CSV (landing.land_csv), not by the Kafka
landing consumer; the KPIs (and, with tests/breakdowns_reference.py, the dashboard
breakdowns) are recomputed here in plain Python from the CSV.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest

import datasets
from pipeline import analyze, clean, landing
from pipeline import settings as lab_settings
from pipeline import spark as spark_session
from tests import breakdowns_reference

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TYPES = ("view", "cart", "remove_from_cart", "purchase")


def _event(fields: list[str]) -> tuple | None:
    """A minimal validation, enough for the generator's defects: the normalised event or None."""
    if len(fields) != 9:
        return None
    time_text, kind, product, category, code, brand, price, user, session = (f.strip(" \t") for f in fields)
    try:
        moment = dt.datetime.strptime(time_text.removesuffix(" UTC"), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    ids = (product, category, user)
    if kind.lower() not in TYPES or not all(i.isascii() and i.isdigit() and 0 < int(i) < 2**63 for i in ids):
        return None
    whole, _, cents = price.partition(".")
    if not (whole.isascii() and whole.isdigit() and (not _ or (cents.isascii() and cents.isdigit() and len(cents) <= 2))):
        return None
    return (moment, kind.lower(), int(product), code.lower() or None, brand.lower() or None, Decimal(price),
            int(user), fields[8] or None)


def clean_events(path) -> set[tuple]:
    """The distinct normalised events of a CSV file."""
    with open(path, newline="", encoding="utf-8") as stream:
        rows = csv.reader(stream)
        next(rows)
        return {e for e in map(_event, rows) if e is not None}


def expected_summary(events: set[tuple]) -> dict:
    sessions = defaultdict(set)
    for e in events:
        if e[7] is not None:
            sessions[e[7]].add(e[1])
    purchases = [e for e in events if e[1] == "purchase"]
    revenue = sum((e[5] for e in purchases), Decimal(0))
    with_type = {t: sum(t in kinds for kinds in sessions.values()) for t in TYPES}
    abandoned = sum("cart" in kinds and "purchase" not in kinds for kinds in sessions.values())
    orders = with_type["purchase"]

    def ratio(a, b, places):
        return float((Decimal(a) / Decimal(b)).quantize(Decimal(places), ROUND_HALF_UP)) if b else 0.0

    daily = defaultdict(lambda: [0, 0, Decimal(0)])
    for e in events:
        day = daily[e[0].date().isoformat()]
        day[0] += 1
        if e[1] == "purchase":
            day[1] += 1
            day[2] += e[5]
    hours = Counter(e[0].hour for e in events)
    return {
        "kpis": {
            "events": len(events), "events_by_type": {t: sum(e[1] == t for e in events) for t in TYPES},
            "unique_users": len({e[6] for e in events}), "unique_sessions": len(sessions),
            "revenue": float(revenue), "purchases": len(purchases), "orders": orders,
            "aov": ratio(revenue, orders, "0.01"),
            "conversion_rate": ratio(with_type["purchase"], with_type["view"], "0.0001"),
            "cart_abandonment_rate": ratio(abandoned, with_type["cart"], "0.0001"),
        },
        "funnel": {"view_sessions": with_type["view"], "cart_sessions": with_type["cart"],
                   "purchase_sessions": with_type["purchase"]},
        "daily": [{"date": d, "events": n, "purchases": p, "revenue": float(r)}
                  for d, (n, p, r) in sorted(daily.items())],
        "hourly": [{"hour": h, "events": hours[h]} for h in range(24)],
    }


def test_clean_and_analyze_on_the_cluster(require, unique, tmp_path):
    for service in ("namenode", "datanode", "spark-master", "spark-worker"):
        require(service)
    settings = lab_settings.load(namespace=unique)
    csv_path = tmp_path / "events.csv"
    manifest = datasets.generate(csv_path, rows=20_000, seed=4, defect_rate=0.03)
    client = settings.webhdfs()
    spark = spark_session.session(settings, "test-clean-analyze")
    try:
        assert landing.land_csv(settings, csv_path, client, records_per_file=7_000) == manifest.rows
        counts = clean.run(settings, spark)
        assert counts == manifest.expected
        summary = analyze.run(settings, tmp_path / "summary.json", spark)
        assert json.loads((tmp_path / "summary.json").read_text()) == summary
        with client.read(settings.summary_path, encoding="utf-8") as reader:
            assert json.load(reader) == summary
        assert summary["quality"] == manifest.expected
        events = clean_events(csv_path)
        for key, value in expected_summary(events).items():
            assert summary[key] == value, key
        with client.read(settings.breakdowns_path, encoding="utf-8") as reader:
            assert json.load(reader) == breakdowns_reference.breakdowns([e[1:6] for e in events])
        for name in (*analyze.SUMMARY_MARTS, *analyze.BREAKDOWN_QUERIES):
            assert client.status(f"{settings.marts_zone}/{name}/_SUCCESS", strict=False), name
        again = clean.run(settings, spark)  # a rerun overwrites instead of adding
        assert again == counts
        assert spark.read.parquet(settings.hdfs_uri(settings.clean_zone)).count() == counts["clean_events"]
    finally:
        spark.stop()
        client.delete(settings.hdfs_root, recursive=True)
