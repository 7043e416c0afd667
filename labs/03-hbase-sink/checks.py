"""Public checks of lab 03 (`lab check 03`): your keys and cell on events built by hand, then your sink on the
stack: a generated file produced into Kafka, your sink run over it twice, its rows read back with HBase scans."""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from dataclasses import dataclass
from decimal import Decimal

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, OffsetSpec

import datasets
from datasets.manifest import manifest_path
from labctl.checking import Context, check, local_time_zone
from pipeline import contract, hbase_sink, produce
from pipeline.contract import Event
from pipeline.readback import hbase_row_count

STACK = ("kafka", "hbase-thrift")
ROWS = 2000  # records of the generated file the stack checks produce
IDLE_S = 5  # the sink stops after this long without a record
# POSIX TZ strings (no tz database needed): UTC+05:45 and UTC-03:30. The key functions run under both, so a
# local-time conversion shows whatever the time zone of the machine.
ZONES = ("NPT-5:45", "NST3:30")


# ---------------------------------------------------------------------------------------------------
# Events built by hand, with this file's own row id (docs/data-contract.md, "Row id").


def own_row_id(nine: list[str]) -> str:
    return hashlib.sha256("\x1f".join(nine).encode()).hexdigest()[:32]


def event(user_id: int = 17, at: str = "2019-10-01 23:30:05", product_id: int = 42, event_type: str = "view",
          price: str = "7.50", brand: str | None = "apple", code: str | None = "electronics.smartphone",
          session: str | None = "s1", category_id: int = 2053013555631882655) -> Event:
    """A normalised event, derived columns and row id included."""
    category, _, subcategory = (code or "").partition(".")
    nine = [at, event_type, str(product_id), str(category_id), code or "", brand or "", price, str(user_id),
            session or ""]
    return Event(event_time=at, event_type=event_type, product_id=product_id, category_id=category_id,
                 category_code=code, brand=brand, price=Decimal(price), user_id=user_id, user_session=session,
                 event_date=at[:10], event_hour=int(at[11:13]), category=category or None,
                 subcategory=subcategory or None, row_id=own_row_id(nine))


def digits(at: str) -> str:
    """"2019-10-01 23:30:05" -> "20191001233005"."""
    return re.sub("[^0-9]", "", at)


def key_of(function, e: Event) -> bytes:
    """``function(e)``, which must be bytes, the same on every call and the same in every time zone of ZONES."""
    keys = []
    for zone in (ZONES[0], *ZONES):
        with local_time_zone(zone):
            key = function(e)
        assert isinstance(key, bytes), (
            f"{function.__name__}(event) returned a {type(key).__name__}; HBase keys are bytes: encode the text")
        keys.append(key)
    assert keys[0] == keys[1], (
        f"{function.__name__} of one event returned {keys[0]!r}, then {keys[1]!r}: a re-delivered event must land "
        f"on its own row, so nothing in the key may be random or the time of writing")
    assert keys[1] == keys[2], (
        f"{function.__name__} of the event at {e.event_time} UTC returned {keys[1]!r} with the local time zone "
        f"at UTC+05:45 and {keys[2]!r} at UTC-03:30: the event time is UTC text, do not convert it")
    return keys[0]


# ---------------------------------------------------------------------------------------------------
# Keys and cell, on events built by hand


@check(points=2, hint="The key is three parts joined by '|': the user id padded with zeros to 19 digits, the "
                      "event time's digits (its UTC text, no time-zone conversion), the row id.")
def row_key_is_the_padded_user_the_utc_time_and_the_row_id(ctx: Context) -> None:
    for e in (event(user_id=5, at="2019-10-01 00:32:58"), event(user_id=546256476, at="2019-12-31 23:59:59"),
              event(user_id=9223372036854775807, at="2020-02-29 05:00:00")):
        got = key_of(ctx.student.row_key, e)
        wanted = f"{e.user_id:019d}|{digits(e.event_time)}|{e.row_id}".encode()
        assert got == wanted, (
            f"row_key of user {e.user_id}'s event at {e.event_time} returned {got!r}, expected {wanted!r}")


@check(points=1, hint="HBase compares keys byte by byte: without zero-padding, user 5's rows sort after user "
                      "500's; the time part must sort like the time itself.")
