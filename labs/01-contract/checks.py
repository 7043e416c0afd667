"""Public checks of lab 01 (`lab check 01`): your contract.py on tricky records, then on a whole generated file."""

from __future__ import annotations

import json
from decimal import Decimal

from datasets.manifest import manifest_path
from labctl.checking import Context, check
from pipeline.contract import MAX_RECORD_BYTES, REASONS, Event, Rejected, decode, read_records

# One valid record and the event it must give.
RECORD = ('2019-10-01 23:30:00 UTC,View , 0042,2053013555631882655,Electronics.Smartphone,"Apple, Inc",7.5,'
          '00017,"s ""1"""')
EVENT = Event(event_time="2019-10-01 23:30:00", event_type="view", product_id=42, category_id=2053013555631882655,
              category_code="electronics.smartphone", brand="apple, inc", price=Decimal("7.50"), user_id=17,
              user_session='s "1"', event_date="2019-10-01", event_hour=23, category="electronics",
              subcategory="smartphone", row_id="55f51e4dbea0ca82e56f90bd17e5ccfa")
GOOD = "2019-10-01 10:00:00 UTC,view,1,2,a.b,brand,1.00,3,s"


def with_field(index: int, value: str) -> str:
    """GOOD with one field replaced."""
    fields = GOOD.split(",")
    fields[index] = value
    return ",".join(fields)


def pipeline_class(record: str, verdict) -> None:
    """The verdict must be an Event or a Rejected of pipeline.contract: the pipeline's stages test for those."""
    if isinstance(verdict, (Event, Rejected)):
        return
    name = type(verdict).__name__
    assert name not in ("Event", "Rejected"), (
        f"validate returned {'an' if name == 'Event' else 'a'} {name} of a class of its own (defined in "
        f"{type(verdict).__module__}): return the Event and Rejected that contract.py imports from pipeline.contract, "
        f"the classes the pipeline's stages test for (record {record!r})")
    raise AssertionError(f"validate({record!r}) returned a {type(verdict).__name__}; return an Event or a Rejected")


def reason(ctx: Context, record: str, max_bytes: int = MAX_RECORD_BYTES) -> str | None:
    """The reject reason the student's validate gives (None for an Event), checking the type of the verdict."""
    verdict = ctx.student.validate(record, max_bytes)
    pipeline_class(record, verdict)
    if isinstance(verdict, Rejected):
        assert verdict.raw == record, f"Rejected.raw must be the record as given, got {verdict.raw!r}"
        return verdict.reason
    return None


def expect_reason(ctx: Context, cases: dict[str, str | None], max_bytes: int = MAX_RECORD_BYTES) -> None:
    for record, wanted in cases.items():
        got = reason(ctx, record, max_bytes)
        call = f"validate({record!r}" + ("" if max_bytes == MAX_RECORD_BYTES else f", max_bytes={max_bytes}") + ")"
        assert got == wanted, f"{call} gave {got or 'a valid Event'}, expected {wanted or 'a valid Event'}"


@check(points=1, hint="Split on commas outside quotes; a quoted field loses its outer quotes and reads \"\" as \".")
def fields_split_like_rfc_4180(ctx: Context) -> None:
    cases = {
        "a,b,,c": ["a", "b", "", "c"],
        'a,"b,c",d': ["a", "b,c", "d"],
        '"say ""hi""",x': ['say "hi"', "x"],
        '"",x,""': ["", "x", ""],
        "": [""],
    }
    for record, wanted in cases.items():
        got = ctx.student.split_fields(record)
        assert got == wanted, f"split_fields({record!r}) returned {got!r}, expected {wanted!r}"


@check(points=1, hint="Malformed quoting gives None: a quote inside a plain field, text after a closing quote, "
                      "a quote that never closes.")
def malformed_quoting_gives_none(ctx: Context) -> None:
    for record in ('a,b"c,d', '"ab"c,d', '"abc,d', 'a, "b",c', '"a""'):
        got = ctx.student.split_fields(record)
        assert got is None, f"split_fields({record!r}) returned {got!r}, expected None"


@check(points=1, hint="An id is 1-19 ASCII digits after trimming spaces and tabs, with a value from 1 to 2^63-1.")
def ids_follow_the_id_rule(ctx: Context) -> None:
    cases = {"42": 42, " 0042\t": 42, "9223372036854775807": 9223372036854775807, "0": None,
             "9223372036854775808": None, "00000000000000000001": None, "-5": None, "+5": None, "1.0": None,
             "": None, "٣": None, "1 2": None, "\r7": None}
    for text, wanted in cases.items():
        got = ctx.student.identifier(text)
        assert got == wanted and type(got) is type(wanted), (
            f"identifier({text!r}) returned {got!r}, expected {wanted!r}")


@check(points=1, hint="Join the nine texts with ROW_ID_SEPARATOR, SHA-256 the UTF-8 bytes, keep 32 lower-case "
                      "hex digits.")
def row_id_is_the_truncated_sha256(ctx: Context) -> None:
    got = ctx.student.row_id(["2019-10-01 00:00:00", "view", "1", "2", "", "", "0.50", "3", ""])
    assert got == "becd54b44b09ca363560174e0d31d76f", f"row_id of the README's example returned {got!r}"


