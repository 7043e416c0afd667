"""Sources that are down or empty: the pages and the API say so with the fixing command, never a 500."""

from __future__ import annotations

import dataclasses

import pytest

from dashboard import create_app
from pipeline import clean, settings

pytestmark = pytest.mark.integration


@pytest.fixture
def empty_client(require, unique):
    """A namespace no pipeline ever ran in."""
    require("namenode")
    return create_app(settings.load(namespace=unique)).test_client()


@pytest.fixture
def unreachable_client(unique):
    """HDFS and HBase on ports nothing listens on."""
    lab = dataclasses.replace(settings.load(namespace=unique), webhdfs_url="http://127.0.0.1:9", hbase_port=9)
    return create_app(lab).test_client()


def test_no_analytics_run_yet(empty_client, unique):
    response = empty_client.get("/")
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert "No analytics run exists yet" in html
    assert f"lab pipeline --namespace {unique} run --input datasets/sample/events.csv" in html
    fix = empty_client.get("/api/kpis").get_json()["fix"]
    assert fix == f"lab pipeline --namespace {unique} run --input datasets/sample/events.csv"


@pytest.mark.parametrize("url", ["/products", "/categories", "/api/categories", "/api/products?category=kids"])
def test_an_older_run_without_breakdowns(require, unique, url):
    require("namenode")
    lab = settings.load(namespace=unique)
    hdfs = lab.webhdfs()
    clean.write_json(hdfs, lab.summary_path, {"revenue_by_category": []})
    try:
        response = create_app(lab).test_client().get(url)
        assert response.status_code == 503
        text = response.get_data(as_text=True)
        assert "predates the dashboard breakdowns" in text
        assert f"lab pipeline --namespace {unique} analyze" in text
    finally:
        hdfs.delete(lab.hdfs_root, recursive=True)


@pytest.mark.parametrize("page", ["/", "/funnel", "/products", "/categories"])
def test_hdfs_down(unreachable_client, page):
    response = unreachable_client.get(page)
    assert response.status_code == 503
    assert "lab start namenode" in response.get_data(as_text=True)


@pytest.mark.parametrize("url", ["/api/live/minutes", "/api/live/totals", "/api/customers/5"])
def test_hbase_down(unreachable_client, url):
    response = unreachable_client.get(url)
    assert response.status_code == 503
    assert response.get_json()["fix"] == "lab start hbase-thrift"


def test_hbase_down_on_the_lookup_page(unreachable_client):
    response = unreachable_client.get("/customers?user_id=5")
    assert response.status_code == 503
    assert "lab start hbase-thrift" in response.get_data(as_text=True)
