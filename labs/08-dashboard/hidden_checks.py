"""Hidden checks of lab 08 (grading only, never shipped to students): your api.py on another analytics run and
other live totals (extra and null KPIs, two days, no top products, other categories), served from one cached
document as the real Summary does; customer ids at the edges of the data contract's id rule; your page on
another run's KPIs."""

from __future__ import annotations

import copy
import json
from urllib.parse import quote

from dashboard import create_app
from dashboard.sources import CUSTOMER_EVENTS, UnknownCategory
from labctl.checking import Context, check, public_checks

MAX_ID = 9223372036854775807
AT = "2023-04-05T06:07:08+00:00"
BREAKDOWNS_AT = "2023-04-05T06:07:11+00:00"
WASHER = {"product_id": 3600661, "revenue": 1198.0, "purchases": 2}
BALL = {"product_id": 28401079, "revenue": 12.35, "purchases": 1}
# Another run: a KPI the public documents lack (returning_users), KPIs that are null, an empty top_products.
RUN = {
    "computed_at": AT,
    "quality": {"input_records": 31, "valid": 30, "rejected": {"record_too_large": 0, "bad_field_count": 1,
                                                              "bad_event_time": 0, "bad_event_type": 0, "bad_id": 0,
                                                              "bad_price": 0},
                "duplicates_removed": 0, "clean_events": 30},
    "kpis": {"events": 30, "events_by_type": {"view": 27, "cart": 3, "remove_from_cart": 0, "purchase": 0},
             "unique_users": 9, "unique_sessions": 11, "revenue": 0.0, "purchases": 0, "orders": 0, "aov": None,
             "conversion_rate": 0.0, "cart_abandonment_rate": 1.0, "returning_users": 4},
    "funnel": {"view_sessions": 11, "cart_sessions": 3, "purchase_sessions": 0},
    "top_products": [],
    "top_brands": [],
    "revenue_by_category": [],
    "daily": [{"date": "2019-12-31", "events": 18, "purchases": 0, "revenue": 0.0},
              {"date": "2020-01-01", "events": 12, "purchases": 0, "revenue": 0.0}],
    "hourly": [{"hour": hour, "events": 30 if hour == 23 else 0} for hour in range(24)],
}
BREAKDOWNS = {
    "computed_at": BREAKDOWNS_AT,
    "by_category": {"appliances": {"top_products": [WASHER], "top_brands": []},
                    "sport": {"top_products": [BALL], "top_brands": []}},
    "revenue_by_subcategory": [],
}
TOTALS = {"events": 1234567, "events_by_type": {"view": 1200000, "cart": 30000, "remove_from_cart": 4000,
                                                 "purchase": 567},
          "purchases": 567, "revenue": 98765432.1}
EVENT = {"event_time": "2019-10-01 00:00:00", "event_type": "view", "product_id": 1, "category_id": 1,
         "category_code": None, "brand": None, "price": 0.0, "user_session": "s", "row_id": "c" * 32}
EVENTS = {MAX_ID: [{**EVENT, "user_id": MAX_ID}],
          1: [{**EVENT, "user_id": 1}, {**EVENT, "user_id": 1, "event_type": "cart", "row_id": "d" * 32}]}


class CachedSummary:
    """Summary's public methods over RUN and BREAKDOWNS, each one object handed out again at every call (the real
    Summary keeps the document it read in memory): an endpoint that changes it changes every later answer."""

    def __init__(self):
        self.run, self.breakdowns_document = copy.deepcopy(RUN), copy.deepcopy(BREAKDOWNS)

    def get(self) -> dict:
        return self.run

    def breakdowns(self) -> dict:
        return self.breakdowns_document

    def category(self, name: str) -> dict:
        by_category = self.breakdowns()["by_category"]
        if name not in by_category:
            raise UnknownCategory(name, by_category)
        return {"computed_at": BREAKDOWNS_AT, "category": name, **by_category[name]}


class OtherLive:
    """Live's public methods over TOTALS and the events of users 1 and MAX_ID."""

    customer_events = CUSTOMER_EVENTS

    def __init__(self):
        self.asked: list = []

    def minutes(self) -> dict:
        return {"latest_minute": None, "minutes": []}

    def totals(self) -> dict:
        return copy.deepcopy(TOTALS)

    def top_products(self) -> dict:
        return {"latest_minute": None, "since_minute": None, "window_minutes": 15, "top_products": []}

    def purchases(self) -> dict:
        return {"purchases": []}

    def user_events(self, user_id: int) -> list[dict]:
        self.asked.append(user_id)
        return copy.deepcopy(EVENTS.get(user_id, []))

    def user_event_count(self, user_id: int) -> int:
        return len(EVENTS.get(user_id, []))


