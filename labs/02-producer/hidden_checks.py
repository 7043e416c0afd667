"""Hidden checks of lab 02 (grading only, never shipped): your producer.py on records the public checks do not
try, on a long stream of a defect-heavy generated file, and on the broker with three producer processes."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.future import Future
from kafka.partitioner.default import murmur2

import datasets
from labctl.checking import Context, check, public_checks
from pipeline import produce, readback, topics
from pipeline.contract import read_records

T = "2019-10-01 10:00:00 UTC"


def expected_key(raw: bytes) -> bytes:
    """The public checks' own key of a record (written independently of the reference, which agrees)."""
    key = public_checks("02").expected_key(raw)
    assert produce.record_key(raw) == key, f"the check's own key of {raw!r} disagrees with the reference"
    return key


def expected_headers(source: str, line: int) -> list[tuple[str, bytes]]:
    return [("source", source.encode("utf-8")), ("line", str(line).encode("ascii"))]


def as_list(headers):
    try:
        return [tuple(header) for header in headers]
    except TypeError:
        return headers


def defect_heavy_file(ctx: Context, rows: int) -> Path:
    """A generated file with many defects (quoted brands, broken records), made once per check run."""
    path = ctx.tmp.parent / f"lab02-hidden-{rows}" / "events.csv"
    if not path.is_file():
        datasets.generate(path, rows=rows, seed=ctx.seed, defect_rate=0.3)
    return path


# ---------------------------------------------------------------------------------------------------


KEYS = {
    # a record that breaks a rule of the contract but has 9 fields keeps its session as key
    b"never,view,1,2,a.b,acme,1.00,3,s-late": b"s-late",
    f"{T},wishlist,x,2,a.b,acme,free,3,s-bad".encode(): b"s-bad",
    f"{T},view,0,2,a.b,acme,-1,3,s-zero".encode(): b"s-zero",
    # fields as they are: not trimmed, not lower-cased, not parsed
    f"{T},view,1,2,a.b,acme,1.00,3, S 1 \t".encode(): b" S 1 \t",
    f"{T},view,1,2,a.b,acme,1.00, 42 ,".encode(): b" 42 ",
    f"{T},view,1,2,a.b,acme,1.00,abc,".encode(): b"abc",
    f'{T},view,1,2,a.b,acme,1.00,"00042",""'.encode(): b"00042",
    f"{T},view,1,2,a.b,acme,1.00,3,0".encode(): b"0",
    f"{T},view,1,2,a.b,acme,1.00,3,s-cr\r".encode(): b"s-cr\r",
    # quoted sessions may hold commas and quotes
    f'{T},view,1,2,a.b,acme,1.00,3,"a,b"'.encode(): b"a,b",
    f'"{T}","view","1","2","a.b","Acme, ""Ltd""","1.00","3","s-all-quoted"'.encode(): b"s-all-quoted",
    # bytes that are not UTF-8: one U+FFFD per maximal invalid sequence, as contract.decode does
    f"{T},view,1,2,a.b,acme,1.00,3,s-".encode() + b"\xe2\x82x": "s-\ufffdx".encode(),
    f"{T},view,1,2,a.b,acme,1.00,3,s".encode() + b"\xe9\xe9": "s\ufffd\ufffd".encode(),
    f'{T},view,1,2,a.b,"caf'.encode() + b'\xe9, Inc",1.00,3,s-quoted-latin1': b"s-quoted-latin1",
    # neither a session nor a user, or not 9 fields: the empty key
    f"{T},view,1,2,a.b,acme,1.00,,".encode(): b"",
    b",,,,,,,,": b"",
    f"{T},view,1,2,a.b,Apple, Inc,1.00,3,s-unquoted".encode(): b"",
    f'{T},view,1,2,a.b,acme,1.00,3,"s-open'.encode(): b"",
    f'{T},view,1,2,a.b,acme,1.00,3,"s" '.encode(): b"",
    b"\t": b"",
}


@check(points=2, hint="The key is the 9th field of contract.split_fields(contract.decode(raw)) exactly as it is, "
                      "else the 8th; whether the record is otherwise valid does not matter.")
def keys_of_unusual_and_generated_records_follow_the_rule(ctx: Context) -> None:
    for raw, wanted in KEYS.items():
        assert expected_key(raw) == wanted, f"the check's own case {raw!r} is wrong"
        got = ctx.student.record_key(raw)
        assert type(got) is bytes and got == wanted, f"record_key({raw!r}) returned {got!r}, expected {wanted!r}"
    with open(defect_heavy_file(ctx, 1200), "rb") as stream:
        for line, raw in read_records(stream):
            got, wanted = ctx.student.record_key(raw), expected_key(raw)
            assert type(got) is bytes and got == wanted, (
                f"line {line} of a generated file: record_key({raw!r}) returned {got!r}, expected {wanted!r}")


class Sent(Future):
    def get(self, timeout=None) -> None:
        return None


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[dict] = []

    def send(self, topic, value, key=None, headers=None, partition=None, timestamp_ms=None):
        self.sent.append(dict(topic=topic, value=value, key=key, headers=headers, partition=partition))
        return Sent().success(None)

    def flush(self, timeout=None) -> None:
        pass


@check(points=1, hint="Loop over the records you are given (there may be none, or many), send each as it is with "
                      "the line number it comes with, and return the number of sends.")
