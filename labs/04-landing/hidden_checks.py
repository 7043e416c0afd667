"""Hidden checks of lab 04 (grading only, never shipped): your ingest_date near midnight UTC under time zones with
daylight saving time, your file names and raw lines on every record of a generated file of another size (offsets,
partitions and timestamps drawn from the run's seed), and your write_file in a directory other files share."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

from hdfs import HdfsError

from labctl.checking import Context, check, local_time_zone
from pipeline.contract import decode, read_records
from pipeline.landing import PART

ROWS = 2700  # not the public checks' size
# POSIX TZ strings (no tz database needed). DST: US Eastern (EST/EDT), Central Europe (CET/CEST), Lord Howe
# (UTC+10:30, +11 in summer: a half-hour shift), Chile (UTC-4, -3 in the southern summer); and the two ends of
# the offsets in use.
ZONES = ("EST5EDT,M3.2.0,M11.1.0", "CET-1CEST,M3.5.0,M10.5.0/3", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
         "<-04>4<-03>,M9.1.6/24,M4.1.6/24", "<+14>-14", "<-12>12")
EPOCH = datetime(1970, 1, 1)


def utc_date(timestamp_ms: int) -> str:
    return (EPOCH + timedelta(milliseconds=timestamp_ms)).isoformat()[:10]


@check(points=2, hint="A fixed correction such as time.timezone is right only outside daylight saving time (an "
                      "hour off in summer, and near midnight that is the day): compute the date in UTC directly.")
def ingest_date_is_utc_in_daylight_saving_time_zones(ctx: Context) -> None:
    days = [datetime(2019, 7, 15), datetime(2019, 1, 15), datetime(2020, 3, 29), datetime(2019, 11, 3),
            datetime(2038, 1, 19), datetime(2099, 12, 31)]
    rng = random.Random(ctx.seed)
    days += [EPOCH + timedelta(days=rng.randrange(1, 47000)) for _ in range(6)]
    stamps = []
    for day in days:
        midnight = int((day - EPOCH).total_seconds()) * 1000
        stamps += [midnight - 3_600_001, midnight - 1, midnight, midnight + 1, midnight + 3_599_999,
                   midnight + rng.randrange(86_400_000)]
    student = ctx.student
    for zone in ZONES:
        with local_time_zone(zone):
            for timestamp_ms in stamps:
                got, wanted = student.ingest_date(timestamp_ms), utc_date(timestamp_ms)
                assert got == wanted, (f"ingest_date({timestamp_ms}) returned {got!r} with the machine's time zone "
                                       f"at {zone}, expected {wanted!r} (the UTC date)")


@check(points=2, hint="Every record of any file gets a name the consumer reads back and a line that keeps it "
                      "exactly: check yours on a file of your own with odd characters and large offsets.")
def names_and_lines_of_every_record_of_a_generated_file(ctx: Context) -> None:
    rng = random.Random(ctx.seed)
    with ctx.dataset(rows=ROWS).open("rb") as stream:
        records = list(read_records(stream))
    records += [(None, raw) for raw in (
        " ".encode(), "\x00\x1f\x7f\t".encode(), "\u2028\u2029\x85 next".encode(), "🛒 in the cart".encode(),
        b"\xed\xa0\x80 surrogate bytes", b'\\"quoted\\" \\\\ \\n', b"mid\rrecord")]
    student = ctx.student
    names = []
    offset = rng.randrange(10 ** 11)
    for number, (line, raw) in enumerate(records):
        partition = rng.choice((0, 1, 2, 9, 10, 99, 100, 999))
        offset += rng.choice((1, 1, 1, 7, 9_999_999))
        timestamp_ms = rng.randrange(1, 4_102_444_800_000)
        source = None if line is None else rng.choice(("events.csv", "données 2019.csv"))
        call = f"raw_line({raw!r}, {source!r}, {line!r}, {partition}, {offset}, {timestamp_ms})"
        text = student.raw_line(raw, source, line, partition, offset, timestamp_ms)
        assert isinstance(text, str) and "\n" not in text and "\r" not in text, f"{call} returned {text!r}"
        try:
            value = json.loads(text)
        except ValueError:
            raise AssertionError(f"{call} returned {text!r}, which is not JSON") from None
        wanted = {"raw": decode(raw), "source": source, "line": line, "partition": partition, "offset": offset,
                  "timestamp_ms": timestamp_ms}
        assert isinstance(value, dict) and value == wanted and all(
            type(value[k]) is type(v) for k, v in wanted.items()), f"{call} returned {text!r}, expected {wanted!r}"
        if number % 97 == 0:
            last = offset + rng.choice((0, 1, 999, 10 ** 12 - 1 - offset))
            name = student.file_name(partition, offset, last)
            match = PART.match(name) if isinstance(name, str) else None
            assert match and tuple(int(g) for g in match.groups()) == (partition, offset, last), (
                f"file_name({partition}, {offset}, {last}) returned {name!r}, which the consumer cannot read back")
            names.append(((partition, offset, last), name))
    in_order = [args for args, _ in sorted(names, key=lambda item: item[1])]
    assert in_order == sorted(args for args, _ in names), (
        f"the file names sort as the (partition, first, last) {in_order[:6]}...: not by partition, then offset")


@check(points=1, hint="Another partition's writer shares the day's directory: write_file writes and renames its "
                      "own file only, and leaves every other file, landed or being written, as it was.",
       services=("namenode", "datanode"))
def write_file_leaves_the_other_files_of_its_directory_alone(ctx: Context) -> None:
    client = ctx.settings.webhdfs()
    directory = f"{ctx.settings.hdfs_root}/lab04-hidden/ingest_date=2019-10-03"
    others = {"part-000-000000000000-000000000009.jsonl": b'{"landed": "by partition 0"}\n',
              ".part-001-000000000020-000000000029.jsonl.tmp": b'{"being written": "by partition 1"}\n',
              "part-002-000000000000-000000000004.jsonl": b'{"landed": "by partition 2, offsets 0-4"}\n'}
    for name, data in others.items():
        client.write(f"{directory}/{name}", data=data, overwrite=True)
    name = "part-002-000000000005-000000000007.jsonl"
    data = "".join(json.dumps({"raw": f"record {i} ë", "offset": i}, ensure_ascii=False) + "\n"
                   for i in range(5, 8)).encode()
    try:
        ctx.student.write_file(client, directory, name, data)
    except HdfsError as error:
        raise AssertionError(f"write_file(client, '.../ingest_date=2019-10-03', {name!r}, data) beside other files "
                             f"failed: {' '.join(str(error).split())[:200]}") from None
    listed = set(client.list(directory)) if client.status(directory, strict=False) else set()
    assert listed == {*others, name}, (
        f"after write_file of {name}, the directory holds {sorted(listed)}; expected the three other files and "
        f"{name}, nothing else")
    for other, content in [*others.items(), (name, data)]:
        with client.read(f"{directory}/{other}") as reader:
            got = reader.read()
        assert got == content, f"after write_file of {name}, {other} holds {got[:80]!r}, expected {content[:80]!r}"
