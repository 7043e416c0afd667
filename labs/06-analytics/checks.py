"""Public checks of lab 06 (`lab check 06`): your analytics.py on small clean tables built here, under a time zone
that is not UTC where time matters, then the whole analyze stage on a generated file in HDFS."""

from __future__ import annotations

import itertools
from collections import Counter
from contextlib import contextmanager
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

from labctl.checking import Context, check, local_time_zone
from pipeline import analyze, clean, contract, landing

# The clean table's columns and types (docs/data-contract.md, "Normalised event").
SCHEMA = ("event_time timestamp, event_type string, product_id long, category_id long, category_code string, "
          "brand string, price decimal(38,2), user_id long, user_session string, event_date date, event_hour int, "
          "category string, subcategory string, row_id string")
FUNNEL_SCHEMA = "view_sessions long, cart_sessions long, purchase_sessions long"
OTHER_ZONE = "Asia/Kathmandu"  # UTC+05:45: every hour and late-evening date differs from UTC
_ids = itertools.count(1)


def event(moment: str, kind: str, product: int = 1, price: str = "1.00", user: int = 1, session: str | None = "s1",
          brand: str | None = None, code: str | None = None) -> tuple:
    """One clean event (a row of SCHEMA) at ``moment``, a UTC time as text."""
    when = datetime.strptime(moment, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)  # aware: no local time
    category = code.split(".", 1)[0] if code else None
    subcategory = code.split(".", 1)[1] if code and "." in code else None
    return (when, kind, product, 2053013555631882655, code, brand, Decimal(price), user, session, when.date(),
            when.hour, category, subcategory, f"{next(_ids):032x}")


def views(ctx: Context, rows: list[tuple], funnel: tuple[int, int, int] | None = None):
    """Register ``rows`` as the clean_events view and its sessions view, as the analyze stage does (and, for kpis,
    a funnel view holding ``funnel``); returns the session."""
    spark = ctx.spark
    spark.conf.set("spark.sql.shuffle.partitions", "2")  # tiny tables: few tasks
    spark.createDataFrame(rows, SCHEMA).createOrReplaceTempView("clean_events")
    spark.sql(analyze.SESSIONS).createOrReplaceTempView("sessions")
    if funnel is not None:
        spark.createDataFrame([funnel], FUNNEL_SCHEMA).createOrReplaceTempView("funnel")
    return spark


def collect(ctx: Context, name: str, spark) -> list[dict]:
    """Your function ``name`` called with the session, its rows as dicts (structs as dicts too)."""
    frame = getattr(ctx.student, name)(spark)
    assert hasattr(frame, "collect") and hasattr(frame, "columns"), (
        f"{name}(spark) returned a {type(frame).__name__}; return the DataFrame of spark.sql(...)")
    return [row.asDict(recursive=True) for row in frame.collect()]


def only_row(rows: list[dict], name: str) -> dict:
    assert len(rows) == 1, f"{name} returned {len(rows)} rows, expected one"
    return rows[0]


def columns(rows: list[dict], name: str, wanted: list[str]) -> None:
    """The rows have the columns ``wanted`` (in any order)."""
    got = list(rows[0]) if rows else []
    missing, extra = [c for c in wanted if c not in got], [c for c in got if c not in wanted]
    problems = ", ".join(([f"missing {missing}"] if missing else []) + ([f"extra {extra}"] if extra else []))
    assert not problems, f"{name} returned the columns {got}, expected {wanted}: {problems}"


def number(value) -> Decimal | None:
    """A number as an exact Decimal (a float through its shortest text), None for None."""
    return None if value is None else Decimal(str(value))


def money(name: str, value, wanted: str) -> None:
    """``value`` is the DECIMAL amount ``wanted``."""
    assert isinstance(value, Decimal), (f"{name} is {value!r}, a {type(value).__name__}: money must stay DECIMAL "
                                        f"(expected Decimal('{wanted}'))")
    assert value == Decimal(wanted), f"{name} is {value}, expected {wanted}"


