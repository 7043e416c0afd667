"""Hidden checks of lab 05 (grading only, never shipped): your clean.py on input columns the public checks do not
use, on events that differ in a single field, on a generated file of another size (no HDFS) and on records of which
none is valid. The truth comes from the given apply_contract and the dataset's manifest."""

from __future__ import annotations

import json
from collections import Counter

from pyspark.sql import functions as F

from datasets.manifest import manifest_path
from labctl.checking import Context, check, public_checks
from pipeline import clean, contract
from pipeline.contract import REASONS

USER = 541312140
FIELDS = {"time": "2019-10-01 14:03:27 UTC", "type": "view", "product": "1004856", "category": "2053013555631882655",
          "code": "electronics.smartphone", "brand": "samsung", "price": "1081.98", "user": str(USER), "session": "s1"}


def record(**changes: str) -> str:
    """A CSV record: the valid view above with some fields changed."""
    return ",".join({**FIELDS, **changes}.values())


def spark(ctx: Context):
    session = ctx.spark
    session.conf.set("spark.sql.shuffle.partitions", "2")  # tiny frames: few tasks
    return session


def problem_with_columns(name: str, got: list[str], wanted: list[str]) -> str | None:
    """What is wrong with the columns ``got`` (any order), else None: the public checks' own words."""
    return public_checks("05").columns_message(name, got, wanted)


# A raw frame of another caller: other input columns, in another order, the record in a column named "text".
OTHER_INPUTS = "kafka_offset long, text string, topic string"
SPLIT_RECORDS = [record(), record(price="12,5"), record(type="purchase", session="x7"), record(user="-3"),
                 record(time="yesterday"), "", record(type="CART", brand="")]


@check(points=2, spark=True, timeout=60,
       hint="Another caller may hand apply_contract other input columns than the clean stage does: derive the "
            "columns to keep from checked.columns and EVENT_COLUMNS instead of naming the input columns.")
def valid_and_rejected_records_split_any_input_columns(ctx: Context) -> None:
    rows = [(7000 + n, text, "shop.events") for n, text in enumerate(SPLIT_RECORDS)]
    checked = clean.apply_contract(spark(ctx).createDataFrame(rows, OTHER_INPUTS), column="text")
    valid = ctx.student.valid_events(checked)
    problem = problem_with_columns("valid_events (input columns kafka_offset, text, topic)", valid.columns,
                                   list(clean.EVENT_COLUMNS))
    assert problem is None, problem
    kinds = sorted(row["event_type"] for row in valid.collect())
    assert kinds == ["cart", "purchase", "view"], (
        f"valid_events kept events of the types {kinds} from 7 records of which 3 are valid (a view, a purchase, "
        f"a cart)")
    rejected = ctx.student.rejected_records(checked)
    problem = problem_with_columns("rejected_records (input columns kafka_offset, text, topic)", rejected.columns,
                                   ["reason", "kafka_offset", "text", "topic"])
    assert problem is None, problem
    got = sorted((row["kafka_offset"], row["reason"], row["text"], row["topic"]) for row in rejected.collect())
    wanted = [(7001, "bad_field_count", SPLIT_RECORDS[1], "shop.events"),
              (7003, "bad_id", SPLIT_RECORDS[3], "shop.events"),
              (7004, "bad_event_time", SPLIT_RECORDS[4], "shop.events"),
              (7005, "bad_field_count", "", "shop.events")]
    assert got == wanted, f"rejected_records returned (kafka_offset, reason, text, topic) {got}, expected {wanted}"


# Events of one user in one second that differ from the first in a single field: all different events. Then copies.
ONE_FIELD_APART = {
    "the first view": record(),
    "another category_id": record(category="2053013555631882656"),
    "another category_code": record(code="electronics.audio.headphone"),
    "another brand": record(brand="apple"),
    "no brand": record(brand=""),
    "another price": record(price="999.00"),
    "one second later": record(time="2019-10-01 14:03:28 UTC"),
    "no session": record(session=""),
    "no session, another price": record(session="", price="5.00"),
}
COPIES = [record(), record(time=" 2019-10-01 14:03:27", type="View", brand="SAMSUNG", price="1081.98 "),
          record(session=""), record(session="", price="05.0")]


@check(points=2, spark=True, timeout=60,
       hint="Two events are the same only when every normalised field is the same, which is what one column stands "
            "for; deduplicating on a few chosen columns merges events that differ in another one (a price, a brand).")
