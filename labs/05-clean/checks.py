"""Public checks of lab 05 (`lab check 05`): your clean.py on small DataFrames, then the clean stage on a whole
generated file in HDFS."""

from __future__ import annotations

import json
from collections import Counter

from datasets.manifest import manifest_path
from labctl.checking import Context, check
from pipeline import clean, landing
from pipeline.contract import MAX_RECORD_BYTES, REASONS

# The input columns of a raw frame: those the clean stage reads, and one more of any name.
INPUT_SCHEMA = ("raw string, source string, line long, partition long, offset long, timestamp_ms long, "
                "ingest_date string")
USER, OTHER_USER = 541312140, 512475445
FIELDS = {"time": "2019-10-01 14:03:27 UTC", "type": "view", "product": "1004856", "category": "2053013555631882655",
          "code": "electronics.smartphone", "brand": "samsung", "price": "1081.98", "user": str(USER), "session": "s1"}


def record(**changes: str) -> str:
    """A CSV record: the valid view above with some fields changed."""
    return ",".join({**FIELDS, **changes}.values())


VIEW = record()
# The same event written differently (spacing, case, quoting, leading zeros, no " UTC"): one row id.
VIEW_AGAIN = (' 2019-10-01 14:03:27 ,VIEW,01004856,2053013555631882655,Electronics.Smartphone,"SAMSUNG",1081.98,'
              '541312140,s1')
CART = record(type="cart")
OTHER_PRODUCT = record(product="1005100")
OTHER_SESSION = record(session="s2")
OTHER_USERS_VIEW = record(user=str(OTHER_USER), session="s9")
REJECTED = {
    "record_too_large": record(session="s" * MAX_RECORD_BYTES),
    "bad_field_count": VIEW.rsplit(",", 1)[0],
    "bad_event_time": record(time="2019-02-30 14:03:27"),
    "bad_event_type": record(type="click"),
    "bad_id": record(user="0"),
    "bad_price": record(price="free"),
}


def spark(ctx: Context):
    session = ctx.spark
    session.conf.set("spark.sql.shuffle.partitions", "2")  # tiny frames: few tasks
    return session


def raw_rows(records: list[str]) -> list[tuple]:
    """The input rows of ``records``: line numbers from 2, offsets from 100."""
    return [(text, "events.csv", line, 0, 98 + line, 1569938607000, "2019-10-01")
            for line, text in enumerate(records, start=2)]


def checked(ctx: Context, records: list[str]):
    """apply_contract (given) over a raw frame holding ``records``."""
    return clean.apply_contract(spark(ctx).createDataFrame(raw_rows(records), INPUT_SCHEMA))


def events(ctx: Context, records: list[str]):
    """The valid records of ``records`` as event columns (written here, not with your valid_events)."""
    return checked(ctx, records).where("reason IS NULL").select(*clean.EVENT_COLUMNS)


def who(row) -> tuple:
    """What tells the test events apart: (user, type, product, session)."""
    return row["user_id"], row["event_type"], row["product_id"], row["user_session"]


def columns_message(name: str, got: list[str], wanted: list[str]) -> str | None:
    """What is wrong with the columns ``got`` (any order), else None."""
    extra, missing = [c for c in got if c not in wanted], [c for c in wanted if c not in got]
    if extra:
        return f"{name} returned {len(got)} columns, with {extra} that do not belong there"
    if missing:
        return f"{name} returned the columns {got}, without {missing}"
    if len(got) != len(wanted):
        return f"{name} returned a column twice: {got}"
    return None


@check(points=2, spark=True, timeout=60,
       hint="In SQL, reason = NULL is never true: test for null with a null test. Then choose the columns: the clean "
            "table holds events, not the records they came from (EVENT_COLUMNS lists them).")
