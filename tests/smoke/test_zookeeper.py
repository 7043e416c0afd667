"""ZooKeeper smoke tests: four-letter words and a znode round trip through the upstream CLI."""

import socket

import pytest

from tests.conftest import run

pytestmark = pytest.mark.smoke


def four_letter_word(port: int, word: bytes) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(word)
        return sock.makefile("rb").read().decode()


def test_ruok_answers_imok(require):
    port = require("zookeeper").ports[0]
    assert four_letter_word(port, b"ruok") == "imok"


def test_srvr_reports_standalone_mode(require):
    port = require("zookeeper").ports[0]
    assert "Mode: standalone" in four_letter_word(port, b"srvr")


def test_znode_create_get_delete_with_zookeeper_shell(require, unique):
    require("zookeeper")
    path = f"/smoke-{unique}"
    run("zookeeper-shell", "create", path, "hello-lab")
    assert "hello-lab" in run("zookeeper-shell", "get", path)
    run("zookeeper-shell", "delete", path)
    assert path.lstrip("/") not in run("zookeeper-shell", "ls", "/")
