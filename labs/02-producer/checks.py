"""Public checks of lab 02 (`lab check 02`): your producer.py on tricky records, then the plumbing's producer
with your send_records on the real broker, read back from the topic."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from kafka import KafkaAdminClient
from kafka.future import Future
from kafka.partitioner.default import murmur2

from labctl.checking import Context, check
from pipeline import produce, readback, topics

T = "2019-10-01 10:00:00 UTC"  # an event time for the hand-written records

# ---------------------------------------------------------------------------------------------------
# What the checks expect, written here independently of the reference.

_FIELD = re.compile(r'"((?:[^"]|"")*)"|([^",]*)')


def _fields(text: str) -> list[str] | None:
    """RFC 4180 fields of a record, unquoted; None for malformed quoting."""
    fields, position = [], 0
    while True:
        match = _FIELD.match(text, position)
        quoted, plain = match.group(1), match.group(2)
        fields.append(quoted.replace('""', '"') if quoted is not None else plain)
        position = match.end()
        if position == len(text):
            return fields
        if text[position] != ",":
            return None
        position += 1


def expected_key(raw: bytes) -> bytes:
    fields = _fields(raw.decode("utf-8", errors="replace"))
    if fields is None or len(fields) != 9:
        return b""
    return (fields[8] or fields[7]).encode("utf-8")


def expect_keys(ctx: Context, cases: dict[bytes, bytes]) -> None:
    for raw, wanted in cases.items():
        got = ctx.student.record_key(raw)
        assert type(got) is bytes and got == wanted, f"record_key({raw!r}) returned {got!r}, expected {wanted!r}"


def as_list(headers):
    """Headers as a list of tuples (any sequence of pairs is fine for the producer), else as they are."""
    try:
        return [tuple(header) for header in headers]
    except TypeError:
        return headers


# ---------------------------------------------------------------------------------------------------
# Your functions, on their own.


@check(points=1, hint="The key is the record's session (the 9th field), whatever the event type: every event of a "
                      "session must get the same key.")
def the_session_is_the_key(ctx: Context) -> None:
    expect_keys(ctx, {
        f"{T},view,1,2,a.b,acme,1.00,3,s-1".encode(): b"s-1",
        f"{T},cart,1,2,a.b,acme,1.00,3,s-1".encode(): b"s-1",
        f"{T},purchase,44,2,,,9.99,77,90c192cf-d3ac-44af-8f21".encode(): b"90c192cf-d3ac-44af-8f21",
    })


@check(points=1, hint="Split the decoded record like the contract does (contract.split_fields of contract.decode): "
                      "a quoted field may hold commas, and a byte that is not UTF-8 must not stop you.")
def quoted_and_non_ascii_records_are_keyed_by_their_session(ctx: Context) -> None:
    expect_keys(ctx, {
        f'{T},view,1,2,a.b,"Apple, Inc",1.00,3,s-2'.encode(): b"s-2",
        f'{T},view,1,2,a.b,acme,1.00,3,"s ""3"", x"'.encode(): b's "3", x',
        f"{T},view,1,2,a.b,café,1.00,3,séance-4".encode(): "séance-4".encode(),
        f"{T},view,1,2,a.b,caf".encode() + b"\xe9,1.00,3,s-5": b"s-5",
        f"{T},view,1,2,a.b,acme,1.00,3,s-".encode() + b"\xff6": "s-\ufffd6".encode(),
    })


@check(points=1, hint="An empty session falls back to the user_id field as it is; a record that is not 9 fields "
                      "(count them after splitting, quotes included) gets the empty key b\"\".")
def without_a_session_the_user_then_nothing_is_the_key(ctx: Context) -> None:
    expect_keys(ctx, {
        f"{T},view,1,2,a.b,acme,1.00,3,".encode(): b"3",
        f"{T},view,1,2,a.b,acme,1.00,00042,".encode(): b"00042",
        f"{T},view,1,2,a.b,acme,1.00,,".encode(): b"",
        f"{T},view,1,2,a.b,acme,1.00,3".encode(): b"",
        f"{T},view,1,2,a.b,acme,1.00,3,s-6,extra".encode(): b"",
        f'{T},view,1,2,a.b,ac"me,1.00,3,s-7'.encode(): b"",
        f'{T},view,1,2,"a.b,acme,1.00,3,s-8'.encode(): b"",
        b"   ": b"",
    })


@check(points=1, hint="Two headers, source then line; each value is bytes: the name encoded as UTF-8, the number "
                      "written in decimal digits (the text you would print), not a binary integer.")
def headers_are_the_file_name_and_the_line_number(ctx: Context) -> None:
    cases = {("mine.csv", 42): [("source", b"mine.csv"), ("line", b"42")],
             ("données d'été.csv", 2): [("source", "données d'été.csv".encode()), ("line", b"2")],
             ("events.csv", 1234567): [("source", b"events.csv"), ("line", b"1234567")]}
    for (source, line), wanted in cases.items():
        got = ctx.student.headers(source, line)
        assert as_list(got) == wanted, (
            f"headers({source!r}, {line}) returned {got!r}, expected {wanted!r}")


class Sent(Future):
    """What FakeProducer.send returns: a future already done."""

    def get(self, timeout=None) -> None:
        return None


class FakeProducer:
    """Records what send_records sends; has the send and flush of the producer the plumbing gives."""

    def __init__(self) -> None:
        self.sent: list[dict] = []

    def send(self, topic, value, key=None, headers=None, partition=None):
        self.sent.append(dict(topic=topic, value=value, key=key, headers=headers, partition=partition))
        return Sent().success(None)

    def flush(self, timeout=None) -> None:
        pass


RECORDS = [
    (2, f"{T},view,1,2,a.b,acme,1.00,3,s-1".encode()),
    (3, f' {T},view,1,2,a.b,"Apple, Inc",1.00,3,s-1 \t'.encode()),
    (5, b"   "),
    (9, f"{T},cart,1,2,a.b,caf".encode() + b"\xe9,1.00,3,s-\xff2"),
    (10, f"{T},purchase,1,2,a.b,café,1.00,3,".encode()),
    (12, f"{T},view,1,2,a.b,acme,1.00,3,s-1".encode()),
]


@check(points=2, hint="One kafka.send per record, in order, with the record's bytes untouched as the value, "
                      "record_key(raw) and headers(source, line) of the line number you are given; no partition; "
                      "count what you sent.")
def send_records_sends_each_record_once_as_it_is(ctx: Context) -> None:
    kafka = FakeProducer()
    returned = ctx.student.send_records(kafka, "lab.events.raw", (record for record in RECORDS), "mine.csv")
    sent = kafka.sent
    assert len(sent) == len(RECORDS), f"send_records called kafka.send {len(sent)} times for {len(RECORDS)} records"
    for (line, raw), message in zip(RECORDS, sent):
        assert message["topic"] == "lab.events.raw", f"sent to topic {message['topic']!r}, not the topic given"
        assert message["value"] == raw, (
            f"line {line}: the value sent was {message['value']!r}, the record is {raw!r}: send the bytes as they are")
        key = ctx.student.record_key(raw)
        assert message["key"] == key, (
            f"the record of line {line} was sent with the key {message['key']!r}, but record_key gives {key!r}")
        wanted = as_list(ctx.student.headers("mine.csv", line))
        assert as_list(message["headers"]) == wanted, (
            f"the record of line {line} was sent with the headers {message['headers']!r}, expected "
            f"headers('mine.csv', {line}) = {wanted!r}")
        assert message["partition"] is None, (
            f"the record of line {line} was sent to partition {message['partition']!r}: leave the partition "
            f"to the producer")
    assert type(returned) is int and returned == len(RECORDS), (
        f"send_records returned {returned!r} after sending {len(RECORDS)} records")


# ---------------------------------------------------------------------------------------------------
# The plumbing's producer with your send_records, on the real broker.

SOURCE = "lab02.csv"
EXTRA = [  # hand-written records mixed into a generated file
    f" {T},view,1,2,a.b,acme,1.00,3,lab02-lead".encode(),
    f'{T},view,5,2,electronics.smartphone,"Café, Ltd",12.00,4,lab02-ünïcode'.encode(),
    f"{T},cart,5,2,a.b,caf".encode() + b"\xe9,12.00,4,lab02-\xfflatin1",
    b"   ",
    f"{T},view,6,2,a.b,acme,3.00,5,".encode(),
    f"{T},view,6,2,a.b,acme,3.00,5,lab02-trail \t".encode(),
    f'{T},purchase,6,2,a.b,acme,3.00,5,"lab02 ""q"""'.encode(),
]
_runs: dict[str, tuple] = {}