def valid_events_are_the_valid_records_as_event_columns(ctx: Context) -> None:
    records = [VIEW, *REJECTED.values(), VIEW_AGAIN, CART, "   "]
    got = ctx.student.valid_events(checked(ctx, records))
    problem = columns_message("valid_events", got.columns, list(clean.EVENT_COLUMNS))
    assert problem is None, problem
    rows = Counter(who(row) for row in got.collect())
    wanted = Counter({(USER, "view", 1004856, "s1"): 2, (USER, "cart", 1004856, "s1"): 1})
    assert rows == wanted, (f"valid_events kept {sum(rows.values())} rows of 3 valid records among {len(records)} "
                            f"(user, type, product, session: {dict(rows)}); expected {dict(wanted)}")


@check(points=2, spark=True, timeout=60,
       hint="The quarantine must let someone find and fix the source line: keep the reason and every column the "
            "raw frame had, whatever their names (compare checked.columns with EVENT_COLUMNS), and no event column.")
def rejected_records_keep_the_reason_and_every_input_column(ctx: Context) -> None:
    records = [VIEW, *REJECTED.values(), CART, REJECTED["bad_price"]]
    inputs = [part.split()[0] for part in INPUT_SCHEMA.split(", ")]
    got = ctx.student.rejected_records(checked(ctx, records))
    problem = columns_message("rejected_records", got.columns, ["reason", *inputs])
    assert problem is None, problem
    collected = got.collect()
    rows = sorted((row["line"], row["reason"]) for row in collected)
    wanted = sorted((line, reason) for line, reason in zip(range(2, 2 + len(records)),
                                                           [None, *REJECTED, None, "bad_price"]) if reason)
    assert rows == wanted, f"rejected_records kept (line, reason) {rows}, expected {wanted}"
    for row in collected:
        wanted_row = raw_rows(records)[row["line"] - 2]
        got_row = tuple(row[name] for name in inputs)
        assert got_row == wanted_row, (
            f"rejected record of line {row['line']} has inputs {got_row}, expected {wanted_row}")


@check(points=1, spark=True, timeout=60,
       hint="Which column says that two records are the same event? The contract defines one: every spelling of "
            "an event, and every copy of it, has the same one.")
def the_same_event_three_times_is_kept_once(ctx: Context) -> None:
    given = events(ctx, [VIEW, VIEW_AGAIN, VIEW, OTHER_USERS_VIEW])
    got = ctx.student.deduplicate(given)
    assert got.columns == given.columns, f"deduplicate changed the columns {given.columns} into {got.columns}"
    rows = Counter(who(row) for row in got.collect())
    wanted = Counter({(USER, "view", 1004856, "s1"): 1, (OTHER_USER, "view", 1004856, "s9"): 1})
    assert rows == wanted, (f"deduplicate of one event written 3 times and another event kept "
                            f"(user, type, product, session) {dict(rows)}; expected each once")


@check(points=2, spark=True, timeout=60,
       hint="A user can view a product, put it in the cart and view another in the same second: those are "
            "different events. Deduplicate on what identifies an event, not on who did something when.")
def different_events_of_one_user_in_one_second_all_stay(ctx: Context) -> None:
    records = [VIEW, CART, OTHER_PRODUCT, OTHER_SESSION, OTHER_USERS_VIEW]
    got = ctx.student.deduplicate(events(ctx, records))
    rows = Counter(who(row) for row in got.collect())
    wanted = Counter({(USER, "view", 1004856, "s1"): 1, (USER, "cart", 1004856, "s1"): 1,
                      (USER, "view", 1005100, "s1"): 1, (USER, "view", 1004856, "s2"): 1,
                      (OTHER_USER, "view", 1004856, "s9"): 1})
    lost = sorted(wanted - rows)
    assert not lost, (f"deduplicate dropped {len(lost)} of 5 different events at 2019-10-01 14:03:27 "
                      f"(user, type, product, session): {lost}")
    assert rows == wanted, f"deduplicate returned {dict(rows)}; expected each of the 5 events once"


def counts(ctx: Context, records: list[str]) -> dict:
    """Your quality_counts of ``records`` with their clean events (deduplicated here), checked to be JSON."""
    frame = checked(ctx, records)
    clean_events = frame.where("reason IS NULL").select(*clean.EVENT_COLUMNS).dropDuplicates(["row_id"])
    got = ctx.student.quality_counts(frame, clean_events)
    assert isinstance(got, dict), f"quality_counts returned a {type(got).__name__}, expected a dict"
    try:
        json.dumps(got)
    except TypeError as error:
        raise AssertionError(f"quality_counts returned something JSON cannot hold: {error}") from None
    return got