def as_date(value) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def shown(row: tuple) -> str:
    return "(" + ", ".join("null" if v is None else repr(v) if isinstance(v, str) else str(v) for v in row) + ")"


def same_rows(name: str, columns_shown: str, got: list[tuple], wanted: list[tuple]) -> None:
    """``got`` equals ``wanted``, else an AssertionError naming the first row that differs."""
    if got == wanted:
        return
    place = next((i for i, (g, w) in enumerate(zip(got, wanted)) if g != w), min(len(got), len(wanted)))
    found = shown(got[place]) if place < len(got) else "missing"
    expected = shown(wanted[place]) if place < len(wanted) else "no such row"
    raise AssertionError(f"{name} returned {len(got)} rows {columns_shown}, expected {len(wanted)}; row {place + 1} is "
                         f"{found}, expected {expected}")


@contextmanager
def not_utc(spark, zone: str = OTHER_ZONE):
    """Run the code inside where local time is ``zone``: the Spark session's time zone, this process's (the driver's)
    and that of the Python workers a UDF would start; everything is put back afterwards."""
    saved = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", zone)
    try:
        with local_time_zone(zone, spark):
            yield
    finally:
        spark.conf.set("spark.sql.session.timeZone", saved)


# Four sessions and three events without one: s1 views twice, carts and buys; s2 views twice; s3 views, carts and
# removes; s4 buys three times without a view; outside any session, a view, a purchase for 7.00 and a cart.
SHOP = [
    event("2019-10-01 10:00:00", "view", 1, "10.00", 1, "s1"),
    event("2019-10-01 10:01:00", "view", 1, "10.00", 1, "s1"),
    event("2019-10-01 10:02:00", "cart", 1, "10.00", 1, "s1"),
    event("2019-10-01 10:03:00", "purchase", 1, "10.00", 1, "s1"),
    event("2019-10-01 11:00:00", "view", 2, "5.00", 1, "s2"),
    event("2019-10-01 11:01:00", "view", 3, "250.00", 1, "s2"),
    event("2019-10-02 09:00:00", "view", 2, "5.00", 2, "s3"),
    event("2019-10-02 09:01:00", "cart", 2, "5.00", 2, "s3"),
    event("2019-10-02 09:02:00", "remove_from_cart", 2, "5.00", 2, "s3"),
    event("2019-10-02 12:00:00", "purchase", 3, "0.10", 3, "s4"),
    event("2019-10-02 12:00:00", "purchase", 3, "0.10", 3, "s4"),
    event("2019-10-02 12:01:00", "purchase", 4, "0.10", 3, "s4"),
    event("2019-10-03 08:00:00", "view", 1, "10.00", 4, None),
    event("2019-10-03 08:05:00", "purchase", 1, "7.00", 4, None),
    event("2019-10-03 08:06:00", "cart", 5, "99.00", 4, None),
]
SHOP_FUNNEL = (3, 2, 2)  # view sessions s1 s2 s3; cart sessions s1 s3; purchase sessions s1 s4


@check(points=1, spark=True, timeout=90,
       hint="A session counts once however many events it has, and an event without a session is in no session: "
            "count sessions (the sessions view has one row per session), not events.")
def funnel_counts_sessions_not_events(ctx: Context) -> None:
    rows = collect(ctx, "funnel", views(ctx, SHOP))
    got = only_row(rows, "funnel")
    columns(rows, "funnel", ["view_sessions", "cart_sessions", "purchase_sessions"])
    wanted = dict(zip(["view_sessions", "cart_sessions", "purchase_sessions"], SHOP_FUNNEL))
    assert got == wanted, (f"funnel of 15 events in 4 sessions (s1 views twice, carts, buys; s2 views twice; s3 views, "
                           f"carts; s4 buys 3 times; 3 events without a session) returned {got}, expected {wanted}")


@check(points=2, spark=True, timeout=90,
       hint="Revenue is what customers paid: only purchase events bring money, whatever price a view shows. "
            "Orders and conversion count sessions (the funnel view has them), and money stays DECIMAL.")