def events_that_differ_in_one_field_all_stay(ctx: Context) -> None:
    records = list(ONE_FIELD_APART.values()) + COPIES
    checked = clean.apply_contract(spark(ctx).createDataFrame([(text,) for text in records], "raw string")).persist()
    try:
        events = checked.where("reason IS NULL").select(*clean.EVENT_COLUMNS)
        label = {text: name for name, text in ONE_FIELD_APART.items()}
        ids = {row["row_id"]: label[row["raw"]] for row in checked.select("raw", "row_id").collect()
               if row["raw"] in label}
        got = ctx.student.deduplicate(events)
        assert got.columns == events.columns, f"deduplicate changed the columns {events.columns} into {got.columns}"
        kept = Counter(row["row_id"] for row in got.collect())
    finally:
        checked.unpersist()
    lost = sorted(label for row_id, label in ids.items() if kept[row_id] == 0)
    twice = sorted(ids.get(row_id, row_id) for row_id, n in kept.items() if n > 1)
    assert not lost, (f"deduplicate of {len(records)} events of user {USER} at 2019-10-01 14:03:27 "
                      f"({len(ONE_FIELD_APART)} different ones, each differing from the first in one field, and "
                      f"{len(COPIES)} copies) lost: {lost}")
    assert not twice, f"deduplicate kept these events more than once: {twice}"
    assert sum(kept.values()) == len(ONE_FIELD_APART), f"deduplicate returned {sum(kept.values())} rows, expected 9"


@check(points=2, spark=True, timeout=90,
       hint="Run `lab pipeline --mine --namespace $USER clean` on a dataset of another size and seed "
            "(`lab data generate`) and compare each count with the expected block of its manifest.")
def clean_functions_on_another_generated_file_give_its_manifest_counts(ctx: Context) -> None:
    path = ctx.dataset(rows=3000)
    wanted = json.loads(manifest_path(path).read_text())["expected"]
    with open(path, "rb") as stream:
        rows = [(contract.decode(raw), path.name, line) for line, raw in contract.read_records(stream)]
    session = spark(ctx)
    checked = clean.apply_contract(session.createDataFrame(rows, "raw string, source string, line long")).persist()
    try:
        student = ctx.student
        events = student.deduplicate(student.valid_events(checked))
        got = student.quality_counts(checked, events)
        assert isinstance(got, dict), f"quality_counts returned a {type(got).__name__}, expected a dict"
        wrong = {key: got.get(key) for key in wanted if got.get(key) != wanted[key]}
        assert not wrong, (f"valid_events, deduplicate and quality_counts counted {wrong} on a generated file of "
                           f"{wanted['input_records']} records; its manifest expects "
                           f"{({key: wanted[key] for key in wrong})}")
        rows_kept, distinct = events.agg(F.count("*"), F.count_distinct("row_id")).first()
        assert rows_kept == distinct == wanted["clean_events"], (
            f"deduplicate(valid_events(...)) returned {rows_kept} rows with {distinct} distinct row ids; the manifest "
            f"expects {wanted['clean_events']} clean events")
        reasons = {row["reason"]: row["count"]
                   for row in student.rejected_records(checked).groupBy("reason").count().collect()}
        expected = {reason: n for reason, n in wanted["rejected"].items() if n}
        assert reasons == expected, f"rejected_records returned {reasons} records per reason; expected {expected}"
    finally:
        checked.unpersist()


@check(points=1, spark=True, timeout=60,
       hint="A batch may hold no valid record at all: then there is no group for a null reason, and valid, "
            "duplicates_removed and clean_events are 0, not an error.")
def quality_counts_of_records_none_of_them_valid(ctx: Context) -> None:
    records = [record(time="2019-02-30 14:03:27"), record(price="free"), record(time="14:03"), "a,b,c"]
    checked = clean.apply_contract(spark(ctx).createDataFrame([(text,) for text in records], "raw string"))
    events = checked.where("reason IS NULL").select(*clean.EVENT_COLUMNS).dropDuplicates(["row_id"])
    got = ctx.student.quality_counts(checked, events)
    wanted = {"input_records": 4, "valid": 0,
              "rejected": dict.fromkeys(REASONS, 0) | {"bad_event_time": 2, "bad_price": 1, "bad_field_count": 1},
              "duplicates_removed": 0, "clean_events": 0}
    assert got == wanted, f"quality_counts of 4 records, all rejected, returned {got}; expected {wanted}"
    assert all(type(n) is int for n in [got["input_records"], got["valid"], got["duplicates_removed"],
                                        got["clean_events"], *got["rejected"].values()]), (
        f"the counts must be ints: {got}")