def short(value, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def client(ctx: Context, summary=None, live=None):
    app = create_app(ctx.settings, summary=summary or CachedSummary(), live=live or OtherLive())
    app.config["PROPAGATE_EXCEPTIONS"] = True
    return app.test_client()


@check(points=2, hint="Each body is made of the run's sections as they are, whatever KPIs, days or categories the run "
                      "has; the summary's document is shared by every request, so build a new dict rather than "
                      "changing the one summary.get() returns.")
def the_endpoints_answer_another_run_as_it_is(ctx: Context) -> None:
    summary = CachedSummary()
    whole = {"computed_at": AT, "top_products": []}
    wanted = {
        "kpis(summary)": {"computed_at": AT, "kpis": RUN["kpis"]},
        "daily(summary)": {"computed_at": AT, "daily": RUN["daily"]},
        "products(summary, None)": whole,
        "products(summary, '')": whole,
        "products(summary, 'sport')": {"computed_at": BREAKDOWNS_AT, "category": "sport", "top_products": [BALL]},
    }
    calls = {
        "kpis(summary)": lambda: ctx.student.kpis(summary),
        "daily(summary)": lambda: ctx.student.daily(summary),
        "products(summary, None)": lambda: ctx.student.products(summary, None),
        "products(summary, '')": lambda: ctx.student.products(summary, ""),
        "products(summary, 'sport')": lambda: ctx.student.products(summary, "sport"),
    }
    for _ in range(2):  # twice: a second answer from the same cached document must be the same
        for call, answer in calls.items():
            got = answer()
            assert summary.run == RUN and summary.breakdowns_document == BREAKDOWNS, (
                f"{call} changed the document that the summary hands to every request: the next one sees it changed")
            assert got == wanted[call], f"{call} on another run returned {short(got)}; expected {short(wanted[call])}"
    got = ctx.student.live_totals(OtherLive())
    assert got == TOTALS, f"live_totals(live) returned {short(got)}; expected {short(TOTALS)}"
    http = client(ctx)
    for url, body in (("/api/kpis", wanted["kpis(summary)"]), ("/api/daily", wanted["daily(summary)"]),
                      ("/api/products?category=appliances",
                       {"computed_at": BREAKDOWNS_AT, "category": "appliances", "top_products": [WASHER]}),
                      ("/api/live/totals", TOTALS)):
        response = http.get(url)
        got = response.get_json(silent=True)
        assert response.status_code == 200 and got == body, (
            f"GET {url} on another run answered {response.status_code} {short(got)}; expected 200 {short(body)}")


# The id rule (the data contract's, parse_user_id): spaces around are trimmed, then 1-19 ASCII digits, 1..2^63-1.
FOUND = {str(MAX_ID): MAX_ID, "0000000000000000001": 1, " 1 ": 1}
WITHOUT_EVENTS = {"42": 42}
NOT_IDS = ("", "5\n", "1_000", "00000000000000000001", "0000000000000000000", "9999999999999999999", "１２", "²")


@check(points=1, hint="The id rule is the data contract's own, parse_user_id: it trims spaces and allows leading zeros "
                      "up to 19 digits, where int() also takes '1_000' and any length of zeros.")
def customer_ids_at_the_edges_of_the_id_rule(ctx: Context) -> None:
    for text, user_id in FOUND.items():
        live = OtherLive()
        got = ctx.student.customer(live, text)
        wanted = ({"user_id": user_id, "events": EVENTS[user_id]}, 200)
        assert got == wanted and type(got[0]["user_id"]) is int, (
            f"customer(live, {text!r}) returned {short(got)}; expected {short(wanted)}")
        assert live.asked == [user_id], f"customer(live, {text!r}) looked up {live.asked}; expected [{user_id}]"
    for text in WITHOUT_EVENTS:
        got = ctx.student.customer(OtherLive(), text)
        assert isinstance(got, tuple) and len(got) == 2 and got[1] == 404, (
            f"customer(live, {text!r}) (a valid id without events) returned {short(got)}; "
            f"expected ({{\"error\": ...}}, 404)")
    for text in NOT_IDS:
        live = OtherLive()
        got = ctx.student.customer(live, text)
        assert isinstance(got, tuple) and len(got) == 2 and got[1] == 400, (
            f"customer(live, {text!r}) returned {short(got)}; expected ({{\"error\": ...}}, 400)")
        assert live.asked == [], f"customer(live, {text!r}) looked up {live.asked} for an id the rule rejects"
    http = client(ctx)
    for text, status in ((str(MAX_ID), 200), ("1_000", 400), ("00000000000000000001", 400)):
        response = http.get(f"/api/customers/{quote(text)}")
        assert response.status_code == status, (
            f"GET /api/customers/{text} answered {response.status_code} "
            f"{short(response.get_json(silent=True) or response.get_data(as_text=True))}; expected {status}")


# Another run's KPIs for the page: an extra KPI, one missing (aov), one null, the events_by_type dict.
PAGE_KPIS = {"computed_at": "2024-07-08T09:10:11+00:00",
             "kpis": {"events": 777, "events_by_type": {"view": 700, "cart": 70, "remove_from_cart": 0, "purchase": 7},
                      "unique_users": 31, "revenue": 4321.5, "orders": 6, "conversion_rate": 0.0,
                      "cart_abandonment_rate": None, "returning_users": 12}}


@check(points=1, hint="Walk whatever KPIs the run has and keep those whose value is a number (Jinja's `is number`): "
                      "no row for a dict or a null, none for a KPI the run does not have.")
def your_page_shows_the_numeric_kpis_of_any_run(ctx: Context) -> None:
    _, cells = public_checks("08").page(ctx, PAGE_KPIS, CachedSummary(), OtherLive())
    for name, value in PAGE_KPIS["kpis"].items():
        if isinstance(value, (int, float)):
            assert f"|{name}|{value}|" in cells, (
                f"the page of another run does not show the KPI {name} and then its value {value}")
        else:
            assert f"|{name}|" not in cells, (
                f"the page shows a row for {name}, whose value {value!r} is not a number")
    for name in ("aov", "unique_sessions", "purchases"):
        assert f"|{name}|" not in cells, f"the page shows a row for {name}, a KPI this run does not have"
