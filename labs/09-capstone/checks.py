"""Public checks of lab 09 (`lab check 09`): your whole pipeline (the functions of labs 01-08) on a generated
file, end to end, then through three failures: the HBase sink crashing between its writes and its commit,
the HDFS landing crashing in the middle of a file, the stream restarted from its checkpoint.

Every expectation comes from the generated files and their manifests (the generator, replayed with a manifest's
arguments, says which of its records are valid and which event each one is), or from the raw topic read back
from its beginning: never from your code.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import hdfs
from kafka import KafkaConsumer, TopicPartition

from datasets.catalogue import build_catalogue
from datasets.clock import Clock
from datasets.defects import DefectInjector
from datasets.generator import HEADER
from datasets.manifest import manifest_path
from datasets.sessions import clean_lines
from labctl.checking import Context, check
from pipeline import contract, hbase_sink, landing, produce, realtime, seams, store, topics
from pipeline import run as pipeline_run
from pipeline.readback import file_lines, hbase_row_count, topic_records

ROWS = 2000  # the generated file of the end-to-end run
# Appended to it: three different events of one user in one second (a key or a deduplication that leaves out
# the row id merges them), then the third again, written differently (the same event: one row id).
EXTRA = [
    "2019-10-04 12:00:00 UTC,view,1001,2053013555631882655,electronics.smartphone,apple,100.00,9000000001,cap-1",
    "2019-10-04 12:00:00 UTC,cart,1001,2053013555631882655,electronics.smartphone,apple,100.00,9000000001,cap-1",
    "2019-10-04 12:00:00 UTC,purchase,1001,2053013555631882655,electronics.smartphone,apple,100.00,9000000001,cap-1",
    "2019-10-04 12:00:00, Purchase ,01001,2053013555631882655,Electronics.Smartphone,Apple,100,9000000001,cap-1",
]
# The event each EXTRA record is (an id of this file's own, its type and price): the last is the third again.
EXTRA_EVENTS = [("capstone-1", "view", Decimal("100.00")), ("capstone-2", "cart", Decimal("100.00")),
                ("capstone-3", "purchase", Decimal("100.00")), ("capstone-3", "purchase", Decimal("100.00"))]
DRILL_ROWS = 1000  # the file produced for the drills, on top of it
IDLE_S = 6  # a consumer run stops after this long without a record
FIRST_IDLE_S = 20  # the run that crashes: it ends at its first write, once the group has let it in
STACK = ("kafka", "hbase", "hdfs")
# The time limit of a check that reads the end-to-end run: the first makes it, and so does any run on its own
# (`lab verify` runs a mutant's checks alone).
RUN_S = 300
TYPES = contract.EVENT_TYPES


# ---------------------------------------------------------------------------------------------------
# The truth: what the generator wrote (the student's own contract runs in their pipeline)

# A record's verdict: the event it is (an id: its normalised line as the generator wrote it, its type, its
# price), or None for a record the contract rejects.
Verdict = tuple[str, str, Decimal] | None


def generated_verdicts(path: Path) -> dict[bytes, Verdict]:
    """The verdict of each record of a generated file: the generator replayed with its manifest's arguments
    (the clean lines, then the defects it put in them), checked against the manifest's SHA-256."""
    manifest = json.loads(manifest_path(path).read_text())
    args = manifest["args"]
    rows, seed = args["rows"], args["seed"]
    injector = DefectInjector(seed, args["defect_rate"])
    lines = clean_lines(build_catalogue(seed), Clock(date.fromisoformat(args["start"]), args["days"]), rows, seed)
    digest = hashlib.sha256((",".join(HEADER) + "\n").encode())
    verdicts: dict[bytes, Verdict] = {}
    written = 0
    for line in lines:
        if written >= rows:
            break
        hit = injector.apply(line, rows - written) if injector.due() else None
        text, count, keys = (line, 1, (line,)) if hit is None else hit  # keys: the clean events, none if rejected
        digest.update(text.encode())
        written += count
        for record, key in zip(text[:-1].split("\n"), keys or (None,) * count):
            fields = next(csv.reader([key[:-1]])) if key is not None else None
            verdicts[record.encode()] = None if fields is None else (
                key, fields[1], Decimal(fields[6]).quantize(Decimal("0.01")))
    lines.close()
    if digest.hexdigest() != manifest["sha256"]:
        raise RuntimeError(f"lab 09's checks could not replay the generator of {path}: please report it")
    return verdicts


