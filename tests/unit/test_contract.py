"""pipeline/contract.py, rule by rule and normalisation by normalisation (docs/data-contract.md)."""

from __future__ import annotations

import hashlib
import io
from decimal import Decimal

import pytest

from pipeline import contract
from pipeline.contract import Event, Rejected, validate

pytestmark = pytest.mark.unit

GOOD = ["2019-10-01 14:03:27 UTC", "view", "1004856", "2053013555631882655", "electronics.smartphone", "samsung",
        "1081.98", "541312140", "72d76fde-8bb3-4e00-8c23-a032dfed738c"]


def record(**changes: str) -> str:
    fields = list(GOOD)
    for name, value in changes.items():
        fields[contract.FIELDS.index(name)] = value
    return ",".join(fields)


def event(**changes: str) -> Event:
    result = validate(record(**changes))
    assert isinstance(result, Event), result
    return result


def reason(text: str) -> str:
    result = validate(text)
    assert isinstance(result, Rejected), result
    assert result.raw == text
    return result.reason


def test_a_good_record_is_valid_and_normalised():
    e = event()
    assert (e.event_time, e.event_type, e.product_id, e.category_id) == (
        "2019-10-01 14:03:27", "view", 1004856, 2053013555631882655)
    assert (e.category_code, e.brand, e.price, e.user_id, e.user_session) == (
        "electronics.smartphone", "samsung", Decimal("1081.98"), 541312140, GOOD[8])
    assert (e.event_date, e.event_hour, e.category, e.subcategory) == ("2019-10-01", 14, "electronics", "smartphone")


@pytest.mark.parametrize("text", [
    ",".join(GOOD[:8]), record() + ",", ";".join(GOOD), "", " ", GOOD[0],
    record(brand='"sams"ung'), record(brand='sam"sung'), record(brand=' "samsung"'), record(brand='"samsung" '),
    record(brand='"samsung'), record(user_session='"abc'), record(brand='"a""'),
])
def test_bad_field_count_wrong_count_or_malformed_quoting(text):
    assert reason(text) == "bad_field_count"


@pytest.mark.parametrize("value", [
    "", "N/A", "2019-10-01", "2019/10/01 14:03:27 UTC", "2019-10-01T14:03:27Z", "2019-10-01 14:03:27 utc",
    "2019-10-01 14:03:27  UTC", "2019-10-01 14:03:27 UTC UTC", "2019-10-01 14:03:27 GMT", "2019-1-01 14:03:27",
    "2019-10-01 14:03:27.5", "٢٠١٩-10-01 14:03:27", "2019-13-01 00:00:00", "2019-00-01 00:00:00",
    "2019-10-32 00:00:00", "2019-02-29 00:00:00", "1900-02-29 00:00:00", "2019-04-31 00:00:00",
    "2019-10-01 24:00:00", "2019-10-01 23:60:00", "2019-10-01 23:59:60", "0000-01-01 00:00:00",
    "\u00a02019-10-01 14:03:27", "2019-10-01 14:03:27\r",
])
def test_bad_event_time(value):
    assert reason(record(event_time=value)) == "bad_event_time"


@pytest.mark.parametrize(("value", "normalised"), [
    ("2019-10-01 14:03:27", "2019-10-01 14:03:27"),
    (" \t2019-10-01 14:03:27 UTC\t ", "2019-10-01 14:03:27"),
    ("2020-02-29 23:59:59", "2020-02-29 23:59:59"),
    ("2000-02-29 00:00:00", "2000-02-29 00:00:00"),
    ("9999-12-31 23:59:59 UTC", "9999-12-31 23:59:59"),
])
def test_good_event_times(value, normalised):
    e = event(event_time=value)
    assert (e.event_time, e.event_date, e.event_hour) == (normalised, normalised[:10], int(normalised[11:13]))


def test_years_before_1000_keep_four_digits():
    e = event(event_time="0001-01-01 00:00:00")
    assert (e.event_time, e.event_date) == ("0001-01-01 00:00:00", "0001-01-01")


