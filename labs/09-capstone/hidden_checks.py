"""Hidden checks of lab 09 (grading only): what the whole pipeline's outputs say beyond the counts that the public
checks compare. They read the same end-to-end run as the public checks (the public checks module's, when it ran
first in this worker; made here otherwise), then look where a reader looks: the batch summary section by section,
the dashboard's customer and latest-purchase views, the stream's per-minute and per-product rows.

The truth is the reference contract's verdict on each record of the run's file or of the raw topic.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal
from types import ModuleType
from typing import Iterable

from dashboard import create_app
from dashboard.sources import LATEST_PURCHASES
from labctl.checking import Context, check, public_checks
from pipeline import contract, realtime, store
from pipeline.readback import file_lines, topic_records

STACK = ("kafka", "hbase", "hdfs")
RUN_S = 300  # as the public checks that read the end-to-end run: a check run alone makes it
TYPES = contract.EVENT_TYPES
EXTRA_USER = 1001  # the user of the records the public checks append to the run's file
SHOWN = 3  # differences quoted in a message


def public() -> ModuleType:
    """The public checks module of lab 09 (its end-to-end run is cached there)."""
    return public_checks("09")


def distinct_events(raws: Iterable[bytes]) -> dict[str, contract.Event]:
    """The distinct valid events of raw records, by row id (the reference contract's verdicts)."""
    events = {}
    for raw in raws:
        verdict = contract.validate(contract.decode(raw))
        if isinstance(verdict, contract.Event):
            events[verdict.row_id] = verdict
    return events


def topic_events(ctx: Context) -> dict[str, contract.Event]:
    return distinct_events(record.value for record in topic_records(ctx.settings, ctx.settings.raw_topic))


def half_up(top, bottom, places: str) -> float:
    return float((Decimal(top) / Decimal(bottom)).quantize(Decimal(places), ROUND_HALF_UP)) if bottom else 0.0


def money(values: Iterable[Decimal]) -> Decimal:
    return sum(values, Decimal("0.00"))


def plain_summary(events: dict[str, contract.Event]) -> dict:
    """The summary's kpis, funnel, top_products, daily and hourly of distinct events, in plain Python
    (docs/data-contract.md), as the summary JSON writes them (money and rates as floats)."""
    flags: dict[str, set[str]] = defaultdict(set)
    for e in events.values():
        if e.user_session is not None:
            flags[e.user_session].add(e.event_type)
    viewed, carted, bought = (sum(kind in kinds for kinds in flags.values()) for kind in ("view", "cart", "purchase"))
    abandoned = sum("cart" in kinds and "purchase" not in kinds for kinds in flags.values())
    purchases = [e for e in events.values() if e.event_type == "purchase"]
    revenue = money(e.price for e in purchases)
    by_type = Counter(e.event_type for e in events.values())
    kpis = {"events": len(events), "events_by_type": {kind: by_type[kind] for kind in TYPES},
            "unique_users": len({e.user_id for e in events.values()}), "unique_sessions": len(flags),
            "revenue": float(revenue), "purchases": len(purchases), "orders": bought,
            "aov": half_up(revenue, bought, "0.01"), "conversion_rate": half_up(bought, viewed, "0.0001"),
            "cart_abandonment_rate": half_up(abandoned, carted, "0.0001")}
    products: dict[int, list] = {}  # every product with an event: [revenue, purchases]
    for e in events.values():
        product = products.setdefault(e.product_id, [Decimal("0.00"), 0])
        if e.event_type == "purchase":
            product[0] += e.price
            product[1] += 1
    top = sorted(products.items(), key=lambda item: (-item[1][0], item[0]))[:10]
    days: dict[str, list] = defaultdict(lambda: [0, 0, Decimal("0.00")])
    for e in events.values():
        day = days[e.event_date]
        day[0] += 1
        if e.event_type == "purchase":
            day[1] += 1
            day[2] += e.price
    hours = Counter(e.event_hour for e in events.values())
    return {
        "kpis": kpis,
        "funnel": {"view_sessions": viewed, "cart_sessions": carted, "purchase_sessions": bought},
        "top_products": [{"product_id": p, "revenue": float(r), "purchases": n} for p, (r, n) in top],
        "daily": [{"date": d, "events": n, "purchases": b, "revenue": float(r)} for d, (n, b, r) in sorted(days.items())],
        "hourly": [{"hour": h, "events": hours[h]} for h in range(24)],
    }


def differences(got: dict, wanted: dict) -> list[str]:
    """'key: got x, expected y' for the keys whose values differ (a key missing on one side shows as None)."""
    return [f"{key}: {got.get(key)!r}, expected {wanted.get(key)!r}"
            for key in sorted(got.keys() | wanted.keys(), key=str) if got.get(key) != wanted.get(key)]


# ---------------------------------------------------------------------------------------------------


@check(points=2, spark=True, timeout=RUN_S, services=STACK,
       hint="Open your run's summary (README step 2) next to the dashboard's Overview: the funnel and the conversion "
            "count sessions, every daily and hourly figure counts each distinct event once, by its UTC day and hour, "
            "and money is the purchases' prices only (labs 05 and 06).")
def the_summary_of_the_run_agrees_with_its_events_section_by_section(ctx: Context) -> None:
    path, summary = public().whole_run(ctx)
    wanted = plain_summary(distinct_events(file_lines(path).values()))
    for section in ("kpis", "funnel"):
        wrong = differences({k: summary.get(section, {}).get(k) for k in wanted[section]}, wanted[section])
        assert not wrong, (f"the summary of your run has in {section}: {'; '.join(wrong[:SHOWN])} (the file's "
                           f"{wanted['kpis']['events']} distinct valid events, counted in plain Python)")
    for section, key in (("top_products", "product_id"), ("daily", "date"), ("hourly", "hour")):
        got_rows = [{k: row.get(k) for k in wanted[section][0]} for row in summary.get(section) or []]
        if got_rows != wanted[section]:
            wrong = differences({row[key]: row for row in got_rows}, {row[key]: row for row in wanted[section]})
            order = "" if wrong else " (the same rows, in another order)"
            assert False, (f"the summary of your run has {len(got_rows)} {section} rows, {len(wanted[section])} "
                           f"expected{order}: {'; '.join(wrong[:SHOWN])}")


@check(points=2, spark=True, timeout=RUN_S, services=STACK,
       hint="Your dashboard finds a customer with one prefix scan of the events table and the latest purchases with "
            "one reverse scan of the purchases table: both only work when each key starts with what they scan by, "
            "written so that the bytes sort as the values do (lab 03's keys, lab 08's endpoints).")
def the_dashboard_serves_customers_and_latest_purchases_in_time_order(ctx: Context) -> None:
    public().whole_run(ctx)
    events = topic_events(ctx)
    by_user: dict[int, list[contract.Event]] = defaultdict(list)
    for e in events.values():
        by_user[e.user_id].append(e)
    busiest = max(by_user, key=lambda user: (len(by_user[user]), user))
    users = sorted({EXTRA_USER, min(by_user), max(by_user), busiest} & by_user.keys())
    client = create_app(ctx.settings).test_client()
    for user in users:
        url = f"/api/customers/{user}"
        response = client.get(url)
        body = response.get_json(silent=True) or {}
        wanted = [(e.event_time, e.event_type, e.row_id) for e in sorted(by_user[user], key=lambda e: (e.event_time,
                                                                                                      e.row_id))]
        assert response.status_code == 200, (
            f"GET {url} answered {response.status_code} {str(body)[:120]}; the topic holds {len(wanted)} events of "
            f"user {user}")
        got = [(e.get("event_time"), e.get("event_type"), e.get("row_id")) for e in body.get("events") or []]
        assert got == wanted, (f"GET {url} lists (event_time, event_type, row_id) {got[:SHOWN]}... ({len(got)} "
                               f"events); expected {wanted[:SHOWN]}... ({len(wanted)}), in time order")
    purchases = sorted((e for e in events.values() if e.event_type == "purchase"),
                       key=lambda e: (e.event_time, e.row_id), reverse=True)
    response = client.get("/api/live/purchases")
    body = response.get_json(silent=True) or {}
    got = [(p.get("event_time"), p.get("row_id")) for p in body.get("purchases") or []]
    wanted = [(e.event_time, e.row_id) for e in purchases[:LATEST_PURCHASES]]
    assert response.status_code == 200 and got and got == wanted, (
        f"GET /api/live/purchases answered {response.status_code} with (event_time, row_id) {got[:SHOWN]}; the "
        f"latest purchases of the topic are {wanted[:SHOWN]}")


@check(points=2, spark=True, timeout=RUN_S, services=STACK,
       hint="Each event counts once in the row of its UTC minute (written yyyyMMddHHmm, a 24-hour clock) and once in "
            "its product's row, and revenue adds purchase prices only: compare `scan '${USER}_rt_minute'` with your "
            "events (lab 07's aggregates).")
def the_live_minutes_and_products_count_each_event_once(ctx: Context) -> None:
    public().whole_run(ctx)
    with public().no_empty_batches(ctx) as spark:  # whatever the topic holds that the stream has not read yet
        realtime.run(ctx.settings, available_now=True, spark=spark)
    events = topic_events(ctx)
    minutes: dict[str, dict] = defaultdict(store.zero)
    products: dict[int, dict] = defaultdict(store.zero)
    for e in events.values():
        minute = e.event_time[:16].replace("-", "").replace(" ", "").replace(":", "")
        for row in (minutes[minute], products[e.product_id]):
            row[e.event_type] += 1
            if e.event_type == "purchase":
                row["revenue"] += e.price
    got_minutes = {row.pop("minute"): row for row in store.minute_counts(ctx.settings, "0")}
    wrong = differences(got_minutes, minutes)
    assert not wrong, (f"the stream's minute rows: {len(got_minutes)} rows for the topic's {len(minutes)} minutes "
                       f"with events, {len(wrong)} differ, e.g. {'; '.join(wrong[:2])}")
    got_products = {row.pop("product_id"): row for row in store.product_totals(ctx.settings)}
    wrong = differences(got_products, products)
    assert not wrong, (f"the stream's product rows: {len(got_products)} rows for the topic's {len(products)} "
                       f"products, {len(wrong)} differ, e.g. {'; '.join(wrong[:2])}")
