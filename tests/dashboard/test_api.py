"""The JSON API against the pipeline's own outputs: the summary JSON on HDFS and the HBase tables."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.dashboard.conftest import HOSTILE_BRAND

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def summary(lab):
    """The analytics run's summary JSON, read straight from HDFS."""
    with lab.webhdfs().read(lab.summary_path, encoding="utf-8") as reader:
        return json.load(reader)


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


def _scan(hbase, table):
    return {key.decode(): {column.decode().split(":")[1]: value.decode() for column, value in data.items()}
            for key, data in hbase.table(table).scan()}


def test_live_totals_equal_the_hbase_product_table(client, lab, hbase, summary):
    rows = _scan(hbase, lab.product_table)
    body = client.get("/api/live/totals").get_json()
    for name in ("view", "cart", "remove_from_cart", "purchase"):
        assert body["events_by_type"][name] == sum(int(row.get(name, 0)) for row in rows.values())
    assert Decimal(str(body["revenue"])) == sum(Decimal(row.get("revenue", "0")) for row in rows.values())
    # After the stream drained, the real-time totals equal the batch ones.
    assert body["events_by_type"] == summary["kpis"]["events_by_type"]
    assert body["revenue"] == summary["kpis"]["revenue"]
    revenues = [(Decimal(row.get("revenue", "0")), -int(key)) for key, row in rows.items()]
    top = sorted(revenues, reverse=True)[:10]
    assert [p["product_id"] for p in body["top_products"]] == [-product for _, product in top]


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
    times = [e["event_time"] for e in body["events"]]
    assert times == sorted(times)


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


def test_health_endpoint(client):
    assert client.get("/api/health").get_json() == {"status": "ok"}


@pytest.mark.parametrize("page", ["/", "/funnel", "/products", "/categories", "/health", "/live", "/customers"])
def test_pages_render(client, page):
    response = client.get(page)
    assert response.status_code == 200
    assert "Content-Security-Policy" in response.headers


def test_markup_in_the_data_is_shown_as_text(client):
    html = client.get("/products").get_data(as_text=True)
    assert HOSTILE_BRAND not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    html = client.get("/customers?user_id=777000777").get_data(as_text=True)
    assert HOSTILE_BRAND not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_malformed_and_unknown_ids_on_the_lookup_page(client):
    assert "is not a user id" in client.get("/customers?user_id=12ab").get_data(as_text=True)
    assert "No events for user 5" in client.get("/customers?user_id=5").get_data(as_text=True)