@pytest.mark.parametrize("value", ["click", "", "views", "purchased", "re move_from_cart", "VİEW", "\u00a0view"])
def test_bad_event_type(value):
    assert reason(record(event_type=value)) == "bad_event_type"


@pytest.mark.parametrize("value", ["VIEW", " view", "Cart\t", " \tRemove_From_Cart ", "PURCHASE"])
def test_event_type_is_trimmed_and_lower_cased(value):
    assert event(event_type=value).event_type == value.strip(" \t").lower()


@pytest.mark.parametrize("field", ["product_id", "category_id", "user_id"])
@pytest.mark.parametrize("value", ["", "0", "-1", "+1", "1.0", "1e3", "abc", "12 34", "9223372036854775808",
                                   "99999999999999999999", "00000000000000000001", "١٢٣"])
def test_bad_id(field, value):
    assert reason(record(**{field: value})) == "bad_id"


@pytest.mark.parametrize(("value", "number"), [
    ("1", 1), (" 42\t", 42), ("0000000000000000001", 1), ("9223372036854775807", 9223372036854775807)])
def test_good_ids(value, number):
    e = event(product_id=value, category_id=value, user_id=value)
    assert (e.product_id, e.category_id, e.user_id) == (number, number, number)


@pytest.mark.parametrize("value", ["", "-1.00", "free", "NaN", "$12", "1.234", ".5", "5.", "1,5", "1e2",
                                   "1" * 37, "1" * 37 + ".00", "١٢"])
def test_bad_price(value):
    text = record(price=f'"{value}"' if "," in value else value)
    assert reason(text) == "bad_price"


@pytest.mark.parametrize(("value", "price"), [
    ("7", "7.00"), ("7.5", "7.50"), ("007.05", "7.05"), (" 0 ", "0.00"), ("1" * 36 + ".99", "1" * 36 + ".99")])
def test_good_prices_have_two_decimal_places(value, price):
    assert str(event(price=value).price) == price


def test_the_first_failing_rule_is_the_reason():
    assert reason(record(event_time="x", event_type="x", product_id="x", price="x") + ",extra") == "bad_field_count"
    assert reason(record(event_time="x", event_type="x", product_id="x", price="x")) == "bad_event_time"
    assert reason(record(event_type="x", product_id="x", price="x")) == "bad_event_type"
    assert reason(record(product_id="x", price="x")) == "bad_id"
    assert reason(record(price="x")) == "bad_price"


def test_a_record_longer_than_the_limit_in_utf8_bytes_is_record_too_large_before_any_other_rule():
    accented = record(brand="école")  # é is two bytes in UTF-8
    size = len(accented.encode())
    assert isinstance(validate(accented, max_bytes=size), Event)
    assert validate(accented, max_bytes=size - 1) == Rejected("record_too_large", accented)
    broken = record(event_time="x", price="x") + ",extra"
    assert validate(broken, max_bytes=len(broken) - 1) == Rejected("record_too_large", broken)
    at_the_default = record(brand="b" * (contract.MAX_RECORD_BYTES - len(record(brand="").encode())))
    assert isinstance(validate(at_the_default), Event)
    assert validate(at_the_default + "b") == Rejected("record_too_large", at_the_default + "b")


def test_optional_fields_trimmed_lower_cased_empty_to_null():
    e = event(category_code=" \tElectronics.Video.TV ", brand="\tSamsung ", user_session="")
    assert (e.category_code, e.brand, e.user_session) == ("electronics.video.tv", "samsung", None)
    assert (e.category, e.subcategory) == ("electronics", "video.tv")
    e = event(category_code=" \t ", brand="")
    assert (e.category_code, e.brand, e.category, e.subcategory) == (None, None, None, None)


def test_only_ascii_letters_are_lower_cased_and_only_spaces_and_tabs_trimmed():
    e = event(brand="\u00a0ÉCOLE\u00a0", category_code="\rKitchen\r")
    assert (e.brand, e.category_code) == ("\u00a0École\u00a0", "\rkitchen\r")


def test_the_session_is_kept_as_it_is():
    assert event(user_session=" Ab C ").user_session == " Ab C "


