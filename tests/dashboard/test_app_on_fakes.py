"""The app on fake sources (dashboard/fakes.py), without any service: pages and API answer, a source that
cannot answer is a 503 with {error, fix}, the customer lookup's 400/404, the category filter's 404; lab 08's
functions on their own; and the web process never imports Spark."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard import api, create_app
from dashboard.fakes import (BREAKDOWNS, EVENTS, HOSTILE_BRAND, MINUTES, PURCHASES, SUMMARY, TOP_PRODUCTS, TOTALS,
                             USER_ID, FakeLive, FakeSummary)
from dashboard.sources import Unavailable, hbase_down
from pipeline.settings import Settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
LAB = Settings(namespace="fakes")
HDFS_DOWN = Unavailable("HDFS (WebHDFS http://127.0.0.1:9870) is not reachable: ConnectionError.",
                        "lab start namenode datanode")


def client(summary: FakeSummary | None = None, live: FakeLive | None = None):
    app = create_app(LAB, summary or FakeSummary(), live or FakeLive())
    app.config.update(TESTING=True)
    return app.test_client()


@pytest.fixture
def fake_client():
    return client()


@pytest.mark.parametrize("url", ["/", "/live", "/funnel", "/products", "/products?category=kids", "/categories",
                                 "/customers", f"/customers?user_id={USER_ID}", "/customers?user_id=5",
                                 "/customers?user_id=abc"])
def test_pages_answer(fake_client, url):
    response = fake_client.get(url)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "namespace <code>fakes</code>" in html
    assert HOSTILE_BRAND not in html


def test_pages_show_the_sources_documents(fake_client):
    assert "2,025.48" in fake_client.get("/").get_data(as_text=True)  # the KPI revenue
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in fake_client.get("/products").get_data(as_text=True)
    kids = fake_client.get("/products?category=kids").get_data(as_text=True)
    assert "2053013555" in kids and "1005115" not in kids
    assert f"2 events of user {USER_ID}" in fake_client.get(f"/customers?user_id={USER_ID}").get_data(as_text=True)
    assert "No events for user 5" in fake_client.get("/customers?user_id=5").get_data(as_text=True)
    assert "is not a user id" in fake_client.get("/customers?user_id=abc").get_data(as_text=True)


@pytest.mark.parametrize(("endpoint", "sections"), [
    ("kpis", ["kpis"]), ("quality", ["quality"]), ("funnel", ["funnel", "kpis"]), ("daily", ["daily"]),
    ("hourly", ["hourly"]), ("products", ["top_products"]), ("brands", ["top_brands"]),
    ("categories", ["revenue_by_category"]),
])
def test_batch_endpoints_are_the_summarys_sections(fake_client, endpoint, sections):
    response = fake_client.get(f"/api/{endpoint}")
    assert response.status_code == 200
    expected = {key: SUMMARY[key] for key in ("computed_at", *sections)}
    if endpoint == "categories":
        expected["revenue_by_subcategory"] = BREAKDOWNS["revenue_by_subcategory"]
    assert response.get_json() == expected


def test_summary_and_category_endpoints(fake_client):
    assert fake_client.get("/api/summary").get_json() == SUMMARY
    for endpoint, section in (("products", "top_products"), ("brands", "top_brands")):
        body = fake_client.get(f"/api/{endpoint}?category=kids").get_json()
        assert body == {"computed_at": BREAKDOWNS["computed_at"], "category": "kids",
                        section: BREAKDOWNS["by_category"]["kids"][section]}
        assert fake_client.get(f"/api/{endpoint}?category=").get_json()[section] == SUMMARY[section]


@pytest.mark.parametrize(("url", "expected"), [
    ("/api/live/minutes", MINUTES), ("/api/live/totals", TOTALS), ("/api/live/top-products", TOP_PRODUCTS),
    ("/api/live/purchases", PURCHASES), (f"/api/customers/{USER_ID}",
                                             {"user_id": USER_ID, "events": EVENTS, "total_events": len(EVENTS)}),
    ("/api/health", {"status": "ok"}),
])
def test_live_endpoints_are_the_live_sources_documents(fake_client, url, expected):
    response = fake_client.get(url)
    assert response.status_code == 200
    assert response.get_json() == expected


@pytest.mark.parametrize("text", ["abc", "0", "-5", "12345678901234567890", "9223372036854775808"])
def test_a_malformed_user_id_is_400(fake_client, text):
    response = fake_client.get(f"/api/customers/{text}")
    assert response.status_code == 400
    assert response.get_json() == {"error": "a user id is 1 to 19 digits, between 1 and 9223372036854775807"}


def test_a_user_without_events_is_404(fake_client):
    response = fake_client.get("/api/customers/0005")
    assert response.status_code == 404
    assert response.get_json() == {"error": "no events for user 5"}


class BusyLive(FakeLive):
    """USER_ID has 1,234 events; the lookup shows as many as it shows at most: EVENTS."""

    customer_events = len(EVENTS)

    def user_event_count(self, user_id: int) -> int:
        return 1234 if user_id == USER_ID else 0


def test_a_lookup_that_shows_the_most_it_may_counts_all_of_the_users_events():
    busy = client(live=BusyLive())
    assert busy.get(f"/api/customers/{USER_ID}").get_json() == {"user_id": USER_ID, "events": EVENTS,
                                                                "total_events": 1234}
    html = busy.get(f"/customers?user_id={USER_ID}").get_data(as_text=True)
    assert f"The latest {len(EVENTS)} of the 1,234 events of user {USER_ID}" in html


def test_an_unknown_category_is_404_naming_the_known_ones(fake_client):
    for url in ("/api/products?category=no-such", "/api/brands?category=no-such"):
        response = fake_client.get(url)
        assert response.status_code == 404
        assert response.get_json() == {"error": "No category 'no-such' in the latest analytics run; "
                                                "known: electronics, kids."}
    assert fake_client.get("/products?category=no-such").status_code == 404


@pytest.mark.parametrize("url", ["/api/summary", "/api/kpis", "/api/daily", "/api/products",
                                 "/api/products?category=kids", "/api/brands", "/api/categories"])
def test_summary_down_is_503_with_error_and_fix(url):
    response = client(summary=FakeSummary(down=HDFS_DOWN)).get(url)
    assert response.status_code == 503
    assert response.get_json() == {"error": HDFS_DOWN.message, "fix": "lab start namenode datanode"}


@pytest.mark.parametrize("url", ["/api/live/minutes", "/api/live/totals", "/api/live/top-products",
                                 "/api/live/purchases", "/api/customers/5"])
def test_live_down_is_503_with_error_and_fix(url):
    down = hbase_down(LAB)
    response = client(live=FakeLive(down=down)).get(url)
    assert response.status_code == 503
    assert response.get_json() == {"error": down.message, "fix": "lab start hbase-thrift"}


@pytest.mark.parametrize(("url", "sources"), [
    ("/", {"summary": FakeSummary(down=HDFS_DOWN)}), ("/products", {"summary": FakeSummary(down=HDFS_DOWN)}),
    ("/customers?user_id=5", {"live": FakeLive(down=hbase_down(LAB))}),
])
def test_pages_say_a_source_is_down_with_its_fix(url, sources):
    response = client(**sources).get(url)
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert "To fix it, run: <code>lab start " in html


def test_lab_08_functions_on_their_own():
    assert api.kpis(FakeSummary()) == {"computed_at": SUMMARY["computed_at"], "kpis": SUMMARY["kpis"]}
    assert api.daily(FakeSummary()) == {"computed_at": SUMMARY["computed_at"], "daily": SUMMARY["daily"]}
    assert api.products(FakeSummary(), None) == {"computed_at": SUMMARY["computed_at"],
                                                 "top_products": SUMMARY["top_products"]}
    assert api.products(FakeSummary(), "kids")["category"] == "kids"
    assert api.live_totals(FakeLive()) == TOTALS
    assert api.customer(FakeLive(), str(USER_ID)) == ({"user_id": USER_ID, "events": EVENTS}, 200)
    assert api.customer(FakeLive(), "x")[1] == 400
    assert api.customer(FakeLive(), "5") == ({"error": "no events for user 5"}, 404)
    assert api.unavailable(HDFS_DOWN) == ({"error": HDFS_DOWN.message, "fix": HDFS_DOWN.fix}, 503)


def test_a_students_lab_08_file_serves_its_endpoints(tmp_path):
    student = tmp_path / "08-dashboard" / "api.py"
    student.parent.mkdir()
    student.write_text("from dashboard.api import customer, daily, live_totals, products, unavailable\n\n\n"
                       "def kpis(summary):\n    return {'student': summary.get()['kpis']['orders']}\n")
    app = create_app(Settings(namespace="fakes", labs_dir=str(tmp_path), student_labs="08"), FakeSummary(), FakeLive())
    assert app.test_client().get("/api/kpis").get_json() == {"student": SUMMARY["kpis"]["orders"]}
    assert app.test_client().get("/api/daily").get_json()["daily"] == SUMMARY["daily"]


def test_lab_08_page_is_the_references_or_the_students_template_once_written(tmp_path):
    assert "<th>orders</th>" in client().get("/lab08").get_data(as_text=True)
    page = tmp_path / "08-dashboard" / "kpis.html"
    page.parent.mkdir()
    (page.parent / "api.py").write_text("from dashboard.api import *  # noqa\n")
    app = create_app(Settings(namespace="fakes", labs_dir=str(tmp_path), student_labs="08"), FakeSummary(), FakeLive())
    unwritten = app.test_client().get("/lab08")
    assert unwritten.status_code == 501
    assert "lab 08, step 8: write labs/08-dashboard/kpis.html" in unwritten.get_data(as_text=True)
    page.write_text('{% extends "layout.html" %}{% block title %}Mine{% endblock %}'
                    '{% block content %}<p>{{ kpis.kpis.orders }} {{ "<b>" }}</p>{% endblock %}')
    app = create_app(Settings(namespace="fakes", labs_dir=str(tmp_path), student_labs="08"), FakeSummary(), FakeLive())
    html = app.test_client().get("/lab08").get_data(as_text=True)
    assert f"<p>{SUMMARY['kpis']['orders']} &lt;b&gt;</p>" in html and "<h1>Mine</h1>" in html


def test_the_web_process_never_imports_spark():
    """The dashboard (its app, its requests) imports no Spark stage: pyspark would cost the web process
    memory and start-up time for nothing."""
    code = ("import json, sys; import dashboard; from pipeline.settings import Settings; "
            "from dashboard.fakes import FakeLive, FakeSummary; "
            "app = dashboard.create_app(Settings(namespace='fakes'), FakeSummary(), FakeLive()); "
            "[app.test_client().get(url) for url in ('/', '/api/kpis', '/api/live/totals', '/customers?user_id=5')]; "
            "print(json.dumps(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    modules = set(json.loads(result.stdout))
    assert "dashboard" in modules and "pipeline.store" in modules
    assert "pyspark" not in modules
    assert not modules & {"pipeline.realtime", "pipeline.clean", "pipeline.analyze", "pipeline.spark"}
