"""Hidden checks of lab 01 (grading only, never shipped): your contract.py on records the public checks do not
try, with the reference contract (pipeline.contract) as the truth, and under local time zones away from UTC."""

from __future__ import annotations

import hashlib
import json

import datasets
from datasets.manifest import manifest_path
from labctl.checking import Context, check, local_time_zone
from pipeline import contract as reference
from pipeline.contract import FIELDS, REASONS, decode, read_records

# POSIX TZ strings (no tz database needed): UTC+05:45 and UTC-03:30. A local-time conversion of the event time
# moves its hour (and, near midnight, its date) under either, whatever the time zone of the grading machine.
ZONES = ("NPT-5:45", "NST3:30")
EVENT_COLUMNS = tuple(reference.Event.__dataclass_fields__)
BASE = ["2019-10-01 14:03:27 UTC", "view", "1004856", "2053013555631882655", "electronics.smartphone", "samsung",
        "1081.98", "541312140", "72d76fde-8bb3-4e00-8c23-a032dfed738c"]


def record(**changes: str) -> str:
    """BASE with some fields replaced (by name), joined with commas."""
    fields = list(BASE)
    for name, value in changes.items():
        fields[FIELDS.index(name)] = value
    return ",".join(fields)


def verdict(function, text: str, zone: str | None = None):
    """("event", {column: value}) or ("rejected", reason, raw) of ``function(text)``, run in ``zone``."""
    if zone is None:
        got = function(text)
    else:
        with local_time_zone(zone):
            got = function(text)
    if type(got).__name__ == "Rejected" and hasattr(got, "reason"):
        return ("rejected", got.reason, got.raw)
    assert type(got).__name__ == "Event" and all(hasattr(got, c) for c in EVENT_COLUMNS), (
        f"validate({text!r}) returned {got!r}; return an Event or a Rejected")
    return ("event", {c: getattr(got, c) for c in EVENT_COLUMNS})


def shown(value) -> str:
    return f"{value!r} ({type(value).__name__})"


def same_verdict(ctx: Context, text: str, zone: str | None = None, where: str = "") -> tuple:
    """Assert that the student's validate agrees with the reference on ``text``, column by column."""
    wanted = verdict(reference.validate, text)
    got = verdict(ctx.student.validate, text, zone)
    place = f"{where}validate({text!r})" + (f" with the local time zone {zone}" if zone else "")
    # what went wrong first, then the record (a message is cut at 300 characters)
    if wanted[0] == "rejected":
        assert got[0] == "rejected", f"a valid Event where the reason is {wanted[1]}: {place}"
        assert got[1] == wanted[1], f"the reason {got[1]!r} where it is {wanted[1]!r}: {place}"
        assert got[2] == text, f"Rejected.raw is {got[2]!r}, not the record as given: {place}"
        return wanted
    assert got[0] == "event", f"rejected as {got[1]}, but the record is valid: {place}"
    for column in EVENT_COLUMNS:
        value, expected = got[1][column], wanted[1][column]
        assert value == expected and type(value) is type(expected) and str(value) == str(expected), (
            f"{column} is {shown(value)}, expected {shown(expected)}: {place}")
    return wanted


# ---------------------------------------------------------------------------------------------------


VALID = [
    # the session as it is: not trimmed, not lower-cased; empty is null
    record(user_session=" Ab C "), record(user_session="\tSESSION-1\t"), record(user_session=""),
    record(user_session='"a ""quoted"", session"'),
    # categories: up to the first dot, the rest (dots included) is the subcategory
    record(category_code="Electronics.Video.TV"), record(category_code="kids"), record(category_code=".b"),
    record(category_code="a."), record(category_code="a..b"), record(category_code=" \t "),
    record(category_code="\rKitchen\r"),
    # only A-Z lower-cased, only spaces and tabs trimmed; an empty brand is null
    record(brand="\u00a0ÉCOLE\u00a0"), record(brand="STRAßE"), record(brand=" \t"), record(brand='"Sam, ""Inc."""'),
    # times: a 4-digit year, the UTC hour and date of the text, near midnight on both sides
    record(event_time="0001-01-01 00:00:00"), record(event_time="0999-12-31 23:59:59 UTC"),
    record(event_time="2000-02-29 00:14:00"), record(event_time=" \t2019-12-31 23:30:00 UTC\t "),
    record(event_time="9999-12-31 23:59:59"),
    # ids and prices at their limits
    record(product_id="0000000000000000001", category_id="9223372036854775807", user_id=" 7\t"),
    record(price="0"), record(price=" 007.05 "), record(price="12345678901234567.89"),
    record(price="1" * 36 + ".9"),
    # every field quoted
    ",".join(f'"{field}"' for field in BASE),
    # exactly as long as the limit allows, in UTF-8 bytes
    record(brand="b" * (reference.MAX_RECORD_BYTES - len(record(brand="").encode()))),
]


@check(points=2, hint="Build every column from the normalised text as the contract's table says (the session "
                      "untouched, the subcategory everything after the first dot, a four-digit year, the UTC hour "
                      "whatever the machine's time zone).")
def unusual_valid_records_normalise_like_the_contract(ctx: Context) -> None:
    for text in VALID:
        assert verdict(reference.validate, text)[0] == "event", f"the check's own record {text!r} is not valid"
        for zone in ZONES:
            same_verdict(ctx, text, zone)


