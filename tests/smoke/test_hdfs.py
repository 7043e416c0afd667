"""HDFS smoke tests: put/get/ls through `hdfs dfs` and through WebHDFS (the `hdfs` package)."""

import pytest
import requests
from hdfs import InsecureClient

from tests.conftest import run

pytestmark = pytest.mark.smoke


@pytest.fixture
def webhdfs(require):
    return InsecureClient(require("namenode").health["url"], user="root")


def test_dfsadmin_report_shows_one_live_datanode(require):
    require("datanode")
    report = run("hdfs", "dfsadmin", "-report")
    assert "Live datanodes (1)" in report


def test_safe_mode_is_off(require):
    require("datanode")
    assert "Safe mode is OFF" in run("hdfs", "dfsadmin", "-safemode", "get")


def test_put_ls_cat_rm_with_hdfs_dfs(require, tmp_path, unique):
    require("datanode")
    local = tmp_path / "hello.txt"
    local.write_text("hello from the lab\n")
    remote = f"/tmp/{unique}.txt"
    run("hdfs", "dfs", "-put", str(local), remote)
    assert remote in run("hdfs", "dfs", "-ls", "/tmp")
    assert run("hdfs", "dfs", "-cat", remote) == "hello from the lab\n"
    run("hdfs", "dfs", "-rm", "-skipTrash", remote)
    assert remote not in run("hdfs", "dfs", "-ls", "/tmp")


def test_write_list_read_delete_with_webhdfs(webhdfs, require, unique):
    require("datanode")
    directory = f"/user/root/{unique}"
    webhdfs.write(f"{directory}/part-0.csv", data="a,b\n1,2\n", encoding="utf-8")
    assert webhdfs.list(directory) == ["part-0.csv"]
    with webhdfs.read(f"{directory}/part-0.csv", encoding="utf-8") as reader:
        assert reader.read() == "a,b\n1,2\n"
    assert webhdfs.delete(directory, recursive=True)
    assert webhdfs.status(directory, strict=False) is None


def test_student_home_directory_exists(webhdfs, require):
    require("datanode")
    status = webhdfs.status("/user/root")
    assert status["type"] == "DIRECTORY" and status["owner"] == "root"


def test_webhdfs_refuses_a_browser_write_without_the_csrf_header(require, unique):
    """dfs.webhdfs.rest-csrf.enabled: another site's page cannot make a browser change HDFS."""
    require("datanode")
    url = f"{require('namenode').health['url']}/webhdfs/v1/tmp/{unique}"
    browser = {"User-Agent": "Mozilla/5.0"}
    refused = requests.put(url, params={"op": "MKDIRS", "user.name": "root"}, headers=browser, timeout=30)
    assert refused.status_code == 400 and "CSRF" in refused.reason, (refused.status_code, refused.reason)
    with_header = {**browser, "X-XSRF-HEADER": "lab"}
    made = requests.put(url, params={"op": "MKDIRS", "user.name": "root"}, headers=with_header, timeout=30)
    assert made.json() == {"boolean": True}, made.text
    requests.delete(url, params={"op": "DELETE", "user.name": "root"}, headers=with_header, timeout=30)
