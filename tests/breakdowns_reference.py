"""The analytics run's dashboard breakdowns (docs/data-contract.md), computed in plain Python.

The reference that tests/unit/test_analyze.py and tests/integration/test_clean_analyze.py
compare pipeline.analyze's breakdowns with.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

TOP = 10


def _top(rows: list[tuple], name: str) -> list[dict]:
    """The first TOP {name, revenue, purchases} of (value, event_type, price) rows with a value,
    by revenue descending, then by value."""
    totals = {}
    for value, kind, price in rows:
        if value is None:
            continue
        revenue, purchases = totals.get(value, (Decimal(0), 0))
        totals[value] = (revenue + price, purchases + 1) if kind == "purchase" else (revenue, purchases)
    ranked = sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))[:TOP]
    return [{name: value, "revenue": float(revenue), "purchases": purchases} for value, (revenue, purchases) in ranked]


def _split(code: str | None) -> tuple[str, str]:
    """(category, subcategory) of a category code, 'unknown' for either part that is null."""
    category, _, subcategory = (code or "").partition(".")
    return category or "unknown", subcategory or "unknown"


def breakdowns(events: list[tuple]) -> dict:
    """The breakdowns of clean events given as (event_type, product_id, category_code, brand, price),
    code and brand normalised (None when null), price a Decimal."""
    by_category = defaultdict(lambda: ([], []))  # category -> (product rows, brand rows) for _top
    subcategories = {}
    for kind, product, code, brand, price in events:
        category, subcategory = _split(code)
        by_category[category][0].append((product, kind, price))
        by_category[category][1].append((brand, kind, price))
        if kind == "purchase":
            revenue, purchases = subcategories.get((category, subcategory), (Decimal(0), 0))
            subcategories[category, subcategory] = (revenue + price, purchases + 1)
    return {
        "by_category": {category: {"top_products": _top(products, "product_id"), "top_brands": _top(brands, "brand")}
                        for category, (products, brands) in sorted(by_category.items())},
        "revenue_by_subcategory": [
            {"category": category, "subcategory": subcategory, "revenue": float(revenue), "purchases": purchases}
            for (category, subcategory), (revenue, purchases) in
            sorted(subcategories.items(), key=lambda item: (item[0][0], -item[1][0], item[0][1]))],
    }
