"""Public checks of lab 04 (`lab check 04`): your landing.py on chosen timestamps, offsets and records, then
writing files in HDFS, then the whole landing consumer (with your functions) run twice on a produced topic."""

from __future__ import annotations

import json
from collections import Counter
from contextlib import nullcontext
from urllib.parse import unquote, urlsplit

from hdfs import HdfsError, InsecureClient

from labctl.checking import Context, check, local_time_zone
from pipeline import landing, produce
from pipeline.landing import PART
from pipeline.readback import file_lines

# Time zones written the POSIX way (no tz database needed): local time = UTC + 5:45, and UTC - 8.
TIME_ZONES = ("NPT-5:45", "PST+8")

# Kafka timestamps (ms) near midnight UTC, and their UTC dates.
DATES = {
    1569888600000: "2019-10-01",  # 00:10:00 UTC: still 30 September at UTC-8
    1569974399999: "2019-10-01",  # 23:59:59.999 UTC: already 2 October at UTC+5:45, and when rounded up
    1569974400000: "2019-10-02",  # midnight UTC exactly
    1577822400000: "2019-12-31",  # 20:00 UTC: already 2020 at UTC+5:45
    1709249400000: "2024-02-29",  # 23:30 UTC on a leap day
    0: "1970-01-01",
}

RECORD = b"2019-10-01 10:00:00 UTC,view,1,2,a.b,brand,1.00,3,s"
KEYS = ["line", "offset", "partition", "raw", "source", "timestamp_ms"]


def parse_line(text, call: str) -> dict:
    """The JSON object of a raw_line result, checking that it is one line of text."""
    assert isinstance(text, str), f"{call} returned a {type(text).__name__}, expected a str"
    assert "\n" not in text and "\r" not in text, f"{call} returned text with a line break: {text!r}"
    try:
        value = json.loads(text)
    except ValueError:
        raise AssertionError(f"{call} returned {text!r}, which is not JSON") from None
    assert isinstance(value, dict), f"{call} returned {text!r}, expected a JSON object"
    assert sorted(value) == KEYS, f"{call} has the keys {sorted(value)}, expected {KEYS}"
    return value


@check(points=1, hint="A Kafka timestamp counts milliseconds since 1970-01-01 00:00 UTC. The date must be the UTC "
                      "one whatever the machine's time zone (the checks try others); rounding to whole seconds "
                      "can change the day too.")
def ingest_date_is_the_utc_date(ctx: Context) -> None:
    for tz in (None, *TIME_ZONES):
        with local_time_zone(tz) if tz else nullcontext():
            for timestamp_ms, wanted in DATES.items():
                got = ctx.student.ingest_date(timestamp_ms)
                where = f" with the machine's time zone at {tz}" if tz else ""
                assert got == wanted, f"ingest_date({timestamp_ms}) returned {got!r}{where}, expected {wanted!r}"


@check(points=2, hint="Names are compared as text: 'part-0-10' sorts before 'part-0-9', and the consumer finds "
                      "what landed with the PART pattern of pipeline/landing.py. Pad each number to its width.")
def file_names_are_zero_padded_and_sort_in_offset_order(ctx: Context) -> None:
    cases = {(0, 0, 0): "part-000-000000000000-000000000000.jsonl",
             (2, 789, 1577): "part-002-000000000789-000000001577.jsonl",
             (11, 123456789012, 999999999999): "part-011-123456789012-999999999999.jsonl"}
    for args, wanted in cases.items():
        got = ctx.student.file_name(*args)
        assert got == wanted, f"file_name{args} returned {got!r}, expected {wanted!r}"
    runs = [(0, 9), (10, 99), (100, 999), (1000, 1000), (1001, 52000)]
    for partition in (1, 7, 10):
        names = [ctx.student.file_name(partition, first, last) for first, last in runs]
        for name, (first, last) in zip(names, runs):
            match = PART.match(name) if isinstance(name, str) else None
            assert match and tuple(int(group) for group in match.groups()) == (partition, first, last), (
                f"file_name({partition}, {first}, {last}) returned {name!r}, which the consumer cannot read back "
                f"as partition {partition}, offsets {first}..{last}")
        assert sorted(names) == names, f"file names of offsets in order sort as {sorted(names)}"


@check(points=1, hint="Each line is one JSON object with exactly six keys; numbers stay numbers, a missing "
                      "source or line is null, and the line has no line break of its own.")