def kpis_count_sessions_and_sum_purchases_only(ctx: Context) -> None:
    rows = collect(ctx, "kpis", views(ctx, SHOP, SHOP_FUNNEL))
    got = only_row(rows, "kpis")
    columns(rows, "kpis", ["events", "events_by_type", "unique_users", "unique_sessions", "revenue", "purchases",
                           "orders", "aov", "conversion_rate", "cart_abandonment_rate"])
    counts = {name: got[name] for name in ("events", "unique_users", "unique_sessions", "purchases", "orders")}
    wanted = {"events": 15, "unique_users": 4, "unique_sessions": 4, "purchases": 5, "orders": 2}
    assert counts == wanted, f"kpis counts {counts}, expected {wanted} (orders: sessions with a purchase)"
    by_type = got["events_by_type"]
    wanted_types = {"view": 6, "cart": 3, "remove_from_cart": 1, "purchase": 5}
    assert by_type == wanted_types, f"events_by_type is {by_type}, expected {wanted_types}"
    money("revenue (10.00 + 3 x 0.10 + 7.00 of purchases; views and carts show other prices)", got["revenue"], "17.30")
    money("aov (revenue 17.30 / 2 orders)", got["aov"], "8.65")
    rates = {name: number(got[name]) for name in ("conversion_rate", "cart_abandonment_rate")}
    wanted_rates = {"conversion_rate": Decimal("0.6667"), "cart_abandonment_rate": Decimal("0.5")}
    assert rates == wanted_rates, (f"rates {rates}, expected {wanted_rates}: 2 of the 3 sessions with a view have a "
                                   f"purchase, 1 of the 2 sessions with a cart has none")


def rounding_shop() -> list[tuple]:
    """6 orders worth 7.35 (aov 1.225), 192 sessions with a view (conversion 6/192 = 0.03125), 32 with a cart of
    which 29 without a purchase (abandonment 0.90625): every ratio ends exactly on a 5."""
    rows = [event("2019-10-05 10:00:00", "purchase", 7, "2.35" if n == 5 else "1.00", 100 + n, f"o{n}")
            for n in range(6)]
    rows += [event("2019-10-05 09:59:00", "cart", 7, "1.00", 100 + n, f"o{n}") for n in range(3)]
    rows += [event("2019-10-05 11:00:00", "cart", 8, "3.00", 200 + n, f"c{n}") for n in range(29)]
    rows += [event("2019-10-05 12:00:00", "view", 9, "4.00", 300 + n, f"v{n}") for n in range(192)]
    return rows


@check(points=2, spark=True, timeout=90,
       hint="A DOUBLE cannot hold 1.225 (it is 1.2249999...): divide DECIMALs and round once, half up, not half even. "
            "With no order, no view or no cart a ratio is 0: look for the division in the Spark SQL functions "
            "that tolerates a divisor of 0.")
def kpis_round_half_up_and_are_0_without_a_divisor(ctx: Context) -> None:
    got = only_row(collect(ctx, "kpis", views(ctx, rounding_shop(), (192, 32, 6))), "kpis")
    money("revenue", got["revenue"], "7.35")
    money("aov (7.35 / 6 orders = 1.225, rounded half up)", got["aov"], "1.23")
    rates = {name: number(got[name]) for name in ("conversion_rate", "cart_abandonment_rate")}
    wanted = {"conversion_rate": Decimal("0.0313"), "cart_abandonment_rate": Decimal("0.9063")}
    assert rates == wanted, (f"rates {rates}, expected {wanted} (6 / 192 = 0.03125 and 29 / 32 = 0.90625, "
                             f"rounded half up to 4 places)")
    idle = [event("2019-10-06 10:00:00", "remove_from_cart", 1, "5.00", 1, "r1"),
            event("2019-10-06 10:01:00", "remove_from_cart", 2, "6.00", 1, "r1"),
            event("2019-10-06 10:02:00", "remove_from_cart", 1, "5.00", 2, "r2"),
            event("2019-10-06 10:03:00", "view", 1, "5.00", 3, None)]
    got = only_row(collect(ctx, "kpis", views(ctx, idle, (0, 0, 0))), "kpis")
    zeros = {name: got[name] for name in ("revenue", "purchases", "orders", "aov", "conversion_rate",
                                          "cart_abandonment_rate")}
    assert all(value is not None and number(value) == 0 for value in zeros.values()), (
        f"kpis of a shop without a purchase, a view session or a cart session returned {zeros}; expected 0 for each")
    assert got["events_by_type"] == {"view": 1, "cart": 0, "remove_from_cart": 3, "purchase": 0}, (
        f"events_by_type is {got['events_by_type']}; every type is there, 0 when it has no event")


