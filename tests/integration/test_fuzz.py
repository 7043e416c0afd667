"""Bad input: 10,000 fuzzed lines go through produce and both sinks without a crash, every line accounted for."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from pipeline import contract, hbase_sink, landing, produce
from pipeline.readback import file_lines, hbase_row_count, raw_zone, topic_records

pytestmark = pytest.mark.integration

LINES = 10_000
VALID = b"2019-10-01 00:00:01 UTC,view,1004,2053013555631882655,electronics.smartphone,apple,1.50,5000,s-1"
NASTY = [b'"', b'""', b",", b"\r", b"\t", b"\x00", b"\x1b", b"\x7f", b"\xff", b"\xc3", b"\xe2\x82", b"\xef\xbb\xbf",
         b" UTC", b"-", b"9" * 25, "é".encode(), "\u2028".encode(), b"\x1f"]


def fuzzed_line(rng: random.Random) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:  # random bytes
        line = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    elif kind == 1:  # a valid record with bytes spliced in
        line = bytearray(VALID)
        for _ in range(rng.randrange(1, 6)):
            at = rng.randrange(len(line) + 1)
            line[at:at + rng.randrange(3)] = rng.choice(NASTY)
        line = bytes(line)
    elif kind == 2:  # a huge field
        fields = VALID.split(b",")
        fields[rng.randrange(9)] = rng.choice([b"x", b'"', b"1", "ü".encode()]) * rng.randrange(10_000, 200_000)
        line = b",".join(fields)
    elif kind == 3:  # quoting games
        fields = [rng.choice([b'"' + f + b'"', b'"' + f.replace(b"a", b'""') + b'"', f, b'"' + f])
                  for f in VALID.split(b",")]
        line = b",".join(fields)
    else:  # valid, with case and spaces the contract normalises
        fields = VALID.split(b",")
        fields[1] = rng.choice([b" VIEW ", b"Cart", b"purchase\t"])
        fields[7] = str(rng.randrange(1, 10**6)).encode()
        line = b",".join(fields)
    line = line.replace(b"\n", b" ")  # one line is one record
    return line + b"." if line.endswith(b"\r") or not line.strip(b"\r") else line


def test_fuzzed_lines_are_each_valid_or_rejected_with_a_reason(namespace, tmp_path):
    rng = random.Random(4)
    source = tmp_path / "events.csv"
    source.write_bytes(b"\n".join([contract.HEADER.encode(), *(fuzzed_line(rng) for _ in range(LINES))]) + b"\n")
    lines = file_lines(source)
    assert len(lines) == LINES

    assert produce.produce(namespace, source, progress=False).records == LINES
    sink = hbase_sink.run(namespace, idle_timeout_s=3)
    landed = landing.run(namespace, idle_timeout_s=3)
    assert sink.records == landed.records == LINES

    rejected = [json.loads(r.value) for r in topic_records(namespace, namespace.rejected_topic)]
    rejected_lines = {r["line"] for r in rejected}
    assert len(rejected_lines) == len(rejected) == sum(sink.rejected.values())
    assert all(r["reason"] in contract.REASONS for r in rejected)
    for message in rejected:  # the record, or its start when long, with its length and hash
        line = lines[message["line"]]
        text = line.decode("utf-8", errors="replace")
        assert message["raw"] == text[:hbase_sink.RAW_CHARS]
        assert (message["bytes"], message["sha256"]) == (len(line), hashlib.sha256(line).hexdigest())
    assert any(len(r["raw"]) == hbase_sink.RAW_CHARS for r in rejected)  # some were cut
    valid = [contract.validate(contract.decode(raw)) for n, raw in lines.items() if n not in rejected_lines]
    assert all(isinstance(v, contract.Event) for v in valid)
    assert 0 < len(valid) < LINES
    assert hbase_row_count(namespace) == len({v.row_id for v in valid})

    _, records = raw_zone(namespace)
    assert sorted(r["line"] for r in records) == sorted(lines)
    assert all(r["raw"] == lines[r["line"]].decode("utf-8", errors="replace") for r in records)