def produced(ctx: Context):
    """Produce a file of tricky records with `produce` (2 processes, as `lab pipeline produce` does), once per
    run: (the file's records {line: bytes}, the stats, the topic's messages, its partition count)."""
    namespace, topic = ctx.settings.namespace, ctx.settings.raw_topic
    if namespace not in _runs:
        admin = KafkaAdminClient(bootstrap_servers=ctx.settings.kafka_bootstrap)
        try:
            leftover = topic in admin.list_topics()
        finally:
            admin.close()
        assert not leftover, (f"the topic {topic} exists already: the check that sends the file first did not "
                              f"finish (did it run out of time?); fix that one first")
        source = ctx.dataset(rows=2000).read_bytes().split(b"\n")
        header, rows = source[0], [row for row in source[1:] if row]
        out = [header]
        for number, row in enumerate(rows):
            if number < len(EXTRA):
                out.append(EXTRA[number])
            if number % 500 == 250:
                out.append(b"")  # a blank line: not a record, but it has a line number
            out.append(row + b"\r" if 600 <= number < 700 else row)  # some CRLF line ends
        path = ctx.tmp / SOURCE
        path.write_bytes(b"\n".join(out) + b"\n")
        try:
            stats = produce.produce(ctx.settings, path, progress=False, processes=2)
            messages, partitions = readback.topic_records(ctx.settings, topic), topics.PARTITIONS
        except Exception as error:  # noqa: BLE001 - kept for the next check (a worker process's error unwrapped)
            _runs[namespace] = (error.__cause__ if isinstance(error, RuntimeError) and error.__cause__ else error,)
        else:
            _runs[namespace] = (readback.file_lines(path), stats, messages, partitions)
    run = _runs[namespace]
    if isinstance(run[0], BaseException):
        raise run[0]
    return run


