"""Hidden checks of lab 07 (grading only, never shipped to students): your aggregates on the valid events of the
grader's own generated dataset (the reference contract's) plus events with ids and prices the public examples do
not have, compared with the reference aggregates; your puts on totals too large for a float.

Like the public checks, the Spark one runs with a local time zone of UTC+05:45 (this process and Spark's
Python workers), so a minute taken from local time shows whatever the machine's time zone.
"""

from __future__ import annotations

from decimal import Decimal

from pyspark.sql import Row
from pyspark.sql import functions as F

from labctl.checking import Context, check, local_time_zone
from pipeline import contract, realtime
from pipeline.store import COLUMNS, MINUTE_PRODUCT, PRODUCT, TOTAL, TOTAL_KEY, VALUES

AWAY_FROM_UTC = "Asia/Kathmandu"
COLUMN_NAMES = ("table", "row_key", *VALUES)
ROWS = 1500  # not the public checks' 600 or 1000: another dataset of the grader's seed

# Distinct valid events the generator never makes: product ids of 2^31 and more (an int holds less than
# 2^31), a price whose cents a float loses, the last second of a month and a leap day.
EDGE_EVENTS = [
    ("2019-10-31 23:59:59", "view", 9223372036854775807, "1.00"),
    ("2019-10-31 23:59:00", "purchase", 2147483648, "99999999999999999.99"),
    ("2019-10-31 23:59:30", "purchase", 2147483648, "0.01"),
    ("2019-10-31 23:59:31", "cart", 4294967301, "3.00"),
    ("2020-02-29 00:00:00", "purchase", 5, "0.10"),
    ("2020-02-29 00:00:00", "remove_from_cart", 4294967301, "3.00"),
]


def totals(frame, what: str) -> dict[tuple[str, str], tuple]:
    """{(table, row_key): (view, cart, remove_from_cart, purchase, revenue)} of an aggregates DataFrame."""
    missing = [name for name in COLUMN_NAMES if name not in frame.columns]
    assert not missing, f"{what} returned the columns {frame.columns}; missing {missing}"
    rows: dict[tuple[str, str], tuple] = {}
    for row in frame.select(*COLUMN_NAMES).collect():
        key = (row.table, row.row_key)
        assert key not in rows, f"{what} returned two rows for {key!r}"
        rows[key] = tuple(row[name] for name in VALUES)
    return rows


@check(points=2, spark=True, timeout=90,
       hint="Your totals must hold for every event the contract allows, whose ids are longs up to 2^63-1 and "
            "prices decimals of up to 36 digits: keep Spark's long and decimal types from the event to the row key "
            "and the sum.")
def aggregates_of_another_dataset_match_the_reference(ctx: Context) -> None:
    with open(ctx.dataset(rows=ROWS), "rb") as csv:
        records = [raw for _, raw in contract.read_records(csv)]
    seen, events = set(), []  # the distinct valid events, by the reference contract (as the stream gives them)
    for raw in records:
        event = contract.validate(contract.decode(raw))
        if isinstance(event, contract.Event) and event.row_id not in seen:
            seen.add(event.row_id)
            events.append((event.event_time, event.event_type, event.product_id, str(event.price), event.row_id))
    events += [(t, kind, product, price, f"e{number:031x}")
               for number, (t, kind, product, price) in enumerate(EDGE_EVENTS)]
    with local_time_zone(AWAY_FROM_UTC, ctx.spark):
        frame = ctx.spark.createDataFrame(
            events, "event_time string, event_type string, product_id long, price string, row_id string",
        ).select(F.to_timestamp("event_time").alias("event_time"), "event_type", "product_id",
                 F.col("price").cast("decimal(38,2)").alias("price"), "row_id")
        got = totals(ctx.student.aggregates(frame), "aggregates")
        wanted = totals(realtime.aggregates(frame), "the reference")
    extra, missing = sorted(set(got) - set(wanted)), sorted(set(wanted) - set(got))
    assert not extra and not missing, (
        f"aggregates of {ROWS} generated and {len(EDGE_EVENTS)} more events gave rows for keys that should not "
        f"be there {extra[:3]} and none for {missing[:3]} ({len(got)} rows, expected {len(wanted)})")
    for key in sorted(wanted):
        for name, value, expected in zip(VALUES, got[key], wanted[key]):
            assert value == expected and type(value) is type(expected), (
                f"aggregates of {ROWS} generated and {len(EDGE_EVENTS)} more events: {key!r} has {name} = "
                f"{value!r}, expected {expected!r}")


def row(table: str, key: str, view: int, cart: int, remove: int, purchase: int, revenue: str) -> Row:
    return Row(table=table, row_key=key, view=view, cart=cart, remove_from_cart=remove, purchase=purchase,
               revenue=Decimal(revenue))


@check(points=1, hint="A float holds about 16 significant digits: write the revenue from the Decimal itself and the "
                      "counts and ids as the integers they are.")
def puts_keep_every_digit_of_large_totals(ctx: Context) -> None:
    big, huge = "12345678901234567.89", "999999999999999999999999999999999999.99"  # decimal(38,2) holds the second
    rows = [row(PRODUCT, "9223372036854775807", 10**12, 0, 0, 3, big),
            row(TOTAL, TOTAL_KEY, 0, 0, 0, 1, huge),
            row(MINUTE_PRODUCT, "202002290000|9223372036854775807", 1, 0, 0, 1, big)]
    wanted = [
        (PRODUCT, b"9223372036854775807",
         {COLUMNS[name]: text for name, text in zip(VALUES, (b"1000000000000", b"0", b"0", b"3", big.encode()))}),
        (TOTAL, TOTAL_KEY.encode(),
         {COLUMNS[name]: text for name, text in zip(VALUES, (b"0", b"0", b"0", b"1", huge.encode()))}),
        (MINUTE_PRODUCT, b"202002290000", {b"p:9223372036854775807": b"1 0 0 1 " + big.encode()}),
    ]
    got = list(ctx.student.puts(iter(rows)))
    assert len(got) == len(wanted), f"puts gave {len(got)} puts for {len(rows)} rows"
    for put, expected in zip(got, wanted):
        assert put == expected, f"puts gave {put!r}; expected {expected!r}"
    empty = list(ctx.student.puts(iter([])))
    assert empty == [], f"puts of an empty micro-batch gave {empty!r}; expected no puts"