# Products, brands and categories: (product, brand, code, events as (type, price)).
CATALOGUE = [
    (1005007, "zeta", "electronics.smartphone", [("view", "100.00"), ("purchase", "100.00")]),
    (1003, "acme", "appliances.kitchen.blender", [("view", "10.00")] + [("purchase", "10.00")] * 3),
    (2005, "beta", "computers.notebook", [("purchase", "30.00")]),
    (40, "acme", "appliances.kitchen.blender", [("cart", "5.00"), ("purchase", "5.00")]),
    (3, "beta", "computers.mouse", [("purchase", "5.00")]),
    (12, None, None, [("purchase", "1.00")] * 2 + [("view", "500.00")] * 4),
    (7, "delta", "kids.toys", [("view", "3.00")]),
    (900, "echo", "kids.toys", [("view", "3.00")]),
    (31, "foxtrot", "electronics.audio", [("cart", "20.00")]),
    (8000, "golf", None, [("view", "1.00")]),
    (60, "hotel", "sport", [("view", "1.00")]),
    (61, "india", "sport", [("remove_from_cart", "1.00")]),
    (5, "juliet", "electronics.smartphone", [("view", "900.00")]),
    (44, "kilo", None, [("view", "1.00")]),
]


def catalogue_events() -> list[tuple]:
    rows = []
    for n, (product, brand, code, events) in enumerate(CATALOGUE):
        for m, (kind, price) in enumerate(events):
            rows.append(event(f"2019-10-07 {n:02d}:{m:02d}:00", kind, product, price, 500 + n, f"p{n}-{m}", brand,
                              code))
    return rows[::-1]


def ranking(rows: list[dict], key: str) -> list[tuple]:
    return [(row[key], row["revenue"], row["purchases"]) for row in rows]


def wanted_ranking(pairs: list[tuple]) -> list[tuple]:
    return [(key, Decimal(revenue), purchases) for key, revenue, purchases in pairs]


@check(points=1, spark=True, timeout=90,
       hint="The best product is the one that brought the most money, not the one bought most often; equal revenue: "
            "the lower product_id first; a product only viewed competes with revenue 0.")
def top_products_rank_by_revenue_then_product_id(ctx: Context) -> None:
    rows = collect(ctx, "top_products", views(ctx, catalogue_events()))
    columns(rows, "top_products", ["product_id", "revenue", "purchases"])
    assert all(isinstance(row["revenue"], Decimal) for row in rows), "revenue must stay DECIMAL"
    wanted = wanted_ranking([(1005007, "100.00", 1), (1003, "30.00", 3), (2005, "30.00", 1), (3, "5.00", 1),
                             (40, "5.00", 1), (12, "2.00", 2), (5, "0", 0), (7, "0", 0), (31, "0", 0), (44, "0", 0)])
    same_rows("top_products of 14 products", "(product_id, revenue, purchases)", ranking(rows, "product_id"), wanted)


@check(points=1, spark=True, timeout=90,
       hint="An event without a brand belongs to no brand: leave it out before ranking. Equal revenue: brands in "
            "alphabetical order.")
def top_brands_leave_out_events_without_a_brand(ctx: Context) -> None:
    rows = collect(ctx, "top_brands", views(ctx, catalogue_events()))
    columns(rows, "top_brands", ["brand", "revenue", "purchases"])
    wanted = wanted_ranking([("zeta", "100.00", 1), ("acme", "35.00", 4), ("beta", "35.00", 2), ("delta", "0", 0),
                             ("echo", "0", 0), ("foxtrot", "0", 0), ("golf", "0", 0), ("hotel", "0", 0),
                             ("india", "0", 0), ("juliet", "0", 0)])
    same_rows("top_brands of 13 brands", "(brand, revenue, purchases)", ranking(rows, "brand"), wanted)


