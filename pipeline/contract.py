"""The data contract, Python implementation (used by the Kafka consumers).

docs/data-contract.md is the specification; pipeline/clean.py holds the Spark
implementation, and tests/unit/test_contract_agreement.py proves the two agree.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Context, Decimal
from typing import BinaryIO, Iterator

FIELDS = ("event_time", "event_type", "product_id", "category_id", "category_code",
          "brand", "price", "user_id", "user_session")
HEADER = ",".join(FIELDS)
EVENT_TYPES = ("view", "cart", "remove_from_cart", "purchase")
REASONS = ("record_too_large", "bad_field_count", "bad_event_time", "bad_event_type", "bad_id", "bad_price")
# The default of Settings.max_record_bytes: the longest record, in UTF-8 bytes, any stage accepts.
MAX_RECORD_BYTES = 1024 * 1024
MAX_ID = 9223372036854775807
ROW_ID_SEPARATOR = "\x1f"
BOM = b"\xef\xbb\xbf"

### BEGIN SOLUTION
# RFC 4180 fields: quoted ("" escapes a quote) or unquoted (no quote, no comma).
_FIELD = re.compile(r'"((?:[^"]|"")*)"|([^",]*)')
_EVENT_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})( UTC)?")
_ID = re.compile(r"[0-9]{1,19}")
# DECIMAL(38,2) holds 36 digits before the point; longer prices are rejected too.
_PRICE = re.compile(r"[0-9]{1,36}(\.[0-9]{1,2})?")
### END SOLUTION
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class Event:
    """A valid, normalised event with its derived columns and row id."""

    event_time: str  # "YYYY-MM-DD HH:MM:SS", UTC
    event_type: str
    product_id: int
    category_id: int
    category_code: str | None
    brand: str | None
    price: Decimal  # exactly two decimal places
    user_id: int
    user_session: str | None
    event_date: str
    event_hour: int
    category: str | None
    subcategory: str | None
    row_id: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Rejected:
    """An input record that breaks the contract, with the first rule it fails."""

    reason: str
    raw: str


def trim(value: str) -> str:
    """Remove leading and trailing spaces and tabs (and nothing else)."""
    return value.strip(" \t")


def lower(value: str) -> str:
    """Lower-case A-Z only, so every implementation agrees on every input."""
    return value.translate(_ASCII_LOWER)


def decode(raw: bytes) -> str:
    """Records are UTF-8; undecodable bytes become U+FFFD (the same in every stage)."""
    return raw.decode("utf-8", errors="replace")


def split_fields(record: str) -> list[str] | None:
    """The record's RFC 4180 fields, unquoted (outer quotes removed, "" read as "), or None when its
    quoting is malformed (a quote in a plain field, text after a closing quote, an unclosed quote)."""
    ### BEGIN SOLUTION
    if '"' not in record:  # the common case: no quoted field
        return record.split(",")
    fields, position = [], 0
    while True:
        match = _FIELD.match(record, position)
        quoted, plain = match.groups()
        fields.append(quoted.replace('""', '"') if quoted is not None else plain)
        position = match.end()
        if position == len(record):
            return fields
        if record[position] != ",":
            return None
        position += 1
    ### END SOLUTION


### BEGIN SOLUTION
def _event_time(value: str) -> datetime | None:
    match = _EVENT_TIME.fullmatch(trim(value))
    if not match:
        return None
    try:
        moment = datetime(*(int(part) for part in match.groups()[:6]))
    except ValueError:
        return None
    return moment
### END SOLUTION


def identifier(value: str) -> int | None:
    """The id rule: the trimmed text is 1-19 ASCII digits with a value in 1..2^63-1 (MAX_ID); that value,
    else None."""
    ### BEGIN SOLUTION
    value = trim(value)
    if not _ID.fullmatch(value):
        return None
    number = int(value)
    return number if 1 <= number <= MAX_ID else None
    ### END SOLUTION


### BEGIN SOLUTION
def _optional(value: str) -> str | None:
    value = lower(trim(value))
    return value or None
### END SOLUTION


def row_id(values: list[str]) -> str:
    """Deterministic id of an event: the first 32 hex digits of the SHA-256 of its nine normalised fields
    as text, joined by ROW_ID_SEPARATOR and encoded as UTF-8."""
    ### BEGIN SOLUTION
    return hashlib.sha256(ROW_ID_SEPARATOR.join(values).encode("utf-8")).hexdigest()[:32]
    ### END SOLUTION


def validate(record: str, max_bytes: int = MAX_RECORD_BYTES) -> Event | Rejected:
    """The record's normalised ``Event``, or ``Rejected(reason, record)`` with the first rule of
    docs/data-contract.md it breaks (the rules in order: record_too_large, longer than ``max_bytes``
    in UTF-8; bad_field_count, bad_event_time, bad_event_type, bad_id, bad_price)."""
    ### BEGIN SOLUTION
    if len(record.encode()) > max_bytes:
        return Rejected("record_too_large", record)
    fields = split_fields(record)
    if fields is None or len(fields) != len(FIELDS):
        return Rejected("bad_field_count", record)
    time_text, type_text, product_text, category_text, code_text, brand_text, price_text, user_text, session = fields
    moment = _event_time(time_text)
    if moment is None:
        return Rejected("bad_event_time", record)
    event_type = lower(trim(type_text))
    if event_type not in EVENT_TYPES:
        return Rejected("bad_event_type", record)
    ids = [identifier(product_text), identifier(category_text), identifier(user_text)]
    if None in ids:
        return Rejected("bad_id", record)
    price_text = trim(price_text)
    if not _PRICE.fullmatch(price_text):
        return Rejected("bad_price", record)
    product_id, category_id, user_id = ids
    price = Decimal(price_text).quantize(Decimal("0.01"), context=Context(prec=38))
    category_code, brand = _optional(code_text), _optional(brand_text)
    user_session = session or None
    event_time = moment.isoformat(sep=" ")
    category, _, subcategory = (category_code or "").partition(".")
    return Event(
        event_time=event_time,
        event_type=event_type,
        product_id=product_id,
        category_id=category_id,
        category_code=category_code,
        brand=brand,
        price=price,
        user_id=user_id,
        user_session=user_session,
        event_date=event_time[:10],
        event_hour=moment.hour,
        category=category or None,
        subcategory=subcategory or None,
        row_id=row_id([event_time, event_type, str(product_id), str(category_id), category_code or "",
                       brand or "", str(price), str(user_id), user_session or ""]),
    )
    ### END SOLUTION


def read_records(stream: BinaryIO, max_bytes: int = MAX_RECORD_BYTES) -> Iterator[tuple[int, bytes]]:
    """(line number, raw record bytes) for every input record of a CSV file.

    One line is one record (LF or CRLF, which is not part of the record); a UTF-8
    BOM is dropped, the header line is skipped, blank lines are ignored.
    Memory stays bounded whatever the lines' length: a record longer than ``max_bytes``
    comes as its first ``max_bytes + 1`` bytes (enough for ``validate`` to reject it as
    record_too_large, and for a reader to skip it), and the rest of its line is read in
    chunks and dropped.
    """
    # A record of max_bytes bytes, with a BOM before it and CRLF after it, fits in one read.
    line_limit = max_bytes + len(BOM) + 2
    header_seen = False
    number = 0
    while line := stream.readline(line_limit):
        number += 1
        whole = line.endswith(b"\n") or len(line) < line_limit
        if not whole:
            _skip_line(stream)
        if number == 1 and line.startswith(BOM):
            line = line[len(BOM):]
        if whole:
            line = line.removesuffix(b"\n").removesuffix(b"\r")
        if not line:
            continue
        if not header_seen:
            header_seen = True
            continue
        yield number, line if len(line) <= max_bytes else line[:max_bytes + 1]


def _skip_line(stream: BinaryIO, chunk_bytes: int = 64 * 1024) -> None:
    """Read the rest of the current line, a chunk at a time, and drop it."""
    while (chunk := stream.readline(chunk_bytes)) and not chunk.endswith(b"\n"):
        pass
