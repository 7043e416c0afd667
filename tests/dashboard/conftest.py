"""Dashboard fixtures (in the manner of Flask's tutorial): one small generated dataset pushed through the
whole pipeline in a fresh namespace once per session, the app on it, its test client, a live server."""

from __future__ import annotations

import csv
import json
import threading

import pytest
from waitress.server import create_server

from dashboard import create_app
from datasets import generate
from pipeline import analyze, clean, hbase_sink, landing, produce, readback, realtime
from pipeline import spark as spark_session

STAGES = ("kafka", "hbase-thrift", "namenode", "datanode", "spark-master", "spark-worker")
# A purchase whose brand is markup: every page must show it as text.
HOSTILE_BRAND = "<script>alert(1)</script>"


def hostile_row(user_id: int) -> list[str]:
    return ["2020-01-15 12:00:00 UTC", "purchase", "999999", "2053013555631882655", "electronics.smartphone",
            HOSTILE_BRAND, "99999.99", str(user_id), "hostile-session"]


def push(lab, path) -> None:
    """Every stage of the pipeline over ``path`` (produce, both sinks, clean, analyze, the real-time job)."""
    produce.produce(lab, path, progress=False)
    hbase_sink.run(lab, idle_timeout_s=3)
    landing.run(lab, idle_timeout_s=3)
    spark = spark_session.session(lab, "dashboard-tests", master="local[2]")
    clean.run(lab, spark=spark)
    analyze.run(lab, spark=spark)
    realtime.run(lab, available_now=True, spark=spark)


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    """The input file: 3,000 generated rows plus HOSTILE_BRAND's purchase."""
    path = tmp_path_factory.mktemp("dashboard") / "events.csv"
    generate(path, rows=3000, seed=5)
    with path.open("a", newline="") as stream:
        csv.writer(stream).writerow(hostile_row(user_id=777000777))
    return path


@pytest.fixture(scope="session")
def lab(require, dataset):
    """Settings of a fresh namespace holding the pipeline's results for ``dataset``."""
    for name in STAGES:
        require(name)
    with readback.scratch_namespace() as namespace:
        push(namespace, dataset)
        yield namespace


@pytest.fixture(scope="session")
def app(lab):
    app = create_app(lab)
    app.config.update(TESTING=True)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def hdfs_json(lab, path: str) -> dict:
    """A JSON document of the analytics run, read straight from HDFS."""
    with lab.webhdfs().read(path, encoding="utf-8") as reader:
        return json.load(reader)


@pytest.fixture(scope="session")
def breakdowns(lab):
    """The analytics run's dashboard breakdowns."""
    return hdfs_json(lab, lab.breakdowns_path)


@pytest.fixture(scope="session")
def hbase(lab):
    connection = lab.hbase()
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def server(app):
    """The app served by waitress (as in production) on a free port; yields its base URL."""
    wsgi = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=wsgi.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{wsgi.effective_port}"
    wsgi.close()
