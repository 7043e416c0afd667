"""The producer's live-demo restamping (no services needed)."""

import time

import pytest

from pipeline.contract import validate
from pipeline.produce import restamp

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