_verdicts: dict[str, dict[bytes, Verdict]] = {}


def verdicts(ctx: Context) -> dict[bytes, Verdict]:
    """The verdict of every record the checks produce: the generated files' (the run's and the drills') and EXTRA."""
    namespace = ctx.settings.namespace
    if namespace not in _verdicts:
        known = generated_verdicts(ctx.dataset(rows=ROWS)) | generated_verdicts(ctx.dataset(rows=DRILL_ROWS))
        _verdicts[namespace] = known | {line.encode(): event for line, event in zip(EXTRA, EXTRA_EVENTS)}
    return _verdicts[namespace]


@dataclass
class Truth:
    """What a set of raw records holds: how many, and the distinct valid events by their id."""

    records: int = 0
    valid: int = 0
    events: dict[str, tuple[str, Decimal]] = field(default_factory=dict)
    unknown: int = 0  # records that are no line of the files the checks produce

    def add(self, raw: bytes, known: dict[bytes, Verdict]) -> None:
        self.records += 1
        if raw not in known:
            self.unknown += 1
            return
        verdict = known[raw]
        if verdict is not None:
            self.valid += 1
            event, kind, price = verdict
            self.events[event] = (kind, price)

    @property
    def by_type(self) -> dict[str, int]:
        counts = Counter(kind for kind, _ in self.events.values())
        return {kind: counts[kind] for kind in TYPES}

    @property
    def revenue(self) -> Decimal:
        return sum((price for kind, price in self.events.values() if kind == "purchase"), Decimal("0.00"))

    @classmethod
    def of_file(cls, ctx: Context, path: Path) -> Truth:
        truth, known = cls(), verdicts(ctx)
        for raw in file_lines(path).values():
            truth.add(raw, known)
        expected = json.loads(manifest_path(path).read_text())["expected"]
        if truth.unknown or (truth.records, truth.valid, len(truth.events)) != (
                expected["input_records"], expected["valid"], expected["clean_events"]):
            raise RuntimeError(f"lab 09's checks misread their own dataset {path} ({truth.records} records, "
                               f"{truth.unknown} unknown, {truth.valid} valid, {len(truth.events)} distinct; its "
                               f"manifest says {expected}): please report it")
        return truth

    @classmethod
    def of_topic(cls, ctx: Context) -> tuple[Truth, set[tuple[int, int]]]:
        """The truth of every record of the namespace's raw topic, and their (partition, offset)s."""
        truth, positions, known = cls(), set(), verdicts(ctx)
        for record in topic_records(ctx.settings, ctx.settings.raw_topic):
            truth.add(record.value, known)
            positions.add((record.partition, record.offset))
        return truth, positions

    def known(self) -> Truth:
        """This truth, once sure that every record is one the checks produced."""
        assert not self.unknown, (
            f"the raw topic holds {self.unknown} records (of {self.records}) that are no line of the files "
            f"produced: your producer (lab 02) must send each line's bytes unchanged")
        return self


# ---------------------------------------------------------------------------------------------------
# Reading back what the stages wrote


def topic_size(ctx: Context) -> int:
    """The records in the raw topic of the check's namespace (0 before it exists)."""
    consumer = KafkaConsumer(bootstrap_servers=ctx.settings.kafka_bootstrap)
    try:
        if ctx.settings.raw_topic not in consumer.topics():
            return 0
        partitions = consumer.partitions_for_topic(ctx.settings.raw_topic) or set()
        return sum(consumer.end_offsets([TopicPartition(ctx.settings.raw_topic, p) for p in partitions]).values())
    finally:
        consumer.close()


def purchase_rows(ctx: Context) -> int:
    connection = ctx.settings.hbase()
    try:
        if ctx.settings.purchase_table.encode() not in connection.tables():
            return 0
        table = connection.table(ctx.settings.purchase_table)
        return sum(1 for _ in table.scan(filter=b"KeyOnlyFilter()", batch_size=5000))
    finally:
        connection.close()


