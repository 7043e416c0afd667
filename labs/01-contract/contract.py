"""Lab 01 — the data contract, your Python implementation.

docs/data-contract.md is the specification. Write the four functions below, one step of
labs/01-contract/README.md each; `lab check 01` tells you how far you are. What the contract
does not ask you to invent is given: the field names, the event types, the largest id, the
longest record, the row id separator, trim, lower and the two records a verdict can be (``Event``, ``Rejected``).
"""

from __future__ import annotations

import hashlib  # noqa: F401 (you will need it for row_id)
from datetime import datetime  # noqa: F401 (one way to check that a date exists)
from decimal import Decimal  # noqa: F401 (exact prices)

from pipeline.contract import (  # noqa: F401 (given: use what you need)
    EVENT_TYPES,
    FIELDS,
    MAX_ID,
    MAX_RECORD_BYTES,
    ROW_ID_SEPARATOR,
    Event,
    Rejected,
    lower,
    trim,
)


def split_fields(record: str) -> list[str] | None:
    """The record's RFC 4180 fields, unquoted (outer quotes removed, "" read as "), or None when its
    quoting is malformed (a quote in a plain field, text after a closing quote, an unclosed quote)."""
    raise NotImplementedError("lab 01, step 1: write split_fields in labs/01-contract/contract.py")


def identifier(value: str) -> int | None:
    """The id rule: the trimmed text is 1-19 ASCII digits with a value in 1..2^63-1 (MAX_ID); that value,
    else None."""
    raise NotImplementedError("lab 01, step 2: write identifier in labs/01-contract/contract.py")


def row_id(values: list[str]) -> str:
    """Deterministic id of an event: the first 32 hex digits of the SHA-256 of its nine normalised fields
    as text, joined by ROW_ID_SEPARATOR and encoded as UTF-8."""
    raise NotImplementedError("lab 01, step 3: write row_id in labs/01-contract/contract.py")


def validate(record: str, max_bytes: int = MAX_RECORD_BYTES) -> Event | Rejected:
    """The record's normalised ``Event``, or ``Rejected(reason, record)`` with the first rule of
    docs/data-contract.md it breaks (the rules in order: record_too_large, longer than ``max_bytes``
    in UTF-8; bad_field_count, bad_event_time, bad_event_type, bad_id, bad_price)."""
    raise NotImplementedError("lab 01, step 4: write validate in labs/01-contract/contract.py")