@check(points=1, spark=True, timeout=60,
       hint="Every reason of the contract belongs in rejected, also those no record broke: start from REASONS, "
            "not from the reasons your grouping found.")
def quality_counts_name_every_reason_with_zeros(ctx: Context) -> None:
    records = [VIEW, VIEW_AGAIN, CART, REJECTED["bad_event_type"], REJECTED["bad_event_type"], REJECTED["bad_price"]]
    wanted = {"record_too_large": 0, "bad_field_count": 0, "bad_event_time": 0, "bad_event_type": 2, "bad_id": 0,
              "bad_price": 1}
    got = counts(ctx, records).get("rejected")
    assert got == wanted, f"quality_counts(...)['rejected'] is {got}, expected {wanted}"
    assert all(type(n) is int for n in got.values()), f"the counts must be ints: {got}"


@check(points=2, spark=True, timeout=60,
       hint="input_records counts every record, valid or rejected; duplicates are removed from the valid records "
            "only, so duplicates_removed compares the valid records with the clean rows.")
def quality_counts_add_up(ctx: Context) -> None:
    records = [VIEW, VIEW_AGAIN, VIEW, CART, *REJECTED.values(), REJECTED["bad_event_type"]]
    wanted = {"input_records": 11, "valid": 4, "rejected": dict.fromkeys(REASONS, 1) | {"bad_event_type": 2},
              "duplicates_removed": 2, "clean_events": 2}
    got = counts(ctx, records)
    for key in ("input_records", "valid", "duplicates_removed", "clean_events"):
        assert got.get(key) == wanted[key] and type(got.get(key)) is int, (
            f"quality_counts gave {key} = {got.get(key)!r} for 11 records (4 valid, 2 clean events, 7 rejected); "
            f"expected {wanted[key]}")
    assert got == wanted, f"quality_counts returned {got}, expected {wanted}"


@check(points=2, spark=True, timeout=150, services=("namenode", "datanode"),
       hint="Run `lab pipeline --mine --namespace $USER clean` on your own raw zone and compare the counts it prints "
            "with the expected block of your dataset's manifest.")
def clean_run_on_a_generated_file_gives_its_manifest_counts(ctx: Context) -> None:
    path = ctx.dataset(rows=2000)
    wanted = json.loads(manifest_path(path).read_text())["expected"]
    settings = ctx.settings
    settings.webhdfs().delete(settings.hdfs_root, recursive=True)  # what an interrupted run may have left
    landing.land_csv(settings, path)
    try:
        got = clean.run(settings, spark=spark(ctx))
    except Exception as error:
        if "UNABLE_TO_INFER_SCHEMA" in str(error):  # no Parquet file to read back
            raise AssertionError("the clean stage wrote no clean event: your valid_events or deduplicate "
                                 "returned no row for a file of valid records") from None
        raise
    wrong = {key: got.get(key) for key in wanted if got.get(key) != wanted[key]}
    assert not wrong, (f"the clean stage with your functions counted {wrong} on {wanted['input_records']} generated "
                       f"records; the manifest expects {({key: wanted[key] for key in wrong})}")
    session = spark(ctx)
    table = session.read.parquet(settings.hdfs_uri(settings.clean_zone))
    rows, distinct = table.count(), table.select("row_id").distinct().count()
    assert rows == distinct == wanted["clean_events"], (
        f"the clean Parquet holds {rows} rows with {distinct} distinct row ids; "
        f"expected {wanted['clean_events']} of each")
    quarantine = session.read.parquet(settings.hdfs_uri(f"{settings.quarantine_zone}/records"))
    reasons = {row["reason"]: row["count"] for row in quarantine.groupBy("reason").count().collect()}
    rejected = {reason: n for reason, n in wanted["rejected"].items() if n}
    assert reasons == rejected, f"the quarantine holds {reasons} records per reason; expected {rejected}"
