"""Lab 02 — the producer: each CSV record becomes one Kafka message.

Write the three functions below, one step of labs/02-producer/README.md each; `lab check 02` tells you
how far you are. The plumbing (pipeline/produce.py) does the rest: it creates the topic, reads the file
(one record per line, header and blank lines skipped, line ends removed), hands your ``send_records`` the
(line number, record bytes) pairs and a producer, then flushes and reports. What you may use is
imported here: the data contract's ``contract.FIELDS``, ``contract.decode`` and ``contract.split_fields``
(the rules you wrote in lab 01, in the pipeline's own version).
"""

from __future__ import annotations

from typing import Iterable

from kafka import KafkaProducer  # noqa: F401 (the type of the producer send_records is given)

from pipeline import contract  # given: contract.FIELDS, contract.decode, contract.split_fields

# Where the two fields of a key are among the 9 fields of a record (given).
SESSION, USER_ID = contract.FIELDS.index("user_session"), contract.FIELDS.index("user_id")


def record_key(raw: bytes) -> bytes:
    """The message key of a raw record: its user_session field, else (the session is empty) its user_id
    field, encoded as UTF-8; b"" when the record does not split into the contract's 9 fields.

    The fields are those of ``contract.split_fields(contract.decode(raw))`` (RFC 4180: a quoted field may
    hold commas and ``""``; bytes that are not UTF-8 read as U+FFFD), taken as they are (not trimmed).
    Kafka sends the records of one key to one partition, so a session's events stay in their order."""
    raise NotImplementedError("lab 02, step 1: write record_key in labs/02-producer/producer.py")


def headers(source: str, line: int) -> list[tuple[str, bytes]]:
    """A message's headers, in this order: ``source``, the file name as UTF-8 bytes, and ``line``, the
    record's line number in the file as ASCII digits: ``headers("mine.csv", 42)`` is
    ``[("source", b"mine.csv"), ("line", b"42")]``."""
    raise NotImplementedError("lab 02, step 2: write headers in labs/02-producer/producer.py")


def send_records(kafka: KafkaProducer, topic: str, records: Iterable[tuple[int, bytes]], source: str) -> int:
    """Send each (line number, raw record) of ``records``, in their order, to ``topic`` with
    ``kafka.send(topic, value=..., key=..., headers=...)``: the value is the record's bytes as they are,
    the key ``record_key(raw)``, the headers ``headers(source, line)``. Leave the partition to ``kafka``:
    the producer you are given picks it from the key, paces the sends and counts them. ``records`` can
    be read only once. Returns how many records it passed to ``kafka.send`` (the caller flushes)."""
    raise NotImplementedError("lab 02, step 3: write send_records in labs/02-producer/producer.py")