@check(points=2, hint="Normalise every field as the contract's table says: trim, lower-case, ids as ints, the "
                      "price with two decimals, the session as it is; date and hour come from the text (UTC).")
def a_valid_record_becomes_its_normalised_event(ctx: Context) -> None:
    got = ctx.student.validate(RECORD)
    pipeline_class(RECORD, got)
    assert isinstance(got, Event), f"validate of a valid record returned {got!r}"
    for name, wanted in EVENT.as_dict().items():
        value = getattr(got, name)
        assert value == wanted and type(value) is type(wanted), f"{name} is {value!r}, expected {wanted!r}"


@check(points=1, hint="Spacing, letter case, quoting, leading zeros, ' UTC' and trailing zeros of the price must "
                      "not change the row id: hash the normalised values.")
def the_same_event_written_differently_has_one_row_id(ctx: Context) -> None:
    plain = "2019-10-01 23:30:00,view,42,2053013555631882655,electronics.smartphone,\"apple, inc\",7.50,17,\"s \"\"1\"\"\""
    a, b = ctx.student.validate(RECORD), ctx.student.validate(plain)
    pipeline_class(RECORD, a)
    assert isinstance(a, Event) and isinstance(b, Event), "both spellings of the event must be valid"
    assert a.row_id == b.row_id, f"two spellings of one event got row ids {a.row_id} and {b.row_id}"


@check(points=1, hint="A date must exist (no 30 February, no hour 24, no second 60, no year 0000); only ' UTC' may "
                      "follow the time.")
def impossible_times_are_bad_event_time(ctx: Context) -> None:
    cases = {with_field(0, value): "bad_event_time" for value in (
        "2019-02-29 10:00:00", "2019-10-01 24:00:00", "2019-10-01 10:00:60", "0000-01-01 10:00:00",
        "2019-10-01T10:00:00", "2019-10-01 10:00:00 GMT", "2019-1-01 10:00:00", "")}
    cases[with_field(0, "2020-02-29 10:00:00")] = None
    cases[with_field(0, " 2019-10-01 10:00:00 UTC\t")] = None
    expect_reason(ctx, cases)


@check(points=1, hint="Check the rules in the contract's order and report the first that fails; the first is the "
                      "record's length in UTF-8 bytes (é is two), at most max_bytes.")
def the_first_broken_rule_is_the_reason(ctx: Context) -> None:
    accented = with_field(5, "école")
    size = len(accented.encode())
    expect_reason(ctx, {accented: None}, max_bytes=size)
    broken = "never,wishlist,x,2,a,b,free,3," + "s" * size
    expect_reason(ctx, {accented: "record_too_large", broken: "record_too_large"}, max_bytes=size - 1)
    expect_reason(ctx, {
        "2019-10-01 10:00:00,view,1,2,a,b,1.00,3": "bad_field_count",
        'x,"y"z,1,2,a,b,1.00,3,s': "bad_field_count",
        "never,wishlist,x,2,a,b,free,3,s": "bad_event_time",
        with_field(1, "wishlist"): "bad_event_type",
        "2019-10-01 10:00:00,wishlist,0,2,a,b,1.00,3,s": "bad_event_type",
        "2019-10-01 10:00:00,view,0,2,a,b,free,3,s": "bad_id",
        with_field(6, "free"): "bad_price",
    })


@check(points=1, hint="A price is up to 36 digits, then optionally a point and 1 or 2 digits; nothing else.")
def prices_follow_the_price_rule(ctx: Context) -> None:
    expect_reason(ctx, {**{with_field(6, p): None for p in ("7", "007", "7.5", " 7.50 ", "9" * 36 + ".99")},
                        **{with_field(6, p): "bad_price" for p in (".5", "7.", "7.505", "1e3", "-1", "9" * 37, "")}})
    price = ctx.student.validate(with_field(6, "007")).price
    assert price == Decimal("7.00") and str(price) == "7.00", f"price '007' became {price!r}, expected Decimal('7.00')"


@check(points=2, hint="Count your verdicts on a whole generated file: they must equal what its manifest expects. "
                      "Try `lab pipeline --mine validate --input FILE` to see your counts beside the manifest's.",
       timeout=60)
def a_generated_file_gets_the_verdicts_its_manifest_expects(ctx: Context) -> None:
    path = ctx.dataset(rows=3000)
    expected = json.loads(manifest_path(path).read_text())["expected"]
    counts = dict.fromkeys(REASONS, 0)
    row_ids = set()
    with open(path, "rb") as stream:
        for _, raw in read_records(stream):
            got = reason(ctx, decode(raw))
            if got is None:
                row_ids.add(ctx.student.validate(decode(raw)).row_id)
            else:
                counts[got] = counts.get(got, 0) + 1
    assert counts == expected["rejected"], f"rejected per reason {counts}, expected {expected['rejected']}"
    assert len(row_ids) == expected["clean_events"], (
        f"{len(row_ids)} distinct row ids among the valid records, expected {expected['clean_events']}")
