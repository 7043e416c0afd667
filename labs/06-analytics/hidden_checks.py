"""Hidden checks of lab 06 (grading only, never shipped): every one of your seven functions, chained as the analyze
stage chains them, on the clean events of a generated file of another size, under a time zone that is not UTC, and
compared with the same figures in plain Python; then money sums that a DOUBLE cannot hold exactly. The clean events
come from the given apply_contract (no HDFS)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

from labctl.checking import Context, check, public_checks
from pipeline import analyze, clean, contract

SCHEMA = ("event_time timestamp, event_type string, product_id long, category_id long, category_code string, "
          "brand string, price decimal(38,2), user_id long, user_session string, event_date date, event_hour int, "
          "category string, subcategory string, row_id string")
OTHER_ZONE = "Asia/Kathmandu"  # UTC+05:45: every hour and late-evening date differs from UTC
COLUMNS = {
    "funnel": ["view_sessions", "cart_sessions", "purchase_sessions"],
    "kpis": ["events", "events_by_type", "unique_users", "unique_sessions", "revenue", "purchases", "orders", "aov",
             "conversion_rate", "cart_abandonment_rate"],
    "top_products": ["product_id", "revenue", "purchases"],
    "top_brands": ["brand", "revenue", "purchases"],
    "revenue_by_category": ["category", "revenue", "purchases"],
    "daily": ["date", "events", "purchases", "revenue"],
    "hourly": ["hour", "events"],
}
MONEY = {"revenue", "aov"}
RATES = {"conversion_rate", "cart_abandonment_rate"}


def not_utc(spark, zone: str = OTHER_ZONE):
    """Local time is ``zone`` inside: the Spark session's time zone, the driver's and the Python workers'
    (the public checks' own context manager)."""
    return public_checks("06").not_utc(spark, zone)


def shown(row: tuple) -> str:
    return "(" + ", ".join("null" if v is None else repr(v) if isinstance(v, str) else str(v) for v in row) + ")"


def as_date(value) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def collect(frame, name: str) -> list[dict]:
    assert hasattr(frame, "collect") and hasattr(frame, "columns"), (
        f"{name}(spark) returned a {type(frame).__name__}; return the DataFrame of spark.sql(...)")
    rows = [row.asDict(recursive=True) for row in frame.collect()]
    got = list(frame.columns)
    missing, extra = [c for c in COLUMNS[name] if c not in got], [c for c in got if c not in COLUMNS[name]]
    assert not missing and not extra, f"{name} returned the columns {got}, expected {COLUMNS[name]}"
    return rows


def exact(name: str, column: str, value):
    """A money value, which must be a DECIMAL (a float sum of prices is not exact)."""
    assert isinstance(value, Decimal), (f"{name} returned {column} {value!r}, a {type(value).__name__}: sum money as "
                                        f"DECIMAL, whose sums are exact")
    return value


def rate(value):
    return None if value is None else Decimal(str(value))


def ratio(top: int | Decimal, bottom: int, places: str) -> Decimal:
    return (Decimal(top) / Decimal(bottom)).quantize(Decimal(places), ROUND_HALF_UP) if bottom else Decimal(0)


def plain_python(events: list) -> dict[str, list[tuple]]:
    """Every summary mart of the clean events ``events`` (rows of the clean table), as docs/data-contract.md defines
    it, as tuples in the order of COLUMNS."""
    kinds: dict[str, set[str]] = defaultdict(set)
    for e in events:
        if e.user_session is not None:
            kinds[e.user_session].add(e.event_type)
    viewed, carted, bought = (sum(kind in types for types in kinds.values()) for kind in ("view", "cart", "purchase"))
    abandoned = sum("cart" in types and "purchase" not in types for types in kinds.values())
    purchases = [e for e in events if e.event_type == "purchase"]
    revenue = sum((e.price for e in purchases), Decimal(0))
    by_type = Counter(e.event_type for e in events)
    kpis = (len(events), {kind: by_type[kind] for kind in contract.EVENT_TYPES}, len({e.user_id for e in events}),
            len(kinds), revenue, len(purchases), bought, ratio(revenue, bought, "0.01"),
            ratio(bought, viewed, "0.0001"), ratio(abandoned, carted, "0.0001"))

    def ranking(key, keep=lambda e: True) -> dict:
        totals: dict = {}
        for e in events:
            if keep(e):
                total = totals.setdefault(key(e), [Decimal(0), 0])
                if e.event_type == "purchase":
                    total[0] += e.price
                    total[1] += 1
        return totals

    products = ranking(lambda e: e.product_id)
    brands = ranking(lambda e: e.brand, lambda e: e.brand is not None)
    categories = ranking(lambda e: e.category or "unknown", lambda e: e.event_type == "purchase")
    days: dict[str, list] = {}
    for e in events:
        day = days.setdefault(e.event_date.isoformat(), [0, 0, Decimal(0)])
        day[0] += 1
        if e.event_type == "purchase":
            day[1] += 1
            day[2] += e.price
    hours = Counter(e.event_hour for e in events)
    top = lambda totals: sorted(((k, r, n) for k, (r, n) in totals.items()), key=lambda t: (-t[1], t[0]))  # noqa: E731
    return {
        "funnel": [(viewed, carted, bought)],
        "kpis": [kpis],
        "top_products": top(products)[:10],
        "top_brands": top(brands)[:10],
        "revenue_by_category": top(categories),
        "daily": [(day, *values) for day, values in sorted(days.items())],
        "hourly": [(hour, hours[hour]) for hour in range(24)],
    }


def as_tuples(name: str, rows: list[dict]) -> list[tuple]:
    """Your rows of mart ``name`` as tuples in the order of COLUMNS: money checked to be DECIMAL, rates as Decimal,
    dates as text."""
    result = []
    for row in rows:
        values = []
        for column in COLUMNS[name]:
            value = row[column]
            if column in MONEY:
                value = exact(name, column, value)
            elif column in RATES:
                value = rate(value)
            elif column == "date":
                value = as_date(value)
            values.append(value)
        result.append(tuple(values))
    return result


def same_rows(what: str, name: str, got: list[tuple], wanted: list[tuple]) -> None:
    """``got`` equals ``wanted``, else an AssertionError naming the fields (one-row marts) or the first row that
    differs."""
    if got == wanted:
        return
    if name in ("funnel", "kpis") and len(got) == len(wanted) == 1:
        wrong = {c: g for c, g, w in zip(COLUMNS[name], got[0], wanted[0]) if g != w}
        right = {c: w for c, g, w in zip(COLUMNS[name], got[0], wanted[0]) if g != w}
        raise AssertionError(f"{name} of {what} has {wrong}, expected {right}")
    place = next((i for i, (g, w) in enumerate(zip(got, wanted)) if g != w), min(len(got), len(wanted)))
    found = shown(got[place]) if place < len(got) else "missing"
    expected = shown(wanted[place]) if place < len(wanted) else "no such row"
    raise AssertionError(f"{name} of {what} returned {len(got)} rows ({', '.join(COLUMNS[name])}), expected "
                         f"{len(wanted)}; row {place + 1} is {found}, expected {expected}")


@check(points=3, spark=True, timeout=150,
       hint="Run `lab pipeline --mine --namespace $USER analyze` on a dataset of another seed and size and check each "
            "section of the summary by hand against docs/data-contract.md: sessions, not events; purchases only; "
            "UTC columns; DECIMAL money.")
def every_mart_of_another_generated_file_matches_plain_python(ctx: Context) -> None:
    spark = ctx.spark
    spark.conf.set("spark.sql.shuffle.partitions", "2")
    path = ctx.dataset(rows=3000)
    with open(path, "rb") as stream:
        records = [(contract.decode(raw),) for _, raw in contract.read_records(stream)]
    checked = clean.apply_contract(spark.createDataFrame(records, "raw string"))
    events = checked.where("reason IS NULL").select(*clean.EVENT_COLUMNS).dropDuplicates(["row_id"]).persist()
    try:
        wanted = plain_python(events.collect())
        events.createOrReplaceTempView("clean_events")
        spark.sql(analyze.SESSIONS).createOrReplaceTempView("sessions")
        got = {}
        with not_utc(spark):
            for name in analyze.SUMMARY_MARTS:  # in the analyze stage's order: kpis reads your funnel view
                frame = getattr(ctx.student, name)(spark)
                got[name] = collect(frame, name)
                frame.createOrReplaceTempView(name)
    finally:
        events.unpersist()
    what = f"the clean events of a generated file of 3000 rows (in the time zone {OTHER_ZONE})"
    for name in analyze.SUMMARY_MARTS:
        same_rows(what, name, as_tuples(name, got[name]), wanted[name])


def event(moment: str, kind: str, product: int, price: str, user: int, session: str | None, brand: str | None,
          code: str | None) -> tuple:
    """One clean event (a row of SCHEMA) at ``moment``, a UTC time as text."""
    when = datetime.strptime(moment, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    category = code.split(".", 1)[0] if code else None
    subcategory = code.split(".", 1)[1] if code and "." in code else None
    return (when, kind, product, 2053013555631882655, code, brand, Decimal(price), user, session, when.date(),
            when.hour, category, subcategory, f"{product:016x}{user:08x}{when.minute:08x}")


# Purchases whose sums a DOUBLE gets wrong (0.1 + 0.2 = 0.30000000000000004, 0.7 + 0.1 = 0.7999999999999999), and
# views at other prices.
CENTS = [
    event("2019-10-08 10:00:00", "purchase", 11, "0.10", 1, "m1", "alpha", "kids.toys"),
    event("2019-10-08 10:01:00", "purchase", 12, "0.20", 1, "m1", "alpha", "kids.toys"),
    event("2019-10-08 10:02:00", "view", 12, "0.20", 1, "m1", "alpha", "kids.toys"),
    event("2019-10-09 11:00:00", "purchase", 13, "0.70", 2, "m2", "bravo", "sport.bike"),
    event("2019-10-09 11:01:00", "purchase", 14, "0.10", 2, "m2", "bravo", "sport.bike"),
    event("2019-10-09 11:02:00", "view", 15, "0.35", 2, "m2", "bravo", "sport.bike"),
    event("2019-10-10 12:00:00", "purchase", 16, "0.10", 3, "m3", None, None),
    event("2019-10-10 12:01:00", "purchase", 17, "0.20", 3, "m3", None, None),
]


@check(points=1, spark=True, timeout=90,
       hint="Money stays DECIMAL in every ranking and series, not only in the KPIs: a DOUBLE cannot hold 0.1, so "
            "0.1 + 0.2 becomes 0.30000000000000004 and the dashboard shows it.")
def rankings_and_series_sum_money_exactly(ctx: Context) -> None:
    spark = ctx.spark
    spark.conf.set("spark.sql.shuffle.partitions", "2")
    spark.createDataFrame(CENTS, SCHEMA).createOrReplaceTempView("clean_events")
    spark.sql(analyze.SESSIONS).createOrReplaceTempView("sessions")
    wanted = {
        "top_brands": [("bravo", Decimal("0.80"), 2), ("alpha", Decimal("0.30"), 2)],
        "revenue_by_category": [("sport", Decimal("0.80"), 2), ("kids", Decimal("0.30"), 2),
                                ("unknown", Decimal("0.30"), 2)],
        "daily": [("2019-10-08", 3, 2, Decimal("0.30")), ("2019-10-09", 3, 2, Decimal("0.80")),
                  ("2019-10-10", 2, 2, Decimal("0.30"))],
    }
    for name, rows in wanted.items():
        got = as_tuples(name, collect(getattr(ctx.student, name)(spark), name))
        same_rows("purchases of 0.10, 0.20 and 0.70", name, got, rows)
