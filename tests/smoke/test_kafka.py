"""Kafka smoke tests: create a topic, produce and consume through kafka-python and the console tools."""

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from tests.conftest import run

pytestmark = pytest.mark.smoke


@pytest.fixture
def bootstrap(require):
    return require("kafka").health["bootstrap"]


def consume_all(bootstrap: str, topic: str) -> list[bytes]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=10000)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    values = [record.value for record in consumer]
    consumer.close()
    return values


def test_produce_consume_with_kafka_python(bootstrap, unique):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(unique, num_partitions=1, replication_factor=1)])
    try:
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        for n in range(3):
            producer.send(unique, key=b"session", value=f"event-{n}".encode())
        producer.flush()
        producer.close()
        assert consume_all(bootstrap, unique) == [b"event-0", b"event-1", b"event-2"]
    finally:
        admin.delete_topics([unique])
        admin.close()


def test_topic_produce_consume_with_the_console_tools(bootstrap, unique):
    run("kafka-topics.sh", "--bootstrap-server", bootstrap, "--create", "--topic", unique,
        "--partitions", "1", "--replication-factor", "1")
    assert unique in run("kafka-topics.sh", "--bootstrap-server", bootstrap, "--list").split()
    run("kafka-console-producer.sh", "--bootstrap-server", bootstrap, "--topic", unique, stdin="first\nsecond\n")
    output = run("kafka-console-consumer.sh", "--bootstrap-server", bootstrap, "--topic", unique,
                 "--from-beginning", "--max-messages", "2", "--timeout-ms", "30000")
    assert output.split() == ["first", "second"]
    run("kafka-topics.sh", "--bootstrap-server", bootstrap, "--delete", "--topic", unique)
