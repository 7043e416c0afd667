"""The producer's reading of the file and its live-demo restamping (no services needed)."""

import time
import tracemalloc

import pytest

from pipeline.contract import MAX_RECORD_BYTES, validate
from pipeline.produce import records_to_send, restamp

pytestmark = pytest.mark.unit

RECORD = b'2019-10-01 00:00:04 UTC,view,1004,2053013555631882655,electronics.smartphone,"a, b",489.07,520,s-1'


def test_restamp_replaces_only_the_event_time():
    before = time.gmtime()
    stamped = restamp(RECORD)
    assert stamped.endswith(RECORD[RECORD.index(b","):])
    event = validate(stamped.decode())
    assert event.event_time[:10] == time.strftime("%Y-%m-%d", before)
    assert event.brand == "a, b" and event.user_session == "s-1"


def test_restamp_leaves_a_record_without_fields_alone():
    assert restamp(b"garbage") == b"garbage"


def test_a_line_far_longer_than_the_limit_is_skipped_and_counted_in_bounded_memory(tmp_path):
    path = tmp_path / "poison.csv"
    chunk = b"x" * (1024 * 1024)
    with path.open("wb") as out:
        out.write(b"header\n" + RECORD + b"\n")
        for _ in range(50):  # a 50 MiB line, written a chunk at a time
            out.write(chunk)
        out.write(b"\n" + RECORD + b"\r\n")
        out.write(b"y" * (MAX_RECORD_BYTES + 1) + b"\n")  # one byte over the limit
        out.write(b"z" * MAX_RECORD_BYTES)  # at the limit, the last line, without a terminator
    del chunk
    skipped = []
    tracemalloc.start()
    try:
        with path.open("rb") as stream:
            sent = [(line, len(raw)) for line, raw in records_to_send(stream, MAX_RECORD_BYTES, skipped.append)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sent == [(2, len(RECORD)), (4, len(RECORD)), (6, MAX_RECORD_BYTES)]
    assert skipped == [3, 5]
    assert peak < 4 * MAX_RECORD_BYTES, f"reading a 50 MiB line peaked at {peak / 2**20:.1f} MiB"

