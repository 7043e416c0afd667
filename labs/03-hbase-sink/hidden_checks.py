"""Hidden checks of lab 03 (grading only, never shipped): your row_key, purchase_key and cell on every event of a
generated file of another size (the reference contract, pipeline.contract, makes the events), on event times at
the ends of what the contract allows under time zones with daylight saving time, and on extreme field values."""

from __future__ import annotations

import json

from datasets.manifest import manifest_path
from labctl.checking import Context, check, local_time_zone, public_checks
from pipeline import contract as reference
from pipeline.contract import MAX_ID, Event, decode, read_records

ROWS = 3100  # not the public checks' size: the seed differs per student, the size differs from the public run
# POSIX TZ strings (no tz database needed). DST: US Eastern (EST/EDT), Central Europe (CET/CEST), Lord Howe
# (UTC+10:30, +11 in summer: a half-hour shift); and the two ends of the offsets in use.
DST_ZONES = ("EST5EDT,M3.2.0,M11.1.0", "CET-1CEST,M3.5.0,M10.5.0/3", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0")
FAR_ZONES = ("<+14>-14", "<-12>12")


# The public checks' own makers of expected values (written independently of the reference).
own_row_id, event, digits = (getattr(public_checks("03"), name) for name in ("own_row_id", "event", "digits"))


def wanted_row_key(e: Event) -> bytes:
    return f"{e.user_id:019d}|{digits(e.event_time)}|{e.row_id}".encode()


def wanted_purchase_key(e: Event) -> bytes:
    return f"{digits(e.event_time)}|{e.row_id}".encode()


def called(function, e: Event, zone: str) -> bytes:
    with local_time_zone(zone):
        got = function(e)
    assert isinstance(got, bytes), f"{function.__name__}(event) returned a {type(got).__name__}, expected bytes"
    return got


def same_cell(got, e: Event) -> None:
    """Assert that ``got`` is the event as UTF-8 JSON, every field with its exact value and type."""
    assert isinstance(got, bytes), f"cell(event) returned a {type(got).__name__}; a cell value is bytes"
    try:
        value = json.loads(got.decode("utf-8"))
    except ValueError as error:
        raise AssertionError(f"cell(event) of the event {e.row_id} is not UTF-8 JSON ({error}): "
                             f"{got[:120]!r}") from None
    wanted = {**e.as_dict(), "price": str(e.price)}
    assert isinstance(value, dict) and value.keys() == wanted.keys(), (
        f"cell(event) of the event {e.row_id} holds {sorted(value) if isinstance(value, dict) else value!r}, "
        f"expected the fields {sorted(wanted)}")
    for name, expected in wanted.items():
        assert value[name] == expected and type(value[name]) is type(expected), (
            f"in the cell of the {e.event_type} at {e.event_time} (price {e.price}), {name} is {value[name]!r}, "
            f"expected {expected!r}")


# ---------------------------------------------------------------------------------------------------


@check(points=2, hint="Every event the contract lets through gets the same three-part key, whatever its user, "
                      "time or type: build each part from the event's own fields, nothing else.")
def keys_and_cells_of_every_event_of_a_generated_file(ctx: Context) -> None:
    path = ctx.dataset(rows=ROWS)
    events = []
    with path.open("rb") as stream:
        for _, raw in read_records(stream):
            verdict = reference.validate(decode(raw))
            if isinstance(verdict, Event):
                events.append(verdict)
    expected = json.loads(manifest_path(path).read_text())["expected"]
    if len(events) != expected["valid"]:
        raise RuntimeError(f"lab 03's hidden checks misread their dataset ({len(events)} valid events, its "
                           f"manifest says {expected['valid']}): please report it")
    student = ctx.student
    keys: dict[bytes, Event] = {}
    with local_time_zone(FAR_ZONES[0]):
        for e in events:
            got = student.row_key(e)
            assert got == wanted_row_key(e), (
                f"row_key of user {e.user_id}'s {e.event_type} at {e.event_time} UTC returned {got!r}, expected "
                f"{wanted_row_key(e)!r}")
            keys[got] = e
            if e.event_type == "purchase":
                got = student.purchase_key(e)
                assert got == wanted_purchase_key(e), (
                    f"purchase_key of the purchase at {e.event_time} UTC returned {got!r}, expected "
                    f"{wanted_purchase_key(e)!r}")
            same_cell(student.cell(e), e)
    assert len(keys) == expected["clean_events"], (
        f"the {len(events)} valid events of the file, {expected['clean_events']} distinct, got {len(keys)} "
        f"different row keys")


@check(points=2, hint="The contract allows any year from 0001 to 9999 and the event time is already UTC text: a "
                      "round trip through datetime or the local clock can drop a year's leading zeros or move a "
                      "time that daylight saving skips.")
def keys_hold_every_time_the_contract_allows(ctx: Context) -> None:
    times = ("0001-01-01 00:00:00", "0999-12-31 23:59:59", "1000-01-01 00:00:00", "1969-12-31 23:59:59",
             "1970-01-01 00:00:00", "2019-03-10 02:30:00", "2019-03-31 02:30:00", "2019-10-06 02:15:00",
             "2019-10-27 02:30:00", "2019-11-03 01:30:00", "2020-02-29 12:00:00", "2038-01-19 03:14:08",
             "9999-12-31 23:59:59")
    events = [event(user_id=4242, at=at, product_id=i, event_type="purchase") for i, at in enumerate(times)]
    student = ctx.student
    for zone in (*DST_ZONES, "UTC0"):
        by_key = {}
        for e in events:
            for function, wanted in ((student.row_key, wanted_row_key(e)), (student.purchase_key,
                                                                            wanted_purchase_key(e))):
                got = called(function, e, zone)
                assert got == wanted, (
                    f"{function.__name__} of the event at {e.event_time} UTC returned {got!r} with the local time "
                    f"zone {zone}, expected {wanted!r}")
            by_key[wanted_row_key(e)] = e
        in_order = [by_key[k].event_time for k in sorted(by_key)]
        assert in_order == sorted(times), f"user 4242's keys sort the times as {in_order}"


@check(points=1, hint="A cell keeps every value exactly: the price as its decimal text at any size, null as null, "
                      "any text (emoji, quotes, control characters) as it is; keys at both ends of the id range "
                      "still have 19 digits.")
def extreme_values_keep_their_exact_key_and_cell(ctx: Context) -> None:
    cases = (
        event(user_id=1, price="0.00", brand=None, code=None, session=None, event_type="remove_from_cart"),
        event(user_id=MAX_ID, product_id=MAX_ID, category_id=MAX_ID, price="9" * 36 + ".99", event_type="purchase"),
        event(user_id=10, price="100.00", brand='say "hi" \\ 🛒', code="a.b.c.d", session="  Ab\tC  "),
        event(user_id=100, price="0.10", brand="\x00\x1f\x7f", code="appliances", session="\u2028\u2029\x85"),
        event(user_id=999999999, price="1081.98", brand="日本", code=".kids", session="\ufffd"),
        event(user_id=1000000000, price="7.00", brand="ÉCOLE", code="kids."),
    )
    student = ctx.student
    for e in cases:
        got = called(student.row_key, e, "UTC0")
        assert got == wanted_row_key(e), (
            f"row_key of user {e.user_id}'s event returned {got!r}, expected {wanted_row_key(e)!r}")
        same_cell(student.cell(e), e)
    ordered = sorted(cases, key=lambda e: called(student.row_key, e, "UTC0"))
    assert [e.user_id for e in ordered] == sorted(e.user_id for e in cases), (
        f"the row keys sort the users as {[e.user_id for e in ordered]}")
