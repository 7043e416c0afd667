"""Spark smoke test: a job submitted to the standalone master reads a file from HDFS and writes Parquet."""

from pathlib import Path

import pytest
import requests

from tests.conftest import run

pytestmark = pytest.mark.smoke

JOB = Path(__file__).parent / "jobs" / "csv_to_parquet.py"


def test_spark_submit_reads_hdfs_and_writes_parquet(require, tmp_path, unique):
    require("datanode")
    require("spark-worker")
    local = tmp_path / "orders.csv"
    local.write_text("order_id,price\n1,10.50\n2,20.25\n3,5.00\n")
    directory = f"/user/root/{unique}"
    run("hdfs", "dfs", "-mkdir", "-p", directory)
    run("hdfs", "dfs", "-put", str(local), f"{directory}/orders.csv")
    try:
        output = run("spark-submit", str(JOB), f"{directory}/orders.csv", f"{directory}/orders.parquet", timeout=300)
        assert "ROWS=3 REVENUE=35.75 MASTER=spark://" in output
        listing = run("hdfs", "dfs", "-ls", f"{directory}/orders.parquet")
        assert "_SUCCESS" in listing and ".parquet" in listing
    finally:
        run("hdfs", "dfs", "-rm", "-r", "-skipTrash", directory)


def test_a_lab_session_maps_the_provisioned_class_archive():
    """pipeline/spark.py's sessions start from the playbook's class archive (-Xshare:on fails the JVM
    when it cannot map it: a changed class path, Java or Spark)."""
    from pipeline import spark as spark_session

    archive = spark_session.spark_env(spark_session.SPARK_CONF_DIR).get(spark_session.ARCHIVE_VARIABLE)
    assert archive and Path(archive).is_file(), f"no class archive at {archive!r}"
    assert spark_session.archive_accepted(Path(archive))


def test_the_master_ui_takes_no_kill_requests(require):
    """spark.ui.killEnabled=false: the master's UI has no kill handler for a browser to call."""
    url = require("spark-master").health["url"]
    response = requests.post(f"{url}/app/kill/", data={"id": "app-none", "terminate": "true"},
                             allow_redirects=False, timeout=30)
    assert response.status_code in (404, 405), (response.status_code, response.text[:500])