def keys_sort_by_user_then_time(ctx: Context) -> None:
    users = (5, 49, 50, 500, 10300224, 243350551, 9223372036854775807)
    times = ("2019-09-30 23:59:59", "2019-10-01 00:00:00", "2019-10-01 09:59:59", "2019-10-01 10:00:00",
             "2019-11-02 08:15:00")
    events = [event(user_id=u, at=t, product_id=i) for i, (u, t) in enumerate((u, t) for u in users for t in times)]
    random.Random(3).shuffle(events)
    by_key = {key_of(ctx.student.row_key, e): e for e in events}
    assert len(by_key) == len(events), f"{len(events)} different events got only {len(by_key)} different keys"
    in_key_order = [by_key[k] for k in sorted(by_key)]
    wanted = sorted(events, key=lambda e: (e.user_id, e.event_time))
    for position, (got, expected) in enumerate(zip(in_key_order, wanted)):
        assert got is expected, (
            f"sorting the keys puts user {got.user_id} at {got.event_time} at position {position + 1}, where "
            f"user {expected.user_id} at {expected.event_time} belongs (users in id order, each in time order)")
    for user in users:
        prefix = f"{user:019d}|".encode()
        found = sorted(by_key[k].event_time for k in by_key if k.startswith(prefix))
        assert found == sorted(times), (
            f"the prefix {prefix!r} matches {len(found)} keys, expected user {user}'s {len(times)} and no other's")


@check(points=1, hint="Two events of one user in the same second are different events: something in the key "
                      "must tell them apart, and it must come from the event.")
def two_events_in_the_same_second_keep_two_rows(ctx: Context) -> None:
    first = event(user_id=17, at="2019-10-01 10:00:00", product_id=42)
    second = event(user_id=17, at="2019-10-01 10:00:00", product_id=43, event_type="cart")
    a, b = key_of(ctx.student.row_key, first), key_of(ctx.student.row_key, second)
    assert a != b, (f"two different events of user 17 at 2019-10-01 10:00:00 both got the key {a!r}: the second "
                    f"would overwrite the first")
    for e, key in ((first, a), (second, b)):
        assert key.endswith(f"|{e.row_id}".encode()), f"row_key returned {key!r}: it must end with |<row_id>"


@check(points=1, hint="The sink may read a record twice (a crash, an offset reset): every part of the key must be "
                      "a function of the event, nothing random and not the time of writing.")
def the_same_event_always_gets_the_same_key(ctx: Context) -> None:
    e = event(event_type="purchase")
    twin = Event(**e.as_dict())
    for name in ("row_key", "purchase_key"):
        function = getattr(ctx.student, name)
        first = key_of(function, e)
        time.sleep(0.01)
        again, of_twin = key_of(function, e), key_of(function, twin)
        assert first == again == of_twin, (
            f"{name} of one event returned {first!r}, then {again!r}, then {of_twin!r} for an equal copy: a "
            f"re-delivered event would add a row instead of overwriting its own")


@check(points=1, hint="The purchases table's key is the time (the same digits as in row_key) then the row id, "
                      "joined by '|': the latest purchases are then the last rows.")
def purchase_key_is_the_utc_time_then_the_row_id(ctx: Context) -> None:
    events = [event(user_id=u, at=t, event_type="purchase", product_id=i) for i, (u, t) in enumerate((
        (900, "2019-10-01 00:32:58"), (5, "2019-10-01 00:33:00"), (70, "2019-12-31 23:59:59"),
        (5, "2020-01-01 00:00:00")))]
    for e in events:
        got = key_of(ctx.student.purchase_key, e)
        wanted = f"{digits(e.event_time)}|{e.row_id}".encode()
        assert got == wanted, f"purchase_key of the purchase at {e.event_time} returned {got!r}, expected {wanted!r}"


@check(points=2, hint="JSON has no decimal type and a float loses digits (7.50 becomes 7.5, and a float keeps "
                      "about 16 significant digits): the price goes into the cell as text; None is null in JSON.")