BROKEN = [
    "", " ", "\t", record() + ",", ";".join(BASE), ",".join(BASE[:8]),
    record(brand=' "samsung"'), record(brand='"samsung" '), record(user_session='"abc'), record(brand='"a""'),
    record(event_time="2019-10-01 14:03:27 utc"), record(event_time="2019-10-01 14:03:27  UTC"),
    record(event_time="2019-10-01 14:03:27 UTC UTC"), record(event_time="2019-10-01 14:03:27.5"),
    record(event_time="٢٠١٩-10-01 14:03:27"), record(event_time="1900-02-29 00:00:00"),
    record(event_time="2019-04-31 00:00:00"), record(event_time="\u00a02019-10-01 14:03:27"),
    record(event_time="2019-10-01 14:03:27\r"), record(event_time="2019-10-01 14:03"),
    record(event_type="VİEW"), record(event_type="\u00a0view"), record(event_type="views"),
    record(event_type="view\r"), record(event_type="remove from cart"),
    record(product_id="+1"), record(category_id="1e3"), record(user_id="12 34"),
    record(product_id="99999999999999999999"), record(user_id="١٢٣"), record(category_id="\u00a042"),
    record(price="1.234"), record(price='"1,5"'), record(price="1" * 37 + ".00"), record(price="١٢"),
    record(price="NaN"), record(price="Infinity"), record(price="1_000"), record(price="7.50\r"),
    record(event_time="x", event_type="x", product_id="x", price="x"),
    record(event_type="x", user_id="0", price="x"), record(user_id="-5", price=""),
    # longer than the limit: in UTF-8 bytes, though not in characters; and broken besides
    record(brand="é" * (reference.MAX_RECORD_BYTES // 2)), record(price="x", brand="b" * reference.MAX_RECORD_BYTES),
]


@check(points=1, hint="Test each field against its rule exactly (ASCII digits only, only spaces and tabs trimmed, "
                      "a real calendar date) and give the first rule in the contract's order that fails.")
def other_broken_records_get_the_first_reason_they_break(ctx: Context) -> None:
    for text in BROKEN:
        assert verdict(reference.validate, text)[0] == "rejected", f"the check's own record {text!r} is valid"
        same_verdict(ctx, text)


ROWS, DEFECT_RATE = 1500, 0.3


@check(points=2, hint="Every verdict on a file must be the contract's: run `lab pipeline --mine validate --input "
                      "FILE --examples 3` on a file of your own and read the records you reject.",
       timeout=60)
def a_file_full_of_defects_gets_the_contracts_verdict_on_every_record(ctx: Context) -> None:
    path = ctx.tmp / "defects" / "events.csv"
    datasets.generate(path, rows=ROWS, seed=ctx.seed, defect_rate=DEFECT_RATE)
    expected = json.loads(manifest_path(path).read_text())["expected"]
    counts, row_ids = dict.fromkeys(REASONS, 0), set()
    with open(path, "rb") as stream:
        for number, raw in read_records(stream):
            text = decode(raw)
            wanted = same_verdict(ctx, text, ZONES[number % 2], where=f"line {number}: ")
            if wanted[0] == "rejected":
                counts[wanted[1]] += 1
            else:
                row_ids.add(wanted[1]["row_id"])
    # the reference agrees with the generator's manifest (the student's verdicts equal the reference's above)
    assert counts == expected["rejected"] and len(row_ids) == expected["clean_events"], (
        f"the check's own truth disagrees with the manifest: {counts}, {len(row_ids)} vs {expected}")


def own_row_id(values: list[str]) -> str:
    return hashlib.sha256("\x1f".join(values).encode("utf-8")).hexdigest()[:32]


@check(points=1, hint="Split with the RFC 4180 grammar only (an empty last field counts; a quote is only legal as a "
                      "whole quoted field), and hash the UTF-8 bytes of the nine texts joined by the separator.")
def fields_and_row_ids_of_other_inputs(ctx: Context) -> None:
    splits = {"a,": ["a", ""], ",": ["", ""], ",,": ["", "", ""], '""""': ['"'], '"a,b",': ["a,b", ""],
              '" "': [" "], 'é,"ü"': ["é", "ü"], '"\t",x': ["\t", "x"], '"a\r\nb"': ["a\r\nb"],
              ' a , b ': [" a ", " b "]}
    for text, wanted in splits.items():
        got = ctx.student.split_fields(text)
        assert got == wanted, f"split_fields({text!r}) returned {got!r}, expected {wanted!r}"
    for text in ('a,"', '"a"b"', '" a" ', 'a,""b', '"""', 'a,b,"c""'):
        got = ctx.student.split_fields(text)
        assert got is None, f"split_fields({text!r}) returned {got!r}, expected None"
    for values in (["0999-12-31 23:59:59", "purchase", "9223372036854775807", "1", "café.crème", "şahin",
                    "0.00", "5", " Ab C "],
                   ["2019-10-01 00:00:00", "view", "1", "2", "", "", "1.00", "3", "日本"]):
        got, wanted = ctx.student.row_id(list(values)), own_row_id(values)
        assert got == wanted, f"row_id({values!r}) returned {got!r}, expected {wanted!r}"
