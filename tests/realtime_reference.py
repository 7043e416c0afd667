"""The real-time aggregates of input records, computed in plain Python with pipeline.contract.

The reference that tests/unit/test_realtime.py and tests/integration/test_realtime.py
compare the streamed totals with: distinct valid events (by row id) per minute and per product.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from pipeline import contract


def _zero() -> dict:
    return {**dict.fromkeys(contract.EVENT_TYPES, 0), "revenue": Decimal("0.00")}


def aggregates(records: list[bytes]) -> dict:
    """{"minutes": {YYYYMMDDHHMM: row}, "products": {product_id: row},
    "minute_products": {YYYYMMDDHHMM: {product_id: row}}, "totals": {...}} of raw records.

    A row is {view, cart, remove_from_cart, purchase: count, revenue: Decimal}; totals has
    events, events_by_type, purchases and revenue.
    """
    seen: set[str] = set()
    minutes: dict[str, dict] = defaultdict(_zero)
    products: dict[int, dict] = defaultdict(_zero)
    minute_products: dict[str, dict[int, dict]] = defaultdict(lambda: defaultdict(_zero))
    for raw in records:
        event = contract.validate(contract.decode(raw))
        if isinstance(event, contract.Rejected) or event.row_id in seen:
            continue
        seen.add(event.row_id)
        minute = event.event_time[:16].replace("-", "").replace(" ", "").replace(":", "")
        for row in (minutes[minute], products[event.product_id], minute_products[minute][event.product_id]):
            row[event.event_type] += 1
            if event.event_type == "purchase":
                row["revenue"] += event.price
    by_type = {name: sum(row[name] for row in products.values()) for name in contract.EVENT_TYPES}
    totals = {"events": sum(by_type.values()), "events_by_type": by_type, "purchases": by_type["purchase"],
              "revenue": sum((row["revenue"] for row in products.values()), Decimal("0.00"))}
    return {"minutes": dict(minutes), "products": dict(products),
            "minute_products": {minute: dict(rows) for minute, rows in minute_products.items()}, "totals": totals}


def csv_records(path) -> list[bytes]:
    """The raw input records of a CSV file."""
    with open(path, "rb") as stream:
        return [raw for _, raw in contract.read_records(stream)]
