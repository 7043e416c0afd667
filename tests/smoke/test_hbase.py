"""HBase smoke tests: create, put, get, scan through happybase (Thrift v1) and `hbase shell -n`."""

import happybase
import pytest
import requests

from tests.conftest import run

pytestmark = pytest.mark.smoke


@pytest.fixture
def connection(require):
    require("hbase-regionserver")
    thrift = require("hbase-thrift")
    conn = happybase.Connection(thrift.health["host"], int(thrift.health["port"]))
    yield conn
    conn.close()


def test_create_put_get_scan_delete_with_happybase(connection, unique):
    connection.create_table(unique, {"cf": {"max_versions": 1}})
    try:
        table = connection.table(unique)
        table.put(b"user-2", {b"cf:brand": b"apple"})
        table.put(b"user-1", {b"cf:brand": b"samsung", b"cf:price": b"1081.98"})
        assert table.row(b"user-1") == {b"cf:brand": b"samsung", b"cf:price": b"1081.98"}
        assert [key for key, _ in table.scan()] == [b"user-1", b"user-2"]
        assert [key for key, _ in table.scan(row_prefix=b"user-2")] == [b"user-2"]
    finally:
        connection.delete_table(unique, disable=True)
    assert unique.encode() not in connection.tables()


def test_create_put_get_scan_with_the_hbase_shell(require, tmp_path, unique):
    require("hbase-regionserver")
    script = tmp_path / "smoke.rb"
    script.write_text(
        f"create '{unique}', 'cf'\n"
        f"put '{unique}', 'r1', 'cf:a', 'v1'\n"
        f"put '{unique}', 'r2', 'cf:a', 'v2'\n"
        f"get '{unique}', 'r1'\n"
        f"scan '{unique}'\n"
        f"disable '{unique}'\n"
        f"drop '{unique}'\n"
    )
    output = run("hbase", "shell", "-n", str(script), timeout=180)
    assert "value=v1" in output
    assert "2 row(s)" in output


def test_hbase_shell_exits_non_zero_on_an_error(require, tmp_path, unique):
    require("hbase-regionserver")
    script = tmp_path / "bad.rb"
    script.write_text(f"get '{unique}_missing', 'r1'\n")
    with pytest.raises(AssertionError, match="Unknown table"):
        run("hbase", "shell", "-n", str(script), timeout=180)


def test_the_master_ui_refuses_changes(require):
    """hbase.master.ui.readonly: a browser cannot change the running cluster (here, a log level)."""
    url = require("hbase-master").health["url"]
    response = requests.get(f"{url}/logLevel", params={"log": "lab.readonly.probe", "level": "DEBUG"}, timeout=30)
    assert response.status_code == 403, response.text[:500]