@check(points=1, spark=True, timeout=90,
       hint="Only purchases bring revenue, so only categories with a purchase appear; a purchase without a category "
            "is counted under 'unknown', not dropped and not null.")
def revenue_by_category_names_null_unknown(ctx: Context) -> None:
    rows = collect(ctx, "revenue_by_category", views(ctx, catalogue_events()))
    columns(rows, "revenue_by_category", ["category", "revenue", "purchases"])
    wanted = wanted_ranking([("electronics", "100.00", 1), ("appliances", "35.00", 4), ("computers", "35.00", 2),
                             ("unknown", "2.00", 2)])
    same_rows("revenue_by_category", "(category, revenue, purchases)", ranking(rows, "category"), wanted)


def days() -> list[tuple]:
    """14 days, inserted newest first; each with a view at 23:50 UTC (the next day in Asia), some with a purchase
    and some with a cart."""
    rows = []
    for n, day in enumerate(["2019-10-01", "2019-10-02", "2019-10-03", "2019-10-04", "2019-10-05", "2019-10-06",
                             "2019-10-07", "2019-10-08", "2019-10-09", "2019-10-10", "2019-10-11", "2019-10-20",
                             "2019-11-30", "2020-01-01"]):
        rows.append(event(f"{day} 23:50:00", "view", 1, "9.99", 1, f"d{n}"))
        if n % 3:
            rows.append(event(f"{day} 18:30:00", "purchase", 2, f"{n}.25", 2, f"e{n}"))
        if n % 2:
            rows.append(event(f"{day} 00:05:00", "cart", 3, "1.00", 3, f"f{n}"))
    return rows[::-1]


@check(points=1, spark=True, timeout=90,
       hint="A day is the event_date the clean stage wrote (UTC), not a date computed from event_time in some time "
            "zone; a GROUP BY does not sort: say the order; a day without purchases has revenue 0.")
def daily_rows_are_utc_days_in_date_order(ctx: Context) -> None:
    rows = days()
    spark = views(ctx, rows)
    with not_utc(spark):
        got_rows = collect(ctx, "daily", spark)
    columns(got_rows, "daily", ["date", "events", "purchases", "revenue"])
    wanted = {}
    for row in rows:  # (event_time, event_type, ..., price, ...): the UTC day is the time's text
        day = wanted.setdefault(row[0].strftime("%Y-%m-%d"), [0, 0, Decimal("0")])
        day[0] += 1
        if row[1] == "purchase":
            day[1] += 1
            day[2] += row[6]
    wanted_list = [(day, *values) for day, values in sorted(wanted.items())]
    got = [(as_date(row["date"]), row["events"], row["purchases"], row["revenue"]) for row in got_rows]
    same_rows(f"daily (in the time zone {OTHER_ZONE})", "(date, events, purchases, revenue)", got, wanted_list)


HOURS = ["2019-10-01 00:10:00", "2019-10-02 00:59:59", "2019-10-01 05:20:00", "2019-10-01 12:00:00",
         "2019-10-03 12:30:00", "2019-10-04 12:45:00", "2019-10-01 18:14:00", "2019-10-01 23:50:00",
         "2019-10-05 23:00:00"]


@check(points=1, spark=True, timeout=90,
       hint="Every hour 0-23 must have a row, even one without events: start from the 24 hours, not from the "
            "events. The hour is the event_hour the clean stage wrote (UTC), whatever the local time zone.")