@dataclass
class RawZone:
    """The raw zone's visible files (not starting with . or _) and their lines."""

    files: list[str]
    lines: list[dict]
    broken: list[str]  # "<file> line <n>" of each line that is not a JSON object

    @classmethod
    def read(cls, ctx: Context) -> RawZone:
        client, zone = ctx.settings.webhdfs(), ctx.settings.raw_zone
        files, lines, broken = [], [], []
        if client.status(zone, strict=False) is None:
            return cls(files, lines, broken)
        for day in client.list(zone):
            for name in client.list(f"{zone}/{day}"):
                if name.startswith((".", "_")):
                    continue
                files.append(f"{day}/{name}")
                with client.read(f"{zone}/{day}/{name}") as reader:
                    content = reader.read().decode("utf-8", errors="replace")
                for number, text in enumerate(content.splitlines(), start=1):
                    try:
                        value = json.loads(text)
                    except ValueError:
                        value = None
                    if isinstance(value, dict):
                        lines.append(value)
                    else:
                        broken.append(f"{day}/{name} line {number}")
        return cls(files, lines, broken)


def compare_positions(zone: RawZone, wanted: set[tuple[int, int]], when: str) -> None:
    """Each (partition, offset) of ``wanted`` landed once, no other, and every line is whole."""
    counts = Counter((r.get("partition"), r.get("offset")) for r in zone.lines)
    doubled = sum(n - 1 for n in counts.values() if n > 1)
    missing = wanted - counts.keys()
    extra = counts.keys() - wanted
    problems = [text for count, text in (
        (len(missing), f"{len(missing)} records missing (e.g. partition, offset {min(missing, default=None)})"),
        (doubled, f"{doubled} landed twice"), (len(extra), f"{len(extra)} unknown"),
        (len(zone.broken), f"{len(zone.broken)} partial lines (e.g. {(zone.broken or [''])[0]})")) if count]
    assert not problems, (f"{when}, the raw zone holds {len(zone.lines)} whole lines for the topic's {len(wanted)} "
                          f"records: {', '.join(problems)}")


def compare_live(got: dict, truth: Truth, what: str) -> None:
    by_type, revenue = truth.by_type, truth.revenue
    assert got["events_by_type"] == by_type, (
        f"{what}: the real-time totals count {got['events_by_type']} events by type; the records produced hold "
        f"{by_type} distinct valid events")
    assert got["revenue"] == revenue, (
        f"{what}: the real-time revenue is {got['revenue']}; the distinct purchases produced add up to {revenue}")


# ---------------------------------------------------------------------------------------------------
# The end-to-end run (once per check run), and the drills' file on top of it


_runs: dict[str, tuple[Path, dict] | BaseException] = {}
_drills: dict[str, Truth] = {}


def capstone_file(ctx: Context) -> Path:
    """The generated file with EXTRA appended, and its manifest, whose expected counts include them."""
    generated = ctx.dataset(rows=ROWS)
    path = ctx.tmp / "capstone.csv"
    data = generated.read_bytes()
    path.write_bytes(data + (b"" if data.endswith(b"\n") else b"\n") + "".join(f"{r}\n" for r in EXTRA).encode())
    manifest = json.loads(manifest_path(generated).read_text())
    expected = manifest["expected"]
    for name, more in (("input_records", 4), ("valid", 4), ("duplicates_removed", 1), ("clean_events", 3)):
        expected[name] += more
    manifest_path(path).write_text(json.dumps(manifest, indent=2))
    return path


def whole_run(ctx: Context) -> tuple[Path, dict]:
    """The run's file pushed through `pipeline.run.run` with your functions: (the file, the summary)."""
    namespace = ctx.settings.namespace
    if namespace not in _runs:
        if topic_size(ctx):
            raise RuntimeError("the end-to-end run of the first check did not finish; that check says why")
        path = capstone_file(ctx)
        try:
            with no_empty_batches(ctx) as spark:
                report = pipeline_run.run(ctx.settings, path, progress=False, spark=spark)
        except BaseException as error:
            unfinished = seams.unfinished(error)  # also from a stage's worker process: the function missing
            if unfinished is None:
                _runs[namespace] = error
                raise
            _runs[namespace] = seams.StudentCodeError(unfinished)
            raise _runs[namespace] from None
        _runs[namespace] = (path, report.summary)
    outcome = _runs[namespace]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def drill_file(ctx: Context) -> None:
    """A second generated file produced (with your producer) into the namespace's raw topic, once."""
    namespace = ctx.settings.namespace
    if namespace not in _drills:
        path = ctx.dataset(rows=DRILL_ROWS)
        truth = Truth.of_file(ctx, path)
        if topic_size(ctx) < ROWS + len(EXTRA) + truth.records:
            produce.produce(ctx.settings, path, progress=False)
        _drills[namespace] = truth