def cell_is_the_event_as_json_with_an_exact_price(ctx: Context) -> None:
    cases = (event(price="7.50"),
             event(price="12345678901234567.89", brand=None, code=None, session=None, event_type="purchase"),
             event(price="0.05", brand="möbel", code="furniture", session='s "é"'))
    for e in cases:
        got = ctx.student.cell(e)
        assert isinstance(got, bytes), f"cell(event) returned a {type(got).__name__}; a cell value is bytes"
        try:
            value = json.loads(got.decode("utf-8"))
        except ValueError as error:
            raise AssertionError(f"cell(event) is not UTF-8 JSON ({error}): {got[:120]!r}") from None
        assert isinstance(value, dict), f"cell(event) holds a JSON {type(value).__name__}, expected an object"
        wanted = {**e.as_dict(), "price": str(e.price)}
        missing, extra = wanted.keys() - value.keys(), value.keys() - wanted.keys()
        assert not missing and not extra, (
            f"the cell's fields differ from the event's: missing {sorted(missing)}, unexpected {sorted(extra)}")
        for name, expected in wanted.items():
            assert value[name] == expected and type(value[name]) is type(expected), (
                f"in the cell of an event with price {e.price}, {name} is {value[name]!r}, expected {expected!r}")


# ---------------------------------------------------------------------------------------------------
# The stack: the generated file through the reference producer and your sink, read back with scans


@dataclass
class Truth:
    """What the generated file holds: its records, and its distinct events by row id."""

    records: int
    events: dict[str, dict]

    @classmethod
    def read(cls, path) -> Truth:
        """The truth comes from the generator, not from a contract (lab 01 is someone's work too): the file is
        generated without defects, so every line is a valid event already in its normalised form (nine plain
        fields, the time with " UTC"), its row id own_row_id of its fields; the manifest confirms the counts."""
        records, events = 0, {}
        with path.open("rb") as stream:
            for number, raw in contract.read_records(stream):
                records += 1
                nine = contract.decode(raw).split(",")
                if len(nine) != 9 or not nine[0].endswith(" UTC"):
                    raise RuntimeError(f"lab 03's checks misread line {number} of their own dataset {path}: "
                                       f"please report it")
                nine[0] = nine[0].removesuffix(" UTC")
                row_id = own_row_id(nine)
                events[row_id] = {"event_time": nine[0], "event_type": nine[1], "user_id": int(nine[7]),
                                  "row_id": row_id}
        expected = json.loads(manifest_path(path).read_text())["expected"]
        if (records, records, len(events)) != (expected["input_records"], expected["valid"], expected["clean_events"]):
            raise RuntimeError(f"lab 03's checks misread their own dataset {path} ({records} records, {len(events)} "
                               f"distinct; its manifest says {expected}): please report it")
        return cls(records, events)


def clean_dataset(ctx: Context):
    """The run's generated file of ROWS lines, without defects (the same seed as ctx.dataset)."""
    path = ctx.tmp / "events.csv"
    datasets.generate(path, rows=ROWS, seed=ctx.seed, defect_rate=0)
    return path


_runs: dict[str, Truth | BaseException] = {}


def topic_size(ctx: Context) -> int:
    """The records in the raw topic of the check's namespace (0 before it exists)."""
    consumer = KafkaConsumer(bootstrap_servers=ctx.settings.kafka_bootstrap)
    try:
        if ctx.settings.raw_topic not in consumer.topics():
            return 0
        partitions = consumer.partitions_for_topic(ctx.settings.raw_topic) or set()
        ends = consumer.end_offsets([TopicPartition(ctx.settings.raw_topic, p) for p in partitions])
        return sum(ends.values())
    finally:
        consumer.close()


def sunk(ctx: Context) -> Truth:
    """The run's dataset produced into the check's namespace and your sink run over it, once per run."""
    namespace = ctx.settings.namespace
    if namespace not in _runs:
        path = clean_dataset(ctx)
        truth = Truth.read(path)
        if topic_size(ctx) < truth.records:  # a new worker, after a timeout, may find it produced
            produce.produce(ctx.settings, path, progress=False)
        try:
            stats = hbase_sink.run(ctx.settings, idle_timeout_s=IDLE_S)
            unwritable = stats.rejected.get(hbase_sink.UNWRITABLE)
            assert not unwritable, (f"the sink could not write {unwritable:,} events with your row_key, purchase_key "
                                    f"and cell; the first error: {stats.first_unwritable}")
        except BaseException as error:
            _runs[namespace] = error
            raise
        _runs[namespace] = truth
    outcome = _runs[namespace]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def scan_keys(ctx: Context, table: str, **scan) -> list[bytes]:
    connection = ctx.settings.hbase()
    try:
        return [key for key, _ in connection.table(table).scan(filter=b"KeyOnlyFilter()", **scan)]
    finally:
        connection.close()