@check(points=2, hint="Each record must arrive once, its value the file's bytes exactly, with the headers of its own "
                      "line. Send with the producer you are given (not one of your own): it knows which records are "
                      "this process's share. Look at a few with kafka-console-consumer.sh (README step 4).",
       timeout=90, services=("kafka",))
def every_record_reaches_the_topic_once_byte_for_byte(ctx: Context) -> None:
    lines, stats, messages, _ = produced(ctx)
    assert len(messages) == len(lines), (
        f"the topic holds {len(messages)} messages for the file's {len(lines)} records: send each record once")
    assert stats.records == len(lines), (
        f"the producer you were given sent {stats.records} records of {len(lines)}: send them with kafka.send")
    seen: Counter = Counter()
    for message in messages:
        got = dict(message.headers or ()).get("line") or b""
        line = int(got) if got.isdigit() else None
        wanted = [("source", SOURCE.encode()), ("line", str(line).encode())]
        assert line in lines and as_list(message.headers) == wanted, (
            f"a message (partition {message.partition}, offset {message.offset}) has the headers "
            f"{message.headers!r}; expected the file name and the line number of a record, like "
            f"{[('source', SOURCE.encode()), ('line', b'17')]!r}")
        seen[line] += 1
        assert message.value == lines[line], (
            f"the record of line {line} {lines[line]!r} arrived as {message.value!r}: send its bytes as they are")
    twice = sorted(line for line, count in seen.items() if count > 1)
    assert not twice, f"the records of lines {twice[:5]} arrived more than once, others never"


@check(points=2, hint="Every event of a session needs the same key, and the producer must choose its partition from "
                      "that key: then one partition holds the whole session, in the file's order.",
       timeout=60, services=("kafka",))
def a_session_stays_in_one_partition_in_file_order(ctx: Context) -> None:
    lines, _, messages, partitions = produced(ctx)
    records = set(lines.values())
    by_key: dict[bytes, list] = defaultdict(list)
    for message in sorted(messages, key=lambda m: (m.partition, m.offset)):
        if message.value not in records:
            continue  # a changed value: the check above tells
        wanted = expected_key(message.value)
        assert message.key == wanted, (
            f"the record {message.value!r} arrived with the key {message.key!r}, expected {wanted!r}")
        by_key[wanted].append(message)
    in_file: dict[bytes, list] = defaultdict(list)
    for line in sorted(lines):
        in_file[expected_key(lines[line])].append(lines[line])
    for key, got in by_key.items():
        where = sorted({message.partition for message in got})
        assert len(where) == 1, f"the {len(got)} events of the key {key!r} are spread over the partitions {where}"
        chosen = (murmur2(key) & 0x7FFFFFFF) % partitions
        assert where == [chosen], (
            f"the key {key!r} is in partition {where[0]}, but Kafka's partitioner puts it in {chosen}: leave the "
            f"partition to the producer")
        values = [message.value for message in got]
        if sorted(values) == sorted(in_file[key]):  # (records lost, doubled or changed fail the check above)
            assert values == in_file[key], (
                f"the {len(got)} events of the key {key!r} are in partition {where[0]} in another order than in "
                f"the file")
