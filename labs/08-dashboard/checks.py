"""Public checks of lab 08 (`lab check 08`): your api.py called directly and through the dashboard's HTTP API
on fake data sources (dashboard/fakes.py: fixed documents, a source that is down), your page rendered on KPIs
of its own, then your functions on the real HDFS and HBase of a namespace where nothing ran yet."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

from dashboard import create_app
from dashboard.fakes import (BREAKDOWNS, BREAKDOWNS_AT, COMPUTED_AT, EVENTS, HOSTILE_BRAND, SUMMARY, TOTALS, USER_ID,
                             FakeLive, FakeSummary)
from dashboard.sources import Unavailable
from labctl.checking import Context, check

# A source that is down, as the checks' own Unavailable (not a message of the dashboard's).
DOWN = Unavailable("the check's source is down (a test)", "lab start the-checks-source")
# Texts that break the data contract's id rule: 1-19 ASCII digits, value 1..2^63-1.
NOT_IDS = ("abc", "-5", "+5", "1e3", "1.0", "0", "0x1F", "٣", "12345678901234567890", "9223372036854775808")


def short(value, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def get(ctx: Context, url: str, summary=None, live=None):
    """(status, JSON body or None, response) of GET ``url`` on the dashboard of the check's settings (so with
    your functions) over ``summary`` and ``live`` (default: the fakes). An exception that the app does not
    handle leaves the request (it would be a 500): the check then says which, and where."""
    app = create_app(ctx.settings, summary=summary or FakeSummary(), live=live or FakeLive())
    app.config["PROPAGATE_EXCEPTIONS"] = True
    response = app.test_client().get(url)
    body = response.get_json(silent=True)
    return response.status_code, body, response


def expect_json(ctx: Context, url: str, status: int, wanted, **sources) -> None:
    got_status, body, response = get(ctx, url, **sources)
    shown = short(body if body is not None else response.get_data(as_text=True))
    assert got_status == status and body == wanted, (
        f"GET {url} answered {got_status} {shown}; expected {status} {short(wanted)}")


def expect_error(ctx: Context, url: str, status: int, **sources) -> str:
    """GET ``url`` must answer ``status`` with {"error": <a message>}; the message."""
    got_status, body, response = get(ctx, url, **sources)
    shown = short(body if body is not None else response.get_data(as_text=True))
    assert got_status == status, f"GET {url} answered {got_status} {shown}; expected {status}"
    assert isinstance(body, dict) and set(body) == {"error"} and isinstance(body["error"], str) and body["error"], (
        f"GET {url} answered {status} with {shown}; expected a JSON object {{\"error\": \"why\"}}")
    return body["error"]


def expect_call(call: str, got, wanted) -> None:
    assert got == wanted, f"{call} returned {short(got)}; expected {short(wanted)}"


@check(points=2, hint="Each body is the summary's sections unchanged, with computed_at: summary.get() has both; "
                      "live totals are live.totals() as they are.")
def kpis_daily_and_live_totals_answer_their_documents(ctx: Context) -> None:
    bodies = {
        "kpis": {"computed_at": COMPUTED_AT, "kpis": SUMMARY["kpis"]},
        "daily": {"computed_at": COMPUTED_AT, "daily": SUMMARY["daily"]},
    }
    for name, wanted in bodies.items():
        got = getattr(ctx.student, name)(FakeSummary())
        assert isinstance(got, dict) and "computed_at" in got, (
            f"{name}(summary) returned {short(got)}: a dict with computed_at (when the run was computed) expected")
        expect_call(f"{name}(summary)", got, wanted)
    expect_call("live_totals(live)", ctx.student.live_totals(FakeLive()), TOTALS)
    for url, wanted in (("/api/kpis", bodies["kpis"]), ("/api/daily", bodies["daily"]), ("/api/live/totals", TOTALS)):
        expect_json(ctx, url, 200, wanted)


@check(points=2, hint="A source that cannot answer raises Unavailable: let it leave your endpoint functions; the app "
                      "answers it with your unavailable(error), which is 503 and {error, fix}.")
def a_source_that_is_down_is_a_503_with_error_and_fix(ctx: Context) -> None:
    wanted = {"error": DOWN.message, "fix": DOWN.fix}
    got = ctx.student.unavailable(DOWN)
    assert isinstance(got, tuple) and len(got) == 2, (
        f"unavailable(error) returned {short(got)}; expected (body, status)")
    assert got[1] == 503, (
        f"unavailable(error) gave status {got[1]!r}: a source that is down is 503 (not the server's fault)")
    expect_call("unavailable(error)", got, (wanted, 503))
    down_summary, down_live = FakeSummary(down=DOWN), FakeLive(down=DOWN)
    for url in ("/api/kpis", "/api/daily", "/api/products", "/api/products?category=kids"):
        expect_json(ctx, url, 503, wanted, summary=down_summary)
    for url in ("/api/live/totals", f"/api/customers/{USER_ID}"):
        expect_json(ctx, url, 503, wanted, live=down_live)


@check(points=2, hint="No category (None or empty): the run's top_products. A category: summary.category(name), "
                      "which has its own computed_at and names the category.")
def products_narrow_to_the_category_asked_for(ctx: Context) -> None:
    whole = {"computed_at": COMPUTED_AT, "top_products": SUMMARY["top_products"]}
    kids = {"computed_at": BREAKDOWNS_AT, "category": "kids",
            "top_products": BREAKDOWNS["by_category"]["kids"]["top_products"]}
    expect_call("products(summary, None)", ctx.student.products(FakeSummary(), None), whole)
    expect_call("products(summary, '')", ctx.student.products(FakeSummary(), ""), whole)
    expect_call("products(summary, 'kids')", ctx.student.products(FakeSummary(), "kids"), kids)
    expect_json(ctx, "/api/products", 200, whole)
    expect_json(ctx, "/api/products?category=", 200, whole)
    expect_json(ctx, "/api/products?category=kids", 200, kids)


@check(points=1, hint="summary.category(name) raises UnknownCategory for a category the run did not see: a 404 "
                      "whose message names the known ones. Do not catch it.")
def an_unknown_category_is_a_404_naming_the_known_ones(ctx: Context) -> None:
    message = expect_error(ctx, "/api/products?category=toys", 404)
    assert "toys" in message and "electronics" in message and "kids" in message, (
        f"the 404 says {message!r}; it should name the category asked for and the known ones (electronics, kids)")


@check(points=1, hint="The id rule is the data contract's (parse_user_id): int() accepts '-5' and '+5', float() "
                      "accepts '1e3'. A text that breaks it is the client's mistake: 400.")
def a_malformed_customer_id_is_a_400(ctx: Context) -> None:
    for text in NOT_IDS:
        got = ctx.student.customer(FakeLive(), text)
        assert isinstance(got, tuple) and len(got) == 2 and got[1] == 400, (
            f"customer(live, {text!r}) returned {short(got)}; expected ({{\"error\": ...}}, 400)")
        assert isinstance(got[0], dict) and set(got[0]) == {"error"}, (
            f"customer(live, {text!r}) gave the body {short(got[0])}; expected {{\"error\": \"why\"}}")
        expect_error(ctx, f"/api/customers/{quote(text)}", 400)


@check(points=1, hint="Look the user up by the int the id rule gives (leading zeros and all); a user without "
                      "events is 404, not 200 with an empty list.")
def a_customer_is_their_events_or_a_404(ctx: Context) -> None:
    found = ({"user_id": USER_ID, "events": EVENTS}, 200)
    for text in (str(USER_ID), f"00{USER_ID}"):
        got = ctx.student.customer(FakeLive(), text)
        expect_call(f"customer(live, {text!r})", got, found)
        assert type(got[0]["user_id"]) is int, (
            f"customer(live, {text!r}) gave user_id {got[0]['user_id']!r}, not an int")
        expect_json(ctx, f"/api/customers/{text}", 200, {**found[0], "total_events": len(EVENTS)})
    got = ctx.student.customer(FakeLive(), "5")
    assert isinstance(got, tuple) and len(got) == 2 and got[1] == 404 and set(got[0]) == {"error"}, (
        f"customer(live, '5') (a user without events) returned {short(got)}; expected ({{\"error\": ...}}, 404)")
    expect_error(ctx, "/api/customers/5", 404)


@check(points=1, hint="The API returns data: strings as they are, JSON-encoded by the app. Escaping markup is the "
                      "job of the page that shows it (templates escape by themselves).")
def markup_in_the_data_comes_back_as_json_data(ctx: Context) -> None:
    url = f"/api/customers/{USER_ID}"
    status, body, response = get(ctx, url)
    assert status == 200 and response.mimetype == "application/json", (
        f"GET {url} answered {status} {response.mimetype}; expected 200 application/json")
    brands = [event.get("brand") for event in (body or {}).get("events", [])]
    assert HOSTILE_BRAND in brands, f"GET {url} gave the brands {brands}; expected {HOSTILE_BRAND!r} as it is"
    assert b"&lt;" not in response.get_data(), f"GET {url} escaped markup as HTML inside the JSON"


# KPIs of the page check's own (not the fakes'): numbers a page could not show by chance.
PAGE_KPIS = {"computed_at": "2021-02-03T04:05:06+00:00",
             "kpis": {"events": 4321, "events_by_type": {"view": 4000, "cart": 200, "remove_from_cart": 21,
                                                          "purchase": 100},
                      "unique_users": 87, "unique_sessions": 123, "revenue": 98765.43, "purchases": 100, "orders": 55,
                      "aov": 1795.74, "conversion_rate": 0.125, "cart_abandonment_rate": 0.375}}


def page(ctx: Context, kpis: dict, summary, live) -> tuple[str, str]:
    """The student's lab 08 page for ``kpis`` (it must say when the run was computed), and its text as
    "|cell|cell|...|" (each tag a separator)."""
    from dashboard.pages import lab08_page

    app = create_app(ctx.settings, summary=summary, live=live)
    with app.test_request_context("/lab08"):
        html = lab08_page(ctx.settings, kpis)
    assert kpis["computed_at"] in html, "the page does not say when the run was computed (kpis.computed_at)"
    return html, "|" + re.sub(r"\|+", "|", re.sub(r"\s*<[^>]*>\s*", "|", html)) + "|"


@check(points=1, hint="In the content block: kpis.computed_at, then for each KPI that is a number its name in one "
                      "cell and {{ value }} in the next (a table), and the chart macro's daily-revenue chart.")
def your_page_shows_the_kpis(ctx: Context) -> None:
    html, cells = page(ctx, PAGE_KPIS, FakeSummary(), FakeLive())
    assert "<h1>Your KPIs</h1>" in html, "the page does not extend layout.html with the title Your KPIs"
    for name, value in PAGE_KPIS["kpis"].items():
        if isinstance(value, (int, float)):
            assert f"|{name}|{value}|" in cells, (
                f"the page does not show the KPI {name} and then its value {value} (only markup between)")
    assert 'data-chart="daily-revenue"' in html, "the page has no daily-revenue chart (macros.html's chart)"


@check(points=1, hint="On the real sources too: with no analytics run in the namespace the batch endpoints are 503 "
                      "with the command that makes one; the live ones answer (zeros, no events).",
       timeout=45, services=("namenode", "datanode", "hbase-thrift"))
def an_empty_namespace_answers_503_with_the_command_that_fills_it(ctx: Context) -> None:
    namespace = ctx.settings.namespace
    app = create_app(ctx.settings)
    app.config["PROPAGATE_EXCEPTIONS"] = True
    client = app.test_client()
    fix = f"lab pipeline --namespace {namespace} run --input datasets/sample/events.csv"
    for url in ("/api/kpis", "/api/daily", "/api/products", "/api/products?category=kids"):
        response = client.get(url)
        body = response.get_json(silent=True)
        assert response.status_code == 503 and isinstance(body, dict) and set(body) == {"error", "fix"}, (
            f"GET {url} in an empty namespace answered {response.status_code} "
            f"{short(body if body is not None else response.get_data(as_text=True))}; expected 503 {{error, fix}}")
        assert "No analytics run" in body["error"] and body["fix"] == fix, (
            f"GET {url} in an empty namespace answered {short(body)}; expected the fix {fix!r}")
    response = client.get("/api/live/totals")
    body = response.get_json(silent=True) or {}
    assert response.status_code == 200 and body.get("events") == 0, (
        f"GET /api/live/totals in an empty namespace answered {response.status_code} {short(body)}; expected 200 "
        "with 0 events")
    assert client.get("/api/customers/5").status_code == 404, "GET /api/customers/5 in an empty namespace is not 404"