def raw_line_holds_the_record_and_where_it_came_from(ctx: Context) -> None:
    cases = [((RECORD, "mine.csv", 7, 2, 41, 1569924000123),
              {"raw": RECORD.decode(), "source": "mine.csv", "line": 7, "partition": 2, "offset": 41,
               "timestamp_ms": 1569924000123}),
             ((RECORD, None, None, 0, 0, 0),
              {"raw": RECORD.decode(), "source": None, "line": None, "partition": 0, "offset": 0,
               "timestamp_ms": 0})]
    for args, wanted in cases:
        call = f"raw_line{args!r}"
        got = parse_line(ctx.student.raw_line(*args), call)
        for key, value in wanted.items():
            assert got[key] == value and type(got[key]) is type(value), (
                f"{call} gave {key} = {got[key]!r}, expected {value!r}")


@check(points=2, hint="The raw zone keeps the record as it came: no trimming, no other encoding. Undecodable "
                      "bytes become U+FFFD, as in the data contract; look at a line of a landed file: is 'ë' "
                      "still 'ë'?")
def raw_text_is_kept_as_it_came(ctx: Context) -> None:
    cases = {
        "Citroën 日本 €".encode(): "Citroën 日本 €",
        b'  2019-10-01 10:00:00 UTC,view,1,2,a.b,"say ""hi"", \\o/",1.00,3,s\t ': (
            '  2019-10-01 10:00:00 UTC,view,1,2,a.b,"say ""hi"", \\o/",1.00,3,s\t '),
        b"x,caf\xe9,1.00": "x,caf\ufffd,1.00",
        b"\xe6\x97,\xff\xfe,a\xc3": "\ufffd,\ufffd\ufffd,a\ufffd",
    }
    for raw, wanted in cases.items():
        call = f"raw_line({raw!r}, 'mine.csv', 2, 0, 5, 1569924000123)"
        text = ctx.student.raw_line(raw, "mine.csv", 2, 0, 5, 1569924000123)
        got = parse_line(text, call)["raw"]
        assert got == wanted, f"{call} gave raw = {got!r}, expected {wanted!r}"
        for character in set(wanted) - set(" \t\\\""):
            if ord(character) > 127:
                assert character in text, (
                    f"raw_line wrote {character!r} as an escape sequence; keep non-ASCII characters as they are: "
                    f"{call} returned {text!r}")