def send_records_on_an_empty_and_a_long_stream(ctx: Context) -> None:
    kafka = FakeProducer()
    returned = ctx.student.send_records(kafka, "t.events.raw", iter(()), "empty.csv")
    assert kafka.sent == [] and type(returned) is int and returned == 0, (
        f"send_records of no records sent {len(kafka.sent)} messages and returned {returned!r}; expected 0")
    source = "März 2019, part 2.csv"
    with open(defect_heavy_file(ctx, 1200), "rb") as stream:
        records = list(read_records(stream))
    records += [(10**9 + 7, b"   "), (10**10, f"{T},view,1,2,a.b,caf".encode() + b"\xe9,1.00,3,s-\xff"),
                (10**12, f"{T},cart,1,2,a.b,acme,1.00,3,s-last".encode())]
    kafka = FakeProducer()
    returned = ctx.student.send_records(kafka, "t.events.raw", (record for record in records), source)
    assert len(kafka.sent) == len(records), f"{len(kafka.sent)} sends for {len(records)} records"
    for (line, raw), message in zip(records, kafka.sent):
        wanted = dict(topic="t.events.raw", value=raw, key=expected_key(raw), headers=expected_headers(source, line),
                      partition=None)
        got = dict(message, headers=as_list(message["headers"]))
        for name, value in wanted.items():
            assert got[name] == value and type(got[name]) is type(value), (
                f"the record of line {line} {raw!r} was sent with the {name} {got[name]!r}, expected {value!r}")
    assert type(returned) is int and returned == len(records), (
        f"send_records returned {returned!r} after {len(records)} records")


# ---------------------------------------------------------------------------------------------------
# The broker, with three producer processes (one per partition) and a file of another size.

SOURCE = "lab02-hidden.csv"
SESSION = b"lab02-hidden \"spread\", s"


def end_offsets(ctx: Context) -> dict[int, int]:
    """{partition: end offset} of the run's raw topic ({} when it does not exist yet)."""
    admin = KafkaAdminClient(bootstrap_servers=ctx.settings.kafka_bootstrap)
    try:
        exists = ctx.settings.raw_topic in admin.list_topics()
    finally:
        admin.close()
    if not exists:  # (asking a consumer about a missing topic could create it with the broker's defaults)
        return {}
    consumer = KafkaConsumer(bootstrap_servers=ctx.settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(ctx.settings.raw_topic) or set()
        ends = consumer.end_offsets([TopicPartition(ctx.settings.raw_topic, p) for p in partitions])
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        consumer.close()


@check(points=2, hint="Each record must reach the topic once, unchanged, keyed by its session, however many "
                      "processes the plumbing runs: send every record you are given to the producer you are given.",
       timeout=60, services=("kafka",))
def three_producer_processes_deliver_every_record_once_in_session_order(ctx: Context) -> None:
    rows = [row for row in ctx.dataset(rows=700).read_bytes().split(b"\n")[1:] if row]
    out = [b",".join(f.encode() for f in ("event_time", "event_type", "product_id", "category_id", "category_code",
                                           "brand", "price", "user_id", "user_session"))]
    for number, row in enumerate(rows):
        if number % 50 == 7:  # one session's events spread over the whole file, quoted and with non-UTF-8 bytes
            out.append(f'{T},view,{number + 1},2,a.b,"Caf'.encode() + b'\xe9, Ltd",1.00,9,"'
                       + SESSION.replace(b'"', b'""') + b'"')
        if number % 100 == 40:
            out.append(b"")  # a blank line: not a record, but it has a line number
        out.append(row)
    path = ctx.tmp / SOURCE
    path.write_bytes(b"\n".join(out) + b"\n")
    lines = readback.file_lines(path)
    before = end_offsets(ctx)  # the public checks of the same run may have produced into the topic already
    try:
        stats = produce.produce(ctx.settings, path, progress=False, processes=3)
    except RuntimeError as error:  # a worker process's error: show the student's own
        raise (error.__cause__ or error) from None
    messages = [message for message in readback.topic_records(ctx.settings, ctx.settings.raw_topic)
                if message.offset >= before.get(message.partition, 0)]
    assert stats.records == len(lines) and len(messages) == len(lines), (
        f"{stats.records} records sent and {len(messages)} on the topic for the file's {len(lines)} records")
    by_key: dict[bytes, list] = defaultdict(list)
    seen = set()
    for message in sorted(messages, key=lambda m: (m.partition, m.offset)):
        got = dict(message.headers or ()).get("line") or b""
        line = int(got) if got.isdigit() else None
        assert line in lines and as_list(message.headers) == expected_headers(SOURCE, line), (
            f"a message (partition {message.partition}, offset {message.offset}) has the headers "
            f"{message.headers!r}, not the file name and the line number of a record")
        assert line not in seen, f"the record of line {line} arrived twice"
        seen.add(line)
        assert message.value == lines[line], f"line {line} {lines[line]!r} arrived as {message.value!r}"
        wanted = expected_key(message.value)
        assert message.key == wanted, f"line {line} arrived with the key {message.key!r}, expected {wanted!r}"
        assert message.partition == (murmur2(wanted) & 0x7FFFFFFF) % topics.PARTITIONS, (
            f"line {line} is in partition {message.partition}, not the one Kafka's partitioner picks for its key")
        by_key[wanted].append(line)
    assert len(by_key[SESSION]) == len(rows) // 50 + (len(rows) % 50 > 7), "the spread session is incomplete"
    for key, got in by_key.items():
        assert got == sorted(got), f"the events of the key {key!r} arrived in the order of lines {got[:8]}..."