@contextmanager
def no_empty_batches(ctx: Context) -> Iterator:
    """ctx.spark without the stream's micro-batches that only move the watermark (they write nothing here: the
    aggregation has no time key; each takes seconds)."""
    spark, name = ctx.spark, "spark.sql.streaming.noDataMicroBatches.enabled"
    before = spark.conf.get(name, None)
    spark.conf.set(name, "false")
    try:
        yield spark
    finally:
        spark.conf.unset(name) if before is None else spark.conf.set(name, before)


class Crash(BaseException):
    """A crash the checks simulate (a BaseException, so that an `except Exception` does not swallow it)."""


@contextmanager
def crash_at_first_commit() -> Iterator[list]:
    """The stages' first offset commit crashes instead, after the writes that precede it."""
    original, crashed = topics.commit, []

    def commit(consumer, offsets) -> None:
        crashed.append(offsets)
        raise Crash("the sink crashed before its commit")

    topics.commit = commit
    try:
        yield crashed
    finally:
        topics.commit = original


@contextmanager
def crash_in_first_write() -> Iterator[list]:
    """The first WebHDFS write of bytes or text writes half of them, then crashes."""
    original, crashed = hdfs.client.Client.write, []

    def write(self, hdfs_path, data=None, *args, **kwargs):
        if not crashed and isinstance(data, (bytes, str)) and len(data) > 1:
            crashed.append(hdfs_path)
            original(self, hdfs_path, data[: len(data) // 2], *args, **kwargs)
            raise Crash(f"the landing crashed while writing {hdfs_path}")
        return original(self, hdfs_path, data, *args, **kwargs)

    hdfs.client.Client.write = write
    try:
        yield crashed
    finally:
        hdfs.client.Client.write = original


# ---------------------------------------------------------------------------------------------------
# The whole pipeline, end to end


@check(points=2, spark=True, timeout=RUN_S, services=STACK,
       hint="Run `lab pipeline --mine --namespace $USER run` on your own file (README step 2) and compare its "
            "quality counts with the manifest's `expected`: the first count that differs names the stage to look at.")
def the_whole_pipeline_counts_what_the_manifest_expects(ctx: Context) -> None:
    path, summary = whole_run(ctx)
    expected = json.loads(manifest_path(path).read_text())["expected"]
    quality = summary.get("quality", {})
    for name in ("input_records", "valid", "rejected", "duplicates_removed", "clean_events"):
        assert quality.get(name) == expected[name], (
            f"the summary of your run says {name} = {quality.get(name)!r}; the file's manifest expects "
            f"{expected[name]!r}")


@check(points=1, spark=True, timeout=RUN_S, services=STACK,
       hint="Every distinct valid event is one row of the events table: fewer rows means two events share a key, "
            "more means one event got two keys (labs 01 and 03). Count them: `echo \"count '${USER}_events'\" | "
            "hbase shell -n`.")
def hbase_holds_each_clean_event_once(ctx: Context) -> None:
    path, _ = whole_run(ctx)
    truth = Truth.of_file(ctx, path)
    rows, purchases = hbase_row_count(ctx.settings), purchase_rows(ctx)
    wanted = sum(1 for kind, _ in truth.events.values() if kind == "purchase")
    assert rows == len(truth.events), (
        f"after your run the events table holds {rows} rows; the file has {len(truth.events)} distinct valid events")
    assert purchases == wanted, (
        f"after your run the purchases table holds {purchases} rows; the file has {wanted} distinct purchases")


@check(points=1, spark=True, timeout=RUN_S, services=STACK,
       hint="The raw zone keeps every record of the topic once, in whole files (lab 04). Count its lines with "
            "`hdfs dfs -cat '/ecommerce/'$USER'/raw/*/*.jsonl' | wc -l` (README step 2).")
def the_raw_zone_holds_each_record_once(ctx: Context) -> None:
    path, _ = whole_run(ctx)
    zone = RawZone.read(ctx)
    lines = file_lines(path)
    assert not zone.broken, f"the raw zone holds lines that are not whole JSON objects, e.g. {zone.broken[0]}"
    counts = Counter((r.get("source"), r.get("line")) for r in zone.lines)
    wanted = Counter((path.name, line) for line in lines)
    extra, missing = counts - wanted, wanted - counts
    problems = [text for count, text in (
        (missing, f"{sum(missing.values())} missing (e.g. line {min(missing, default=(None, None))[1]})"),
        (extra, f"{sum(extra.values())} doubled or unknown (e.g. source, line {next(iter(extra), None)})")) if count]
    assert not problems, (f"the raw zone holds {len(zone.lines)} lines for the file's {len(lines)} records: "
                          f"{', '.join(problems)}")


@check(points=2, spark=True, timeout=RUN_S, services=STACK,
       hint="Both sides count the distinct valid events: the real-time total row (lab 07, `get '${USER}_rt_total', "
            "'all'` in the HBase shell) and the batch kpis (lab 06, in your summary) must give the same counts per "
            "type and the same revenue, the sum of the purchases' prices.")
def the_live_totals_agree_with_the_batch_kpis(ctx: Context) -> None:
    path, summary = whole_run(ctx)
    truth = Truth.of_file(ctx, path)
    kpis = summary.get("kpis", {})
    live = store.totals(ctx.settings)
    batch_revenue = Decimal(str(kpis.get("revenue"))).quantize(Decimal("0.01")) if kpis.get("revenue") is not None \
        else None
    assert live["events_by_type"] == kpis.get("events_by_type"), (
        f"the real-time totals count {live['events_by_type']} events by type, the batch kpis "
        f"{kpis.get('events_by_type')}; the file's distinct valid events are {truth.by_type}")
    assert live["revenue"] == batch_revenue, (
        f"the real-time revenue is {live['revenue']}, the batch kpis' {batch_revenue}; the file's distinct "
        f"purchases add up to {truth.revenue}")
    compare_live(live, truth, "after your run")


# ---------------------------------------------------------------------------------------------------
# The drills: a second file produced, then each consumer crashes or restarts


@check(points=2, timeout=60, services=STACK,
       hint="A sink that crashes after its HBase writes and before its commit reads those records again when it "
            "restarts: each event must land on its own row again, not on a new one (README drill 1).")
def a_sink_crash_before_its_commit_doubles_nothing(ctx: Context) -> None:
    drill_file(ctx)
    with crash_at_first_commit() as crashed:
        try:
            hbase_sink.run(ctx.settings, idle_timeout_s=FIRST_IDLE_S)
        except Crash:
            pass
    if not crashed:
        raise RuntimeError("the sink found no new record to write: the drill's file was not produced")
    hbase_sink.run(ctx.settings, idle_timeout_s=IDLE_S)
    truth = Truth.of_topic(ctx)[0].known()
    purchases = sum(1 for kind, _ in truth.events.values() if kind == "purchase")
    rows = hbase_row_count(ctx.settings)
    assert rows == len(truth.events), (
        f"after a crash between the writes and the commit, and a restart, the events table holds {rows} rows; the "
        f"topic's {truth.records} records hold {len(truth.events)} distinct valid events")
    got = purchase_rows(ctx)
    assert got == purchases, (
        f"after a crash between the writes and the commit, and a restart, the purchases table holds {got} rows; "
        f"the topic holds {purchases} distinct purchases")


@check(points=2, timeout=60, services=STACK,
       hint="A landing that crashes in the middle of a file must leave nothing that a reader, or the landing's "
            "restart, takes for a whole file: write under a hidden name, then rename (lab 04; README drill 1).")
def a_landing_crash_mid_file_loses_and_doubles_nothing(ctx: Context) -> None:
    drill_file(ctx)
    with crash_in_first_write() as crashed:
        try:
            landing.run(ctx.settings, idle_timeout_s=FIRST_IDLE_S)
        except Crash:
            pass
    if not crashed:
        raise AssertionError("the landing wrote nothing with client.write: write_file must write its bytes with "
                             "the WebHDFS client's write (lab 04)")
    landing.run(ctx.settings, idle_timeout_s=IDLE_S)
    _, positions = Truth.of_topic(ctx)
    compare_positions(RawZone.read(ctx), positions, "after a crash in the middle of a file, and a restart")


@check(points=2, spark=True, timeout=RUN_S, services=STACK,
       hint="A stream restarted from its checkpoint goes on from its saved state and writes the new absolute "
            "totals: a put must not depend on what was written before (lab 07).")
def the_live_totals_survive_a_restart_of_the_stream(ctx: Context) -> None:
    if not topic_size(ctx):  # run on its own: the end-to-end run's stream is the one that restarts
        whole_run(ctx)
    drill_file(ctx)
    with no_empty_batches(ctx) as spark:
        realtime.run(ctx.settings, available_now=True, spark=spark)
    truth = Truth.of_topic(ctx)[0].known()
    compare_live(store.totals(ctx.settings), truth, "after the stream restarted on more records")