def hourly_has_all_24_utc_hours(ctx: Context) -> None:
    spark = views(ctx, [event(moment, "purchase" if n == 3 else "view", 1, "2.00", n, f"h{n}")
                        for n, moment in enumerate(HOURS)])
    with not_utc(spark):
        rows = collect(ctx, "hourly", spark)
    columns(rows, "hourly", ["hour", "events"])
    wanted = [(hour, 0) for hour in range(24)]
    for moment in HOURS:
        hour = int(moment[11:13])
        wanted[hour] = (hour, wanted[hour][1] + 1)
    got = [(row["hour"], row["events"]) for row in rows]
    assert len(got) == 24, f"hourly returned {len(got)} rows, expected 24 (hours 0-23, 0 events where none): {got}"
    assert got == wanted, (f"hourly (in the time zone {OTHER_ZONE}) returned (hour, events) {[g for g in got if g[1]]} "
                           f"for its non-empty hours; expected {[w for w in wanted if w[1]]} (UTC)")


def contract_events(spark, path) -> list:
    """The clean events of a CSV: its records through the given apply_contract (the contract in Spark), the valid
    ones, one per row id (rows with event_type, price, user_id, user_session)."""
    with open(path, "rb") as stream:
        records = [(contract.decode(raw),) for _, raw in contract.read_records(stream)]
    checked = clean.apply_contract(spark.createDataFrame(records, "raw string"))
    valid = checked.where("reason IS NULL").select("row_id", "event_type", "price", "user_id", "user_session")
    return list({row.row_id: row for row in valid.collect()}.values())  # duplicates: one row per row id


def plain_python_kpis(clean_events: list) -> dict:
    """The summary's kpis and funnel of the clean events, in plain Python (docs/data-contract.md)."""
    events = {e.row_id: e for e in clean_events}
    kinds: dict[str, set[str]] = {}
    for e in events.values():
        if e.user_session is not None:
            kinds.setdefault(e.user_session, set()).add(e.event_type)
    viewed, carted, bought = (sum(kind in types for types in kinds.values()) for kind in ("view", "cart", "purchase"))
    abandoned = sum("cart" in types and "purchase" not in types for types in kinds.values())
    revenue = sum((e.price for e in events.values() if e.event_type == "purchase"), Decimal("0"))

    def ratio(top, bottom, places: str) -> float:
        return float((Decimal(top) / Decimal(bottom)).quantize(Decimal(places), ROUND_HALF_UP)) if bottom else 0.0

    by_type = Counter(e.event_type for e in events.values())
    kpis = {"events": len(events), "events_by_type": {kind: by_type[kind] for kind in contract.EVENT_TYPES},
            "unique_users": len({e.user_id for e in events.values()}), "unique_sessions": len(kinds),
            "revenue": float(revenue), "purchases": by_type["purchase"], "orders": bought,
            "aov": ratio(revenue, bought, "0.01"), "conversion_rate": ratio(bought, viewed, "0.0001"),
            "cart_abandonment_rate": ratio(abandoned, carted, "0.0001")}
    return {"kpis": kpis, "funnel": {"view_sessions": viewed, "cart_sessions": carted, "purchase_sessions": bought}}


@check(points=2, spark=True, timeout=180, services=("namenode", "datanode"),
       hint="Run `lab pipeline --mine --namespace $USER analyze` on your own dataset and compare its table with what "
            "you expect; the smaller checks above name the function to fix.")
def analyze_summarises_a_generated_file_like_plain_python(ctx: Context) -> None:
    spark = ctx.spark
    spark.conf.set("spark.sql.shuffle.partitions", "2")
    # Your seven functions, once, on an empty table: an unfinished one stops the check before the slow part.
    analyze.marts(spark.createDataFrame([], SCHEMA), ctx.student)
    path = ctx.dataset(rows=2000)
    landing.land_csv(ctx.settings, path)
    clean.run(ctx.settings, spark=spark)
    got = analyze.run(ctx.settings, spark=spark)
    wanted = plain_python_kpis(contract_events(spark, path))
    for section, figures in wanted.items():
        wrong = {key: got[section].get(key) for key, value in figures.items() if got[section].get(key) != value}
        assert not wrong, (f"the summary's {section} of a generated file of 2000 rows has {wrong}; computed in plain "
                           f"Python: {({key: figures[key] for key in wrong})}")
    hours = [row["hour"] for row in got["hourly"]]
    assert hours == list(range(24)), f"the summary's hourly holds the hours {hours}, expected 0 to 23"
