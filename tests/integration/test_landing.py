"""Stage 3 against the running stack: every record lands exactly once, in whole files, whatever was left behind."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pipeline import lag, landing, produce
from pipeline.readback import file_lines, raw_zone
from tests.integration.test_hbase_sink import rewind

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).parents[2] / "datasets" / "sample" / "events.csv"


def assert_landed_exactly_once(lab, lines: dict[int, bytes]) -> list[str]:
    names, landed = raw_zone(lab)
    assert not [n for n in names if n.split("/")[1].startswith((".", "_"))], "temp files left visible"
    assert len({(r["partition"], r["offset"]) for r in landed}) == len(landed)
    assert sorted(r["line"] for r in landed) == sorted(lines)
    for record in landed:
        assert record["raw"] == lines[record["line"]].decode("utf-8", errors="replace")
        assert record["source"] == "events.csv"
    return names


def test_every_record_lands_once_and_files_name_their_offsets(namespace):
    produce.produce(namespace, SAMPLE, progress=False)
    stats = landing.run(namespace, idle_timeout_s=3)
    lines = file_lines(SAMPLE)
    assert stats.records == len(lines)
    names = assert_landed_exactly_once(namespace, lines)
    _, landed = raw_zone(namespace)
    for name in names:
        day, file = name.split("/")
        partition, first, last = (int(part) for part in landing.PART.match(file).groups())
        mine = [r for r in landed if r["partition"] == partition and first <= r["offset"] <= last]
        assert mine and min(r["offset"] for r in mine) == first and max(r["offset"] for r in mine) == last


def test_raw_zone_wins_over_committed_offsets_and_temp_files_are_removed(namespace):
    produce.produce(namespace, SAMPLE, progress=False)
    landing.run(namespace, idle_timeout_s=3)
    client = namespace.webhdfs()
    day = client.list(namespace.raw_zone)[0]
    leftover = f"{namespace.raw_zone}/{day}/.{landing.file_name(0, 0, 99)}.tmp"
    client.write(leftover, data=b'{"partial": ', overwrite=True)

    rewind(namespace, namespace.landing_group)  # as if the commit had been lost
    again = landing.run(namespace, idle_timeout_s=3)
    assert again.records == 0
    assert client.status(leftover, strict=False) is None
    assert not [p for p in lag.consumer_lag(namespace, [namespace.landing_group])[namespace.landing_group] if p.lag]
    assert_landed_exactly_once(namespace, file_lines(SAMPLE))

    produce.produce(namespace, SAMPLE, progress=False)  # new records after a restart land after the old ones
    assert landing.run(namespace, idle_timeout_s=3).records == len(file_lines(SAMPLE))
    _, landed = raw_zone(namespace)
    assert len(landed) == 2 * len(file_lines(SAMPLE))
    assert len({(r["partition"], r["offset"]) for r in landed}) == len(landed)
    for partition in range(3):  # a partition's files tile its offsets without gap or overlap
        ranges = sorted(tuple(int(p) for p in landing.PART.match(n.split("/")[1]).groups()[1:])
                        for n in raw_zone(namespace)[0] if n.split("/")[1].startswith(f"part-{partition:03d}-"))
        assert len(ranges) == 2 and ranges[0][0] == 0 and ranges[1][0] == ranges[0][1] + 1


def safe_mode(superuser: str, action: str) -> None:
    """`hdfs dfsadmin -safemode enter|leave`, as the HDFS superuser (the account the NameNode runs as)."""
    subprocess.run(["hdfs", "dfsadmin", "-safemode", action], env={**os.environ, "HADOOP_USER_NAME": superuser},
                   check=True, capture_output=True, timeout=60)


@pytest.mark.slow
def test_landing_waits_out_hdfs_safe_mode_and_lands_everything_once(namespace, services, caplog):
    """HDFS in safe mode mid-ingest (as after a restart): landing tries its write again, says so in one line
    once HDFS takes writes again, and every record lands exactly once."""
    caplog.set_level(logging.WARNING, logger="pipeline.landing")
    lines = file_lines(SAMPLE)
    with ThreadPoolExecutor(1) as pool:
        superuser = services["namenode"].user
        safe_mode(superuser, "enter")
        try:
            stats = pool.submit(landing.run, namespace, idle_timeout_s=20)
            produce.produce(namespace, SAMPLE, progress=False)
            time.sleep(10)  # the first flush, after 5 s, is refused
        finally:
            safe_mode(superuser, "leave")
        assert stats.result(timeout=300).records == len(lines)
    assert_landed_exactly_once(namespace, lines)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("HDFS refused a write" in m and "safe mode" in m and "landed it after" in m for m in messages) == 1, \
        messages