@check(points=2, hint="Scan one user's prefix in the HBase shell (README step 5): the prefix is the user id padded "
                      "to 19 digits and '|'; the rows under it must be that user's events, oldest first.",
       timeout=60, services=STACK)
def a_prefix_scan_returns_one_users_events_in_time_order(ctx: Context) -> None:
    truth = sunk(ctx)
    rows = hbase_row_count(ctx.settings)
    assert rows == len(truth.events), (
        f"your sink wrote {rows} rows to the events table for a file of {len(truth.events)} distinct valid events")
    by_user: dict[int, dict[str, dict]] = {}
    for row_id, e in truth.events.items():
        by_user.setdefault(e["user_id"], {})[row_id] = e
    ranked = sorted(by_user, key=lambda u: -len(by_user[u]))
    for user in dict.fromkeys([*ranked[:3], min(by_user), max(by_user)]):
        prefix = f"{user:019d}|"
        keys = scan_keys(ctx, ctx.settings.events_table, row_prefix=prefix.encode())
        mine = by_user[user]
        assert len(keys) == len(mine), (
            f"the prefix scan {prefix!r} returned {len(keys)} rows; user {user} has {len(mine)} distinct valid events")
        times = []
        for key in keys:
            row_id = key.decode("utf-8", errors="replace").rsplit("|", 1)[-1]
            assert row_id in mine, (
                f"the prefix scan {prefix!r} returned the row {key!r}, whose key ends with none of user {user}'s "
                f"row ids")
            times.append(mine[row_id]["event_time"])
        assert times == sorted(times), (
            f"the prefix scan {prefix!r} returned user {user}'s events out of time order: {times[:6]}...")


def rewind(ctx: Context) -> None:
    """Reset the sink's consumer group to the start of the raw topic (it has no member now)."""
    admin = KafkaAdminClient(bootstrap_servers=ctx.settings.kafka_bootstrap)
    try:
        consumer = KafkaConsumer(bootstrap_servers=ctx.settings.kafka_bootstrap)
        try:
            partitions = consumer.partitions_for_topic(ctx.settings.raw_topic) or set()
        finally:
            consumer.close()
        result = admin.reset_group_offsets(ctx.settings.hbase_sink_group,
                                           {TopicPartition(ctx.settings.raw_topic, p): OffsetSpec.EARLIEST
                                            for p in partitions})
        failed = [r["error"] for r in result.values() if r["error"] is not None and r["error"].errno != 0]
        if failed:
            raise RuntimeError(f"could not reset the offsets of {ctx.settings.hbase_sink_group}: {failed[0]}")
    finally:
        admin.close()


@check(points=2, hint="Reading the same records again must write the same keys: if a rerun adds rows, part of "
                      "your key is not a function of the event (a random id, the time of writing).",
       timeout=60, services=STACK)
def running_the_sink_again_adds_no_row(ctx: Context) -> None:
    truth = sunk(ctx)
    purchases = sum(1 for e in truth.events.values() if e["event_type"] == "purchase")
    before = hbase_row_count(ctx.settings), len(scan_keys(ctx, ctx.settings.purchase_table))
    rewind(ctx)
    stats = hbase_sink.run(ctx.settings, idle_timeout_s=IDLE_S)
    if stats.records < truth.records:
        raise RuntimeError(f"the second run read {stats.records} records of {truth.records}: "
                           f"the offsets were not reset")
    after = hbase_row_count(ctx.settings), len(scan_keys(ctx, ctx.settings.purchase_table))
    assert after[0] == before[0] == len(truth.events), (
        f"the events table held {before[0]} rows after the first run and {after[0]} after reading the same "
        f"{truth.records} records again; the file has {len(truth.events)} distinct valid events")
    assert after[1] == before[1] == purchases, (
        f"the purchases table held {before[1]} rows after the first run and {after[1]} after reading the same "
        f"records again; the file has {purchases} distinct purchases")
