"""The lab command's service registry and health checks, without a running stack."""

import socket
import threading

import pytest
import yaml

from labctl import demo, health, supervisor
from labctl.services import UnknownService, load_services, select
from pipeline import lag
from pipeline.settings import Settings

pytestmark = pytest.mark.unit


def write_fragment(directory, order, name):
    (directory / f"{order:02d}-{name}.yml").write_text(yaml.safe_dump({
        "name": name, "component": "demo", "order": order, "user": "bigdata",
        "log": f"/var/log/demo/{name}.log", "health": {"kind": "zookeeper", "host": "127.0.0.1", "port": 1},
    }))


def test_services_load_in_start_order(tmp_path):
    write_fragment(tmp_path, 31, "regionserver")
    write_fragment(tmp_path, 10, "zookeeper")
    write_fragment(tmp_path, 30, "master")
    assert [s.name for s in load_services(tmp_path)] == ["zookeeper", "master", "regionserver"]


def test_select_names_the_known_services_when_one_is_unknown(tmp_path):
    write_fragment(tmp_path, 10, "zookeeper")
    services = load_services(tmp_path)
    assert select(services, "zookeeper") == services
    with pytest.raises(UnknownService, match="known services: zookeeper"):
        select(services, "zookeper")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_refused_connection_is_unhealthy_not_an_exception():
    healthy, detail = health.check({"kind": "zookeeper", "host": "127.0.0.1", "port": free_port()})
    assert not healthy and "ConnectionRefusedError" in detail


def test_an_unknown_kind_is_unhealthy():
    assert health.check({"kind": "telepathy"}) == (False, "no health check of kind 'telepathy'")


def test_a_stuck_consumer_group_is_fixed_by_the_demos_ingest_in_its_namespace_else_by_lab_pipeline_ingest(monkeypatch):
    monkeypatch.setattr(demo, "config", lambda: {"namespace": "lab"})
    assert health.ingest_fix(Settings(namespace="lab")) == "lab restart demo-ingest"
    assert health.ingest_fix(Settings(namespace="alice")) == "lab pipeline --namespace alice ingest"


@pytest.mark.parametrize(("ingest_state", "healthy", "detail"), [
    ("RUNNING", False, "7 records wait; no commit in 10 s"),
    ("STOPPED", True, "7 records wait; the demo is stopped (`lab demo start`)"),
])
def test_records_waiting_for_the_demos_stopped_ingest_are_no_fault(monkeypatch, ingest_state, healthy, detail):
    monkeypatch.setattr(demo, "config", lambda: {"namespace": "lab"})
    monkeypatch.setattr(supervisor, "states", lambda: {"demo-ingest": supervisor.ProgramState(ingest_state, None)})
    stuck = lag.GroupProgress("lab-hbase-sink", [lag.PartitionLag(0, 3, 10)], advanced=False)
    monkeypatch.setattr(lag, "group_progress", lambda settings, groups: [stuck])
    [group] = health.consumer_groups(Settings(namespace="lab"))
    assert (group["healthy"], group["detail"]) == (healthy, detail)
    assert group["fix"] == (None if healthy else "lab restart demo-ingest")


def serve_once(replies):
    """A one-thread TCP server answering each connection with the next reply."""
    server = socket.create_server(("127.0.0.1", 0))

    def answer():
        for reply in replies:
            conn, _ = server.accept()
            conn.recv(16)
            conn.sendall(reply)
            conn.close()
        server.close()

    threading.Thread(target=answer, daemon=True).start()
    return server.getsockname()[1]


def test_zookeeper_that_answers_imok_but_does_not_serve_is_unhealthy():
    port = serve_once([b"imok", b"This ZooKeeper instance is not currently serving requests\n"])
    assert health.zookeeper("127.0.0.1", port) == (False, "imok, but srvr says it is not serving requests")


def test_zookeeper_serving_in_standalone_mode_is_healthy():
    port = serve_once([b"imok", b"Zookeeper version: 3.9.5\nMode: standalone\nNode count: 5\n"])
    assert health.zookeeper("127.0.0.1", port) == (True, "imok, mode standalone")
