"""The JSON API against the pipeline's own outputs: the summary JSON on HDFS and the HBase tables."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from dashboard import create_app
from dashboard.sources import LATEST_PURCHASES, Live
from pipeline import contract
from tests.dashboard.conftest import HOSTILE_BRAND, hdfs_json
from tests.realtime_reference import aggregates as reference, csv_records

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def summary(lab):
    """The analytics run's summary JSON."""
    return hdfs_json(lab, lab.summary_path)


@pytest.mark.parametrize(("endpoint", "sections"), [
    ("kpis", ["kpis"]), ("quality", ["quality"]), ("funnel", ["funnel", "kpis"]), ("daily", ["daily"]),
    ("hourly", ["hourly"]), ("products", ["top_products"]), ("brands", ["top_brands"]),
    ("categories", ["revenue_by_category"]),
])
def test_batch_endpoints_equal_the_summary(client, summary, endpoint, sections):
    body = client.get(f"/api/{endpoint}").get_json()
    for section in sections:
        assert body[section] == summary[section]
    assert body["computed_at"]


def test_summary_endpoint_is_the_whole_summary(client, summary):
    body = client.get("/api/summary").get_json()
    assert {key: body[key] for key in summary} == summary


@pytest.mark.parametrize(("endpoint", "section"), [("products", "top_products"), ("brands", "top_brands")])
def test_category_filter_gives_that_categorys_lists(client, summary, breakdowns, endpoint, section):
    assert len(breakdowns["by_category"]) > 1
    for category, lists in breakdowns["by_category"].items():
        body = client.get(f"/api/{endpoint}", query_string={"category": category}).get_json()
        assert body[section] == lists[section]
        assert body["category"] == category
        assert body["computed_at"]
    assert client.get(f"/api/{endpoint}?category=").get_json()[section] == summary[section]  # "All categories"


def test_an_unknown_category_is_404_naming_the_known_ones(client, breakdowns):
    for url in ("/api/products?category=no-such", "/api/brands?category=no-such"):
        response = client.get(url)
        assert response.status_code == 404
        error = response.get_json()["error"]
        assert "'no-such'" in error
        assert error.endswith(f"known: {', '.join(breakdowns['by_category'])}.")
    assert client.get("/products?category=no-such").status_code == 404


def test_categories_include_the_subcategories_that_add_up_to_them(client, breakdowns):
    body = client.get("/api/categories").get_json()
    assert body["revenue_by_subcategory"] == breakdowns["revenue_by_subcategory"]
    totals = {}
    for row in body["revenue_by_subcategory"]:
        revenue, purchases = totals.get(row["category"], (Decimal(0), 0))
        totals[row["category"]] = (revenue + Decimal(str(row["revenue"])), purchases + row["purchases"])
    assert totals == {row["category"]: (Decimal(str(row["revenue"])), row["purchases"])
                      for row in body["revenue_by_category"]}


def _scan(hbase, table):
    return {key.decode(): {column.decode().split(":")[1]: value.decode() for column, value in data.items()}
            for key, data in hbase.table(table).scan()}


@pytest.fixture(scope="module")
def streamed(dataset):
    """The real-time aggregates of the input file, computed independently in plain Python."""
    return reference(csv_records(dataset))


def test_live_totals_equal_the_hbase_total_row_and_the_batch_totals(client, hbase, lab, streamed, summary):
    body = client.get("/api/live/totals").get_json()
    row = _scan(hbase, lab.total_table)["all"]
    assert body["events_by_type"] == {name: int(row[name]) for name in body["events_by_type"]}
    assert Decimal(str(body["revenue"])) == Decimal(row["revenue"]) == streamed["totals"]["revenue"]
    # After the stream drained, the real-time totals equal the batch ones.
    assert body["events_by_type"] == summary["kpis"]["events_by_type"]
    assert body["revenue"] == summary["kpis"]["revenue"]
    assert body["events"] == summary["kpis"]["events"]


def test_live_top_products_are_those_of_the_last_15_minutes(client, streamed):
    body = client.get("/api/live/top-products").get_json()
    minutes = sorted(streamed["minute_products"])
    latest = datetime.strptime(minutes[-1], "%Y%m%d%H%M")
    window = {(latest - timedelta(minutes=n)).strftime("%Y%m%d%H%M") for n in range(15)}
    assert body["latest_minute"] == minutes[-1] and body["since_minute"] == min(window)
    sums: dict[int, dict] = {}
    for minute in window & set(minutes):
        for product, row in streamed["minute_products"][minute].items():
            total = sums.setdefault(product, dict.fromkeys(row, 0))
            for name, value in row.items():
                total[name] += value
    ranked = sorted(sums.items(), key=lambda p: (-p[1]["revenue"], -p[1]["purchase"], -p[1]["view"], p[0]))[:10]
    assert body["top_products"] == [{"product_id": product, **{k: float(v) if isinstance(v, Decimal) else v
                                                                 for k, v in row.items()}}
                                    for product, row in ranked]


