"""Known defects for the cleaning labs, one per affected row.

Each defect kind breaks exactly one thing of a clean row. The first five are
named after the reject reason the cleaner gives them (it checks the rules in
this order and reports the first that fails); the other four leave the row
valid: stray spaces or upper case in ``event_type`` or ``brand`` vanish when
those fields are trimmed and lowercased, a brand containing a comma is quoted
as RFC 4180 says, and an exact duplicate row is dropped by de-duplication.
Kinds are drawn with equal weight; a kind that needs a brand waits for the
next row that has one.
"""

from __future__ import annotations

import random
from collections import Counter

REJECT_KINDS = ("bad_field_count", "bad_event_time", "bad_event_type", "bad_id", "bad_price")
VALID_KINDS = ("event_type_case_space", "brand_case_space", "brand_with_comma", "duplicate_row")
KINDS = REJECT_KINDS + VALID_KINDS
_NEEDS_BRAND = frozenset({"brand_case_space", "brand_with_comma"})
EVENT_TYPES = ("view", "cart", "remove_from_cart", "purchase")
UNKNOWN_EVENT_TYPES = ("click", "wishlist", "purchased", "add_to_cart", "", "unknown", "view_item", "refund")
ID_FIELDS = {2: "product_id", 3: "category_id", 7: "user_id"}
BRAND, PRICE = 5, 6


def _case_space(value: str, rng: random.Random) -> tuple[str, str]:
    """A variant of ``value`` that differs from it but trims and lowercases back to it."""
    variant = rng.choice(("upper", "title", "leading_space", "trailing_space", "padded_upper"))
    out = {
        "upper": value.upper(),
        "title": value.title(),
        "leading_space": " " + value,
        "trailing_space": value + " ",
        "padded_upper": "  " + value.upper() + " ",
    }[variant]
    if out == value:  # no letters to change case of
        variant, out = "leading_space", " " + value
    return out, variant


def _bad_time(stamp: str, rng: random.Random) -> tuple[str, str]:
    """An unparseable or impossible variant of ``YYYY-MM-DD HH:MM:SS UTC``."""
    date, clock = stamp[:10], stamp[11:19]
    y, mo, d = date.split("-")
    hh, mm, ss = clock.split(":")
    unparseable = (
        "",
        "N/A",
        date,
        f"{y}/{mo}/{d} {clock} UTC",
        f"{date}T{clock}Z",
        f"{d}.{mo}.{y} {clock}",
        f"{clock} {date}",
    )
    impossible = (
        f"{y}-13-{d} {clock} UTC",
        f"{y}-{mo}-32 {clock} UTC",
        f"{y}-02-30 {clock} UTC",
        f"{y}-00-{d} {clock} UTC",
        f"{date} 24:{mm}:{ss} UTC",
        f"{date} {hh}:60:{ss} UTC",
        f"{date} {hh}:{mm}:61 UTC",
    )
    if rng.random() < 0.5:
        return rng.choice(unparseable), "unparseable"
    return rng.choice(impossible), "impossible"


def _bad_id(value: str, rng: random.Random) -> tuple[str, str]:
    variant = rng.choice(("empty", "non_numeric", "negative", "zero", "out_of_range"))
    out = {
        "empty": "",
        "non_numeric": rng.choice(("null", "NaN", "abc", value[:3] + "x" + value[3:], value + ".0")),
        "negative": "-" + value,
        "zero": "0",
        "out_of_range": rng.choice(("9223372036854775808", "12345678901234567890123")),
    }[variant]
    return out, variant


def _bad_price(value: str, rng: random.Random) -> tuple[str, str]:
    variant = rng.choice(("empty", "negative", "non_numeric", "bad_format"))
    out = {
        "empty": "",
        "negative": "-" + value,
        "non_numeric": rng.choice(("free", "NaN", "n/a")),
        "bad_format": rng.choice(("$" + value, value + "9", value + ".5", "." + value)),
    }[variant]
    return out, variant


class DefectInjector:
    """Turns a share ``rate`` of clean lines into defective ones and counts what it did."""

    def __init__(self, seed: int, rate: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("defect rate must be between 0 and 1")
        self.rate = rate
        self.rng = random.Random(seed * 1000003 + 0xDEFEC7)
        self.pending: str | None = None
        self.counts: Counter[str] = Counter({k: 0 for k in KINDS})
        self.variants: Counter[tuple[str, str]] = Counter()

    def due(self) -> bool:
        """Whether the next line should carry a defect (draws the kind when it is due)."""
        if self.pending is None:
            if self.rng.random() >= self.rate:
                return False
            self.pending = self.rng.choice(KINDS)
        return True

    def apply(self, line: str, room: int) -> tuple[str, int, tuple[str, ...]] | None:
        """Defective text for the clean ``line``: (text, lines written, normalised keys of valid rows).

        ``None`` when the pending kind does not fit this line (no brand, or no room
        for a duplicate's second line); it then stays pending.
        """
        kind, rng = self.pending, self.rng
        f = line[:-1].split(",")
        if (kind in _NEEDS_BRAND and not f[BRAND]) or (kind == "duplicate_row" and room < 2):
            return None
        text, keys, variant = None, (), kind
        if kind == "bad_field_count":
            variant = rng.choice(("missing_field", "extra_field", "wrong_delimiter", "truncated"))
            text = {
                "missing_field": ",".join(f[:8]),
                "extra_field": ",".join(f) + ",",
                "wrong_delimiter": ";".join(f),
                "truncated": ",".join(f[: rng.randint(1, 7)]),
            }[variant] + "\n"
        elif kind == "bad_event_time":
            f[0], variant = _bad_time(f[0], rng)
        elif kind == "bad_event_type":
            f[1], variant = rng.choice(UNKNOWN_EVENT_TYPES), "unknown"
        elif kind == "bad_id":
            i = rng.choice(tuple(ID_FIELDS))
            f[i], variant = _bad_id(f[i], rng)
            variant = f"{ID_FIELDS[i]}/{variant}"
        elif kind == "bad_price":
            f[PRICE], variant = _bad_price(f[PRICE], rng)
        elif kind == "event_type_case_space":
            f[1], variant = _case_space(f[1], rng)
            keys = (line,)
        elif kind == "brand_case_space":
            f[BRAND], variant = _case_space(f[BRAND], rng)
            keys = (line,)
        elif kind == "brand_with_comma":
            f[BRAND] = '"' + f[BRAND] + ", " + rng.choice(("inc.", "ltd", "co")) + '"'
            text = ",".join(f) + "\n"
            keys, variant = (text,), "quoted"
        else:  # duplicate_row
            text, keys, variant = line + line, (line, line), "exact"
        self.pending = None
        self.counts[kind] += 1
        self.variants[kind, variant] += 1
        if text is None:
            text = ",".join(f) + "\n"
        return text, 2 if kind == "duplicate_row" else 1, keys