@pytest.mark.parametrize(("code", "category", "subcategory"), [
    ("kids", "kids", None), ("kids.toys", "kids", "toys"), ("a.b.c", "a", "b.c"), (".b", None, "b"),
    ("a.", "a", None), ("a..b", "a", ".b"), (".", None, None)])
def test_category_and_subcategory(code, category, subcategory):
    e = event(category_code=code)
    assert (e.category, e.subcategory) == (category, subcategory)


def test_a_quoted_brand_may_hold_commas_and_quotes():
    e = event(brand='"Sam, ""Inc."""')
    assert e.brand == 'sam, "inc."'


def test_every_field_may_be_quoted():
    assert validate(",".join(f'"{f}"' for f in GOOD)) == event()


def test_row_id_is_sha256_of_the_normalised_fields():
    fields = ["2019-10-01 14:03:27", "view", "1004856", "2053013555631882655", "electronics.smartphone", "samsung",
              "1081.98", "541312140", GOOD[8]]
    expected = hashlib.sha256("\x1f".join(fields).encode()).hexdigest()[:32]
    assert event().row_id == expected
    e = event(brand="", category_code="", user_session="", price="5")
    fields[4:7], fields[8] = ["", "", "5.00"], ""
    assert e.row_id == hashlib.sha256("\x1f".join(fields).encode()).hexdigest()[:32]


def test_row_id_ignores_what_normalisation_removes():
    same = event(event_time=" 2019-10-01 14:03:27 ", event_type="VIEW ", product_id="01004856", brand='"SAMSUNG"',
                 price="05.0", user_id=" 541312140")
    assert same.row_id == event(price="5").row_id


@pytest.mark.parametrize("change", [{"user_session": GOOD[8].upper()}, {"price": "1081.99"}, {"brand": "apple"},
                                    {"event_time": "2019-10-01 14:03:28"}, {"event_type": "cart"}])
def test_row_id_differs_when_a_normalised_field_does(change):
    assert event(**change).row_id != event().row_id


def test_decode_replaces_invalid_utf8():
    assert contract.decode(b"caf\xc3\xa9 \xff\xc3") == "café \ufffd\ufffd"


def test_trim_and_lower():
    assert contract.trim(" \t a b \t\r") == "a b \t\r"
    assert contract.lower("ABC-Éİ-xyz") == "abc-Éİ-xyz"


def test_split_fields():
    assert contract.split_fields('a,"b,""c""",,""') == ["a", 'b,"c"', "", ""]
    assert contract.split_fields('a,"b"c') is None


def test_read_records_bom_crlf_header_and_blank_lines():
    data = contract.BOM + b"a,b\r\n\r\nx1\r\n\n x2\nx3\r\r\n\nx4"
    assert list(contract.read_records(io.BytesIO(data))) == [(3, b"x1"), (5, b" x2"), (6, b"x3\r"), (8, b"x4")]


def test_read_records_header_after_blank_lines_and_bom_only_at_the_start():
    data = b"\n\nheader\n" + contract.BOM + b"x\n"
    assert list(contract.read_records(io.BytesIO(data))) == [(4, contract.BOM + b"x")]


@pytest.mark.parametrize("terminator", [b"\n", b"\r\n"])
def test_read_records_keeps_records_up_to_the_limit_and_cuts_longer_ones_after_limit_plus_one_bytes(terminator):
    lines = [b"header", b"a" * 9, b"b" * 10, b"c" * 11, b"d" * 100, b"e"]
    data = contract.BOM + terminator.join(lines) + terminator
    assert list(contract.read_records(io.BytesIO(data), max_bytes=10)) == [
        (2, b"a" * 9), (3, b"b" * 10), (4, b"c" * 11), (5, b"d" * 11), (6, b"e")]


def test_read_records_skips_an_overlong_header_and_an_overlong_last_line_without_terminator():
    data = b"h" * 50 + b"\nx\n" + b"y" * 50
    assert list(contract.read_records(io.BytesIO(data), max_bytes=10)) == [(2, b"x"), (3, b"y" * 11)]

