"""Persistence: an HDFS file, an HBase row and a Kafka message survive `lab stop` + `lab start`."""

import subprocess
from pathlib import Path

import happybase
import pytest
from hdfs import InsecureClient
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

pytestmark = [pytest.mark.stack, pytest.mark.slow]

LAB = "lab"


def lab(*args: str) -> None:
    result = subprocess.run([LAB, *args], capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, f"lab {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


def test_data_survives_a_stop_and_start(services, require, unique):
    namenode, thrift, kafka = require("namenode"), require("hbase-thrift"), require("kafka")
    require("datanode")
    bootstrap = kafka.health["bootstrap"]

    webhdfs = InsecureClient(namenode.health["url"], user="root")
    webhdfs.write(f"/user/root/{unique}.txt", data="kept\n", encoding="utf-8")

    connection = happybase.Connection(thrift.health["host"], int(thrift.health["port"]))
    connection.create_table(unique, {"d": {}})
    connection.table(unique).put(b"row-1", {b"d:value": b"kept"})
    connection.close()

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(unique, num_partitions=1, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    producer.send(unique, b"kept").get(timeout=30)
    producer.close()

    lab("stop")
    lab("start")

    with webhdfs.read(f"/user/root/{unique}.txt", encoding="utf-8") as reader:
        assert reader.read() == "kept\n"
    webhdfs.delete(f"/user/root/{unique}.txt")

    connection = happybase.Connection(thrift.health["host"], int(thrift.health["port"]))
    assert connection.table(unique).row(b"row-1") == {b"d:value": b"kept"}
    connection.delete_table(unique, disable=True)
    connection.close()

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=20000)
    partition = TopicPartition(unique, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    assert [record.value for record in consumer][:1] == [b"kept"]
    consumer.close()

    datanode_log = Path(services["datanode"].log).read_text(errors="replace")
    assert "Incompatible clusterIDs" not in datanode_log