def test_live_purchases_are_the_latest_purchase_events(client, dataset):
    body = client.get("/api/live/purchases").get_json()
    events = (contract.validate(contract.decode(raw)) for raw in csv_records(dataset))
    purchases = sorted((e for e in events if isinstance(e, contract.Event) and e.event_type == "purchase"),
                       key=lambda e: (e.event_time, e.row_id), reverse=True)
    assert [p["row_id"] for p in body["purchases"]] == [e.row_id for e in purchases[:LATEST_PURCHASES]]
    assert body["purchases"][0]["brand"] == HOSTILE_BRAND  # the latest one, markup kept as data
    assert body["purchases"][0]["price"] == float(purchases[0].price)


def test_live_minutes_equal_the_hbase_minute_table(client, lab, hbase):
    rows = _scan(hbase, lab.minute_table)
    body = client.get("/api/live/minutes").get_json()
    assert body["latest_minute"] == max(rows)
    assert len(body["minutes"]) == 60
    assert body["minutes"][-1]["minute"] == max(rows)
    for minute in body["minutes"]:
        row = rows.get(minute["minute"], {})
        assert minute["purchase"] == int(row.get("purchase", 0))
        assert minute["view"] == int(row.get("view", 0))


def test_customer_lookup_returns_the_users_events_in_time_order(client, lab, hbase):
    key, data = next(iter(hbase.table(lab.events_table).scan(limit=1)))
    user_id = int(key.split(b"|")[0])
    stored = [json.loads(cells[b"e:event"]) for _, cells in
              hbase.table(lab.events_table).scan(row_prefix=f"{user_id:019d}|".encode())]
    body = client.get(f"/api/customers/{user_id}").get_json()
    assert body["user_id"] == user_id
    assert [e["row_id"] for e in body["events"]] == [e["row_id"] for e in stored]
    assert body["total_events"] == len(stored)
    times = [e["event_time"] for e in body["events"]]
    assert times == sorted(times)


def test_customer_lookup_shows_a_users_latest_events_and_counts_them_all(lab, hbase):
    keys = [key for key, _ in hbase.table(lab.events_table).scan(filter=b"KeyOnlyFilter()")]
    user, count = Counter(key.split(b"|")[0] for key in keys).most_common(1)[0]
    assert count > 3, "the busiest user has more events than the lookup below shows"
    stored = [json.loads(cells[b"e:event"]) for _, cells in hbase.table(lab.events_table).scan(row_prefix=user + b"|")]
    client = create_app(lab, live=Live(lab, customer_events=3)).test_client()
    body = client.get(f"/api/customers/{int(user)}").get_json()
    assert [e["row_id"] for e in body["events"]] == [e["row_id"] for e in stored[-3:]]
    assert body["total_events"] == count
    html = client.get(f"/customers?user_id={int(user)}").get_data(as_text=True)
    assert f"The latest 3 of the {count:,} events of user {int(user)}" in html


@pytest.mark.parametrize("text", ["abc", "0", "-5", "12.5", "9223372036854775808", "12345678901234567890"])
def test_customer_lookup_rejects_malformed_ids(client, text):
    response = client.get(f"/api/customers/{text}")
    assert response.status_code == 400
    assert "1 to 19 digits" in response.get_json()["error"]


def test_customer_lookup_of_an_unknown_user_is_404(client):
    response = client.get("/api/customers/9223372036854775807")
    assert response.status_code == 404
    assert "no events" in response.get_json()["error"]


def test_pipeline_health_reports_services_lag_and_quality(client, lab, summary):
    body = client.get("/api/pipeline").get_json()
    names = {s["name"] for s in body["services"]}
    assert {"kafka", "hbase-thrift", "namenode"} <= names
    assert all(s["healthy"] for s in body["services"] if s["name"] in {"kafka", "hbase-thrift", "namenode"})
    assert body["quality"] == summary["quality"]
    lag = {row["group"]: row for row in body["lag"]}
    assert set(lag) == {lab.hbase_sink_group, lab.landing_group}
    for row in lag.values():
        assert row["lag"] == 0  # both sinks drained the raw topic
        assert row["committed"] == summary["quality"]["input_records"]
        assert (row["healthy"], row["detail"], row["fix"]) == (True, "caught up", None)


def test_health_endpoint(client):
    assert client.get("/api/health").get_json() == {"status": "ok"}


@pytest.mark.parametrize("page", ["/", "/funnel", "/products", "/categories", "/health", "/live", "/customers"])
def test_pages_render(client, page):
    response = client.get(page)
    assert response.status_code == 200
    assert "Content-Security-Policy" in response.headers


@pytest.mark.parametrize("page", ["/products", "/products?category=electronics", "/customers?user_id=777000777"])
def test_markup_in_the_data_is_shown_as_text(client, page):
    html = client.get(page).get_data(as_text=True)
    assert HOSTILE_BRAND not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_malformed_and_unknown_ids_on_the_lookup_page(client):
    assert "is not a user id" in client.get("/customers?user_id=12ab").get_data(as_text=True)
    assert "No events for user 5" in client.get("/customers?user_id=5").get_data(as_text=True)