class RecordingClient(InsecureClient):
    """A WebHDFS client that notes every operation it sends: (operation, path, destination)."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx.settings.webhdfs_url, user=ctx.settings.hdfs_user)
        self.calls: list[tuple[str, str, str | None]] = []

    def _request(self, method, url, **kwargs):
        params = kwargs.get("params") or {}
        if "op" in params:
            path = unquote(urlsplit(url).path).removeprefix("/webhdfs/v1")
            self.calls.append((str(params["op"]).upper(), path, params.get("destination")))
        return super()._request(method, url, **kwargs)


def short(path: str) -> str:
    """A path of a check's directory without the namespace's part, for messages."""
    return "/".join(path.split("/")[-2:])


def read(client: InsecureClient, path: str) -> bytes | None:
    if client.status(path, strict=False) is None:
        return None
    with client.read(path) as reader:
        return reader.read()


def write(ctx: Context, client: RecordingClient, directory: str, name: str, data: bytes) -> None:
    call = f"write_file(client, '.../{short(directory)}', {name!r}, data)"
    try:
        ctx.student.write_file(client, directory, name, data)
    except HdfsError as error:
        raise AssertionError(f"{call} failed: {' '.join(str(error).split())[:200]}") from None


DATA = ('{"raw": "2019-10-01 10:00:00 UTC,view,1,2,a.b,citroën,1.00,3,s", "source": "mine.csv", "line": 2, '
        '"partition": 0, "offset": 0, "timestamp_ms": 1569924000123}\n'
        '{"raw": "x,caf\ufffd", "source": "mine.csv", "line": 3, "partition": 0, "offset": 1, '
        '"timestamp_ms": 1569924000124}\n').encode()


@check(points=2, hint="Readers must never see half a file: write the bytes under the hidden temp name the "
                      "docstring gives, in the same directory, then rename. An HDFS rename is atomic.",
       services=("namenode", "datanode"))
def write_file_writes_a_hidden_temp_file_then_renames_it(ctx: Context) -> None:
    client = RecordingClient(ctx)
    directory = f"{ctx.settings.hdfs_root}/lab04-writes/ingest_date=2019-10-01"  # a directory that does not exist
    name = "part-001-000000000000-000000000001.jsonl"
    final, temp = f"{directory}/{name}", f"{directory}/.{name}.tmp"
    write(ctx, client, directory, name, DATA)
    written = [path for op, path, _ in client.calls if op in ("CREATE", "APPEND")]
    assert final not in written, f"write_file wrote {name} directly: a reader, or a crash, can see it half written"
    assert temp in written, (f"write_file did not write the hidden .{name}.tmp in the directory; it wrote "
                             f"{[short(path) for path in written]}")
    renames = [(source, destination) for op, source, destination in client.calls if op == "RENAME"]
    shown = [(short(source), short(destination or "")) for source, destination in renames]
    assert (temp, final) in renames, f"write_file did not rename .{name}.tmp to {name}; its renames: {shown}"
    got = read(client, final)
    assert got == DATA, f"{name} holds {got!r}, expected exactly the {len(DATA)} bytes given"
    assert read(client, temp) is None, f".{name}.tmp is still there after write_file"


@check(points=1, hint="A crash can leave a temp file behind with the name your next write needs. What does "
                      "client.write do when the file exists?",
       services=("namenode", "datanode"))
def a_leftover_temp_file_is_overwritten(ctx: Context) -> None:
    client = RecordingClient(ctx)
    directory = f"{ctx.settings.hdfs_root}/lab04-leftover/ingest_date=2019-10-02"
    name = "part-002-000000000100-000000000101.jsonl"
    final, temp = f"{directory}/{name}", f"{directory}/.{name}.tmp"
    client.write(temp, data=b'{"raw": "half a rec', overwrite=True)
    write(ctx, client, directory, name, DATA)
    got = read(client, final)
    assert got == DATA, f"with a leftover .{name}.tmp, {name} holds {got!r}, expected exactly the bytes given"
    assert read(client, temp) is None, f"the leftover .{name}.tmp is still there after write_file"


def raw_zone_files(ctx: Context) -> dict[tuple[str, str], bytes]:
    """{(day directory, file name): content} of every file of the raw zone, hidden ones included."""
    client = ctx.settings.webhdfs()
    zone = ctx.settings.raw_zone
    if client.status(zone, strict=False) is None:
        return {}
    return {(day, name): read(client, f"{zone}/{day}/{name}")
            for day in client.list(zone) for name in client.list(f"{zone}/{day}")}


@check(points=2, hint="The consumer restarts from the offsets it reads back from your file names. Look at "
                      "`hdfs dfs -ls -R` after two runs of `lab pipeline --mine ... ingest --sink hdfs`.",
       timeout=75, services=("kafka", "namenode", "datanode"))
def every_record_lands_exactly_once_across_restarts(ctx: Context) -> None:
    path = ctx.dataset(rows=1500)
    lines = file_lines(path)
    produce.produce(ctx.settings, path, progress=False)
    first = landing.run(ctx.settings, idle_timeout_s=5)
    files = raw_zone_files(ctx)
    hidden = [f"{day}/{name}" for day, name in files if name.startswith((".", "_"))]
    assert not hidden, f"after a run the raw zone still holds {hidden[:3]}"
    landed: list[dict] = []
    for (day, name), content in sorted(files.items()):
        match = PART.match(name)
        assert match, (f"the landed file {day}/{name} is not named part-PPP-FFFFFFFFFFFF-LLLLLLLLLLLL.jsonl: a "
                       "restart cannot find it")
        records = []
        for number, text in enumerate(content.decode("utf-8").split("\n")[:-1], start=1):
            try:
                records.append(json.loads(text))
            except ValueError:
                raise AssertionError(f"line {number} of {day}/{name} is not JSON: {text[:80]!r}") from None
        assert content.endswith(b"\n"), f"{day}/{name} does not end with a line break"
        partition, first_offset, last_offset = (int(group) for group in match.groups())
        offsets = [r.get("offset") for r in records]
        partitions = {r.get("partition") for r in records}
        assert partitions == {partition} and offsets == list(range(first_offset, last_offset + 1)), (
            f"{day}/{name} holds partition {sorted(partitions, key=str)}, offsets {offsets[:3]}...{offsets[-1:]}: "
            "not what its name says")
        landed.extend(records)
    assert first.records == len(lines), f"the first run landed {first.records} records, expected {len(lines)}"
    counts = Counter((r.get("source"), r.get("line")) for r in landed)
    expected = Counter((path.name, line) for line in lines)
    extra, missing = counts - expected, expected - counts
    assert not extra and not missing, (
        f"(source, line) of the landed records: {sum(extra.values())} doubled or unknown (e.g. "
        f"{next(iter(extra), None)}), {sum(missing.values())} missing (e.g. {next(iter(missing), None)})")
    for r in landed:
        wanted = lines[r["line"]].decode("utf-8", errors="replace")
        assert r["raw"] == wanted, f"line {r['line']} landed as {r['raw']!r}, expected {wanted!r}"
    try:
        second = landing.run(ctx.settings, idle_timeout_s=5)
    except HdfsError as error:
        raise AssertionError(f"a second run on the same topic failed: {' '.join(str(error).split())[:200]}") from None
    again = raw_zone_files(ctx)
    assert second.records == 0 and again.keys() == files.keys(), (
        f"a second run on the same topic landed {second.records} records again, in "
        f"{sorted(f'{d}/{n}' for d, n in again.keys() - files.keys())[:3]}")
