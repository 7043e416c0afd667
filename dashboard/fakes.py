"""Fake data sources for the dashboard: ``create_app(settings, FakeSummary(), FakeLive())`` serves every page
and endpoint (but the pipeline health ones) from the fixed documents below, without HDFS or HBase
(the dashboard's tests and lab 08's checks use them).

Each fake has the public methods of its real source (``dashboard.sources.Summary`` and ``Live``) and
returns what they would for a tiny run; given ``down``, an ``Unavailable``, every method raises it.
"""

from __future__ import annotations

from dashboard.sources import CUSTOMER_EVENTS, Unavailable, UnknownCategory

COMPUTED_AT = "2020-01-16T08:00:00+00:00"
BREAKDOWNS_AT = "2020-01-16T08:00:01+00:00"
USER_ID = 512345678  # the one user with events
HOSTILE_BRAND = "<script>alert(1)</script>"  # pages must show it as text

PHONE = {"product_id": 1005115, "revenue": 1999.98, "purchases": 2}
TOY = {"product_id": 2053013555, "revenue": 25.5, "purchases": 1}
SUMMARY = {
    "computed_at": COMPUTED_AT,
    "quality": {"input_records": 14, "valid": 13,
                "rejected": {"record_too_large": 0, "bad_field_count": 0, "bad_event_time": 1, "bad_event_type": 0,
                             "bad_id": 0, "bad_price": 0},
                "duplicates_removed": 1, "clean_events": 12},
    "kpis": {"events": 12, "events_by_type": {"view": 7, "cart": 2, "remove_from_cart": 0, "purchase": 3},
             "unique_users": 3, "unique_sessions": 4, "revenue": 2025.48, "purchases": 3, "orders": 2, "aov": 1012.74,
             "conversion_rate": 0.5, "cart_abandonment_rate": 0.0},
    "funnel": {"view_sessions": 4, "cart_sessions": 2, "purchase_sessions": 2},
    "top_products": [PHONE, TOY],
    "top_brands": [{"brand": HOSTILE_BRAND, "revenue": 1999.98, "purchases": 2},
                   {"brand": "lego", "revenue": 25.5, "purchases": 1}],
    "revenue_by_category": [{"category": "electronics", "revenue": 1999.98, "purchases": 2},
                            {"category": "kids", "revenue": 25.5, "purchases": 1}],
    "daily": [{"date": "2020-01-15", "events": 12, "purchases": 3, "revenue": 2025.48}],
    "hourly": [{"hour": hour, "events": 12 if hour == 12 else 0} for hour in range(24)],
}
BREAKDOWNS = {
    "computed_at": BREAKDOWNS_AT,
    "by_category": {
        "electronics": {"top_products": [PHONE], "top_brands": [SUMMARY["top_brands"][0]]},
        "kids": {"top_products": [TOY], "top_brands": [SUMMARY["top_brands"][1]]},
    },
    "revenue_by_subcategory": [
        {"category": "electronics", "subcategory": "smartphone", "revenue": 1999.98, "purchases": 2},
        {"category": "kids", "subcategory": "toys", "revenue": 25.5, "purchases": 1},
    ],
}

PURCHASE = {"event_time": "2020-01-15 12:01:00", "event_type": "purchase", "product_id": 1005115,
            "category_id": 2053013555631882655, "category_code": "electronics.smartphone", "brand": HOSTILE_BRAND,
            "price": 999.99, "user_id": USER_ID, "user_session": "s-1", "row_id": "b" * 32}
EVENTS = [{**PURCHASE, "event_time": "2020-01-15 12:00:00", "event_type": "view", "row_id": "a" * 32}, PURCHASE]
MINUTES = {
    "latest_minute": "202001151201",
    "minutes": [{"minute": "202001151200", "view": 1, "cart": 0, "remove_from_cart": 0, "purchase": 0, "revenue": 0.0},
                {"minute": "202001151201", "view": 0, "cart": 0, "remove_from_cart": 0, "purchase": 1,
                 "revenue": 999.99}],
}
TOTALS = {"events": 2, "events_by_type": {"view": 1, "cart": 0, "remove_from_cart": 0, "purchase": 1},
          "purchases": 1, "revenue": 999.99}
TOP_PRODUCTS = {"latest_minute": "202001151201", "since_minute": "202001151147", "window_minutes": 15,
                "top_products": [{"product_id": 1005115, "view": 1, "cart": 0, "remove_from_cart": 0, "purchase": 1,
                                  "revenue": 999.99}]}
PURCHASES = {"purchases": [PURCHASE]}


class _Fake:
    def __init__(self, down: Unavailable | None = None):
        self.down = down

    def _answer(self, document):
        """``document``, or raise ``down``."""
        if self.down is not None:
            raise self.down
        return document


class FakeSummary(_Fake):
    """``Summary``'s public methods over SUMMARY and BREAKDOWNS (or raising ``down``)."""

    def get(self) -> dict:
        return self._answer(SUMMARY)

    def breakdowns(self) -> dict:
        return self._answer(BREAKDOWNS)

    def category(self, name: str) -> dict:
        by_category = self.breakdowns()["by_category"]
        if name not in by_category:
            raise UnknownCategory(name, by_category)
        return {"computed_at": BREAKDOWNS_AT, "category": name, **by_category[name]}


class FakeLive(_Fake):
    """``Live``'s public methods over MINUTES, TOTALS, TOP_PRODUCTS, PURCHASES and USER_ID's EVENTS
    (or raising ``down``)."""

    customer_events = CUSTOMER_EVENTS

    def minutes(self) -> dict:
        return self._answer(MINUTES)

    def totals(self) -> dict:
        return self._answer(TOTALS)

    def top_products(self) -> dict:
        return self._answer(TOP_PRODUCTS)

    def purchases(self) -> dict:
        return self._answer(PURCHASES)

    def user_events(self, user_id: int) -> list[dict]:
        return self._answer(EVENTS if user_id == USER_ID else [])

    def user_event_count(self, user_id: int) -> int:
        return len(self.user_events(user_id))
