"""Stage 5, analyze: Spark SQL over the clean events, one Parquet mart per summary section or breakdown.

``marts(events)`` (DataFrame -> DataFrames) computes every mart: the summary's with one function
each (``funnel``, ``kpis``, ... over the temporary views ``clean_events`` and ``sessions``; a
student writes them in lab 06), the breakdowns' with ``BREAKDOWN_QUERIES``; ``summary(marts, quality)`` turns the marts into
the summary JSON of docs/data-contract.md, ``breakdowns(marts)`` into the dashboard's
per-category breakdowns beside it; ``run`` is the I/O edge.

Money is summed exactly as DECIMAL(38,2); ratios are DECIMAL divisions rounded
half up (2 places for money, 4 for rates), and 0 when the divisor is 0.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from types import ModuleType

from pyspark.sql import DataFrame, SparkSession

from pipeline import clean, seams
from pipeline import spark as spark_session
from pipeline.settings import Settings

# Per-session flags, the base of the funnel (sessions are non-null user_session values).
SESSIONS = """
SELECT user_session,
       bool_or(event_type = 'view') AS viewed,
       bool_or(event_type = 'cart') AS carted,
       bool_or(event_type = 'purchase') AS purchased
FROM clean_events
WHERE user_session IS NOT NULL
GROUP BY user_session
"""


def _top_in_each_category(key: str) -> str:
    """SQL: the first 10 rows by revenue of each category (null as 'unknown'), as top_products/top_brands by ``key``."""
    return f"""
WITH totals AS (
  SELECT coalesce(category, 'unknown') AS category, {key},
         coalesce(sum(price) FILTER (WHERE event_type = 'purchase'), 0) AS revenue,
         count_if(event_type = 'purchase') AS purchases
  FROM clean_events
  WHERE {key} IS NOT NULL
  GROUP BY 1, 2
),
ranked AS (
  SELECT *, row_number() OVER (PARTITION BY category ORDER BY revenue DESC, {key}) AS place FROM totals
)
SELECT category, {key}, revenue, purchases
FROM ranked
WHERE place <= 10
ORDER BY category, place
"""


# The summary's marts, in order (a student writes them in lab 06): each gets the session with the
# ``clean_events`` and ``sessions`` views and returns its mart, registered as a view for those after it.
SUMMARY_MARTS = ("funnel", "kpis", "top_products", "top_brands", "revenue_by_category", "daily", "hourly")


def funnel(spark: SparkSession) -> DataFrame:
    """The funnel, one row: view_sessions, cart_sessions, purchase_sessions: how many sessions have at least
    one view, one cart, one purchase event. Counts of sessions, not of events: a session that viewed five
    times counts once. Read the ``sessions`` view: one row per session (a non-null user_session) with the
    booleans viewed, carted, purchased."""
    ### BEGIN SOLUTION
    return spark.sql("""
SELECT count_if(viewed) AS view_sessions,
       count_if(carted) AS cart_sessions,
       count_if(purchased) AS purchase_sessions
FROM sessions
""")
    ### END SOLUTION


def kpis(spark: SparkSession) -> DataFrame:
    """The headline figures, one row, from the ``clean_events``, ``sessions`` and ``funnel`` views:

    * events: every clean event; events_by_type: a struct (view, cart, remove_from_cart, purchase) of the
      event counts of each type, 0 for a type without events;
    * unique_users: distinct user_id; unique_sessions: distinct non-null user_session;
    * revenue: the sum of price over purchase events only (DECIMAL, exact; 0, not null, without purchases);
      purchases: the purchase events;
    * orders: the sessions with a purchase (the funnel's purchase_sessions);
    * aov: revenue / orders, a DECIMAL rounded half up to 2 places (7.35 / 6 = 1.225 gives 1.23);
    * conversion_rate: sessions with a purchase / sessions with a view, rounded half up to 4 places;
    * cart_abandonment_rate: sessions with a cart and no purchase / sessions with a cart, rounded half up to
      4 places.

    Each ratio is a DECIMAL division rounded once, and 0 (not an error, not null) when its divisor is 0."""
    ### BEGIN SOLUTION
    return spark.sql("""
WITH totals AS (
  SELECT count(*) AS events,
         named_struct('view', count_if(event_type = 'view'),
                      'cart', count_if(event_type = 'cart'),
                      'remove_from_cart', count_if(event_type = 'remove_from_cart'),
                      'purchase', count_if(event_type = 'purchase')) AS events_by_type,
         count(DISTINCT user_id) AS unique_users,
         count(DISTINCT user_session) AS unique_sessions,
         coalesce(sum(price) FILTER (WHERE event_type = 'purchase'), 0) AS revenue,
         count_if(event_type = 'purchase') AS purchases
  FROM clean_events
),
abandoned AS (
  SELECT count_if(carted AND NOT purchased) AS cart_only_sessions FROM sessions
)
SELECT t.events, t.events_by_type, t.unique_users, t.unique_sessions, t.revenue, t.purchases,
       f.purchase_sessions AS orders,
       -- DECIMAL operands keep the quotient exact enough to round once; try_divide is NULL on / 0.
       coalesce(round(try_divide(CAST(t.revenue AS DECIMAL(30, 2)), CAST(f.purchase_sessions AS DECIMAL(19, 0))), 2), 0)
         AS aov,
       coalesce(round(try_divide(CAST(f.purchase_sessions AS DECIMAL(19, 0)), f.view_sessions), 4), 0)
         AS conversion_rate,
       coalesce(round(try_divide(CAST(a.cart_only_sessions AS DECIMAL(19, 0)), f.cart_sessions), 4), 0)
         AS cart_abandonment_rate
FROM totals t CROSS JOIN funnel f CROSS JOIN abandoned a
""")
    ### END SOLUTION


def top_products(spark: SparkSession) -> DataFrame:
    """The 10 products with the most revenue: product_id, revenue (the sum of price over the product's
    purchase events, DECIMAL; 0 for a product never bought), purchases (its purchase events). Every product
    with an event of any type competes; ordered by revenue descending, then product_id ascending; at most 10
    rows."""
    ### BEGIN SOLUTION
    return spark.sql("""
SELECT product_id,
       coalesce(sum(price) FILTER (WHERE event_type = 'purchase'), 0) AS revenue,
       count_if(event_type = 'purchase') AS purchases
FROM clean_events
GROUP BY product_id
ORDER BY revenue DESC, product_id
LIMIT 10
""")
    ### END SOLUTION


def top_brands(spark: SparkSession) -> DataFrame:
    """The 10 brands with the most revenue: brand, revenue (the sum of price over the brand's purchase
    events, DECIMAL; 0 for a brand never bought), purchases (its purchase events). Every non-null brand with
    an event of any type competes (events without a brand are left out); ordered by revenue descending,
    then brand ascending; at most 10 rows."""
    ### BEGIN SOLUTION
    return spark.sql("""
SELECT brand,
       coalesce(sum(price) FILTER (WHERE event_type = 'purchase'), 0) AS revenue,
       count_if(event_type = 'purchase') AS purchases
FROM clean_events
WHERE brand IS NOT NULL
GROUP BY brand
ORDER BY revenue DESC, brand
LIMIT 10
""")
    ### END SOLUTION


def revenue_by_category(spark: SparkSession) -> DataFrame:
    """Revenue per category over purchase events only: category ('unknown' for purchases whose category is
    null), revenue (the sum of price, DECIMAL), purchases (the purchase events); so every category with a
    purchase appears, and no other; ordered by revenue descending, then category ascending; no limit."""
    ### BEGIN SOLUTION
    return spark.sql("""
SELECT coalesce(category, 'unknown') AS category, sum(price) AS revenue, count(*) AS purchases
FROM clean_events
WHERE event_type = 'purchase'
GROUP BY 1
ORDER BY revenue DESC, category
""")
    ### END SOLUTION


def daily(spark: SparkSession) -> DataFrame:
    """One row per event_date that has an event: date (the event_date column as it is: a DATE, the UTC
    day), events (every event of the day), purchases (its purchase events), revenue (the sum of price over
    its purchase events, DECIMAL; 0 on a day without purchases); in date order, oldest first."""
    ### BEGIN SOLUTION
    return spark.sql("""
SELECT event_date AS date,
       count(*) AS events,
       count_if(event_type = 'purchase') AS purchases,
       coalesce(sum(price) FILTER (WHERE event_type = 'purchase'), 0) AS revenue
FROM clean_events
GROUP BY event_date
ORDER BY date
""")
    ### END SOLUTION


def hourly(spark: SparkSession) -> DataFrame:
    """Events per hour of the day (UTC): 24 rows, hour 0 to 23 in order (an int), events (how many events
    have that event_hour; 0 for an hour without events). Count by the event_hour column: an hour taken from
    event_time depends on the session's time zone, and the UTC hour is the contract's."""
    ### BEGIN SOLUTION
    return spark.sql("""
SELECT CAST(h.id AS INT) AS hour, coalesce(e.events, 0) AS events
FROM range(24) AS h
LEFT JOIN (SELECT event_hour, count(*) AS events FROM clean_events GROUP BY event_hour) AS e
  ON e.event_hour = h.id
ORDER BY hour
""")
    ### END SOLUTION


# The dashboard breakdowns' marts, by name.
BREAKDOWN_QUERIES = {
    "top_products_by_category": _top_in_each_category("product_id"),
    "top_brands_by_category": _top_in_each_category("brand"),
    "revenue_by_subcategory": """
SELECT coalesce(category, 'unknown') AS category, coalesce(subcategory, 'unknown') AS subcategory,
       sum(price) AS revenue, count(*) AS purchases
FROM clean_events
WHERE event_type = 'purchase'
GROUP BY 1, 2
ORDER BY category, revenue DESC, subcategory
""",
}
SINGLE_ROW = ("kpis", "funnel")
MART_THREADS = 4
SUMMARY_KEYS = ("quality", "kpis", "funnel", "top_products", "top_brands", "revenue_by_category", "daily", "hourly")
# a section of the breakdowns' by_category -> the mart of its rows (category first)
CATEGORY_MARTS = {"top_products": "top_products_by_category", "top_brands": "top_brands_by_category"}


def marts(events: DataFrame, lab: ModuleType | None = None) -> dict[str, DataFrame]:
    """Every mart of the clean events (columns of clean.EVENT_COLUMNS), by name; the summary's from ``lab``
    (a module with lab 06's functions; default: this one)."""
    spark = events.sparkSession
    lab = lab or sys.modules[__name__]
    events.createOrReplaceTempView("clean_events")
    spark.sql(SESSIONS).createOrReplaceTempView("sessions")
    results = {}
    for name in SUMMARY_MARTS:
        results[name] = getattr(lab, name)(spark)
        results[name].createOrReplaceTempView(name)
    for name, query in BREAKDOWN_QUERIES.items():
        results[name] = spark.sql(query)
    return results


def _plain(value):
    """JSON-ready: Decimal -> float (exact for 2- and 4-place values below 2^53 / 100), date -> ISO text."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _rows(mart: DataFrame) -> list[dict]:
    return [_plain(row.asDict(recursive=True)) for row in mart.collect()]


def summary(marts: dict[str, DataFrame], quality: dict) -> dict:
    """The summary JSON (as a dict) from the marts and the clean stage's quality counts."""
    result = {"quality": quality}
    for name in SUMMARY_KEYS[1:]:
        rows = _rows(marts[name])
        result[name] = rows[0] if name in SINGLE_ROW else rows
    return result


def breakdowns(marts: dict[str, DataFrame]) -> dict:
    """The dashboard breakdowns JSON (as a dict; docs/data-contract.md) from the marts."""
    by_category: dict[str, dict] = {}
    # The product mart holds every category, in order; the brand mart a part of them.
    for section, mart in CATEGORY_MARTS.items():
        for row in _rows(marts[mart]):
            sections = by_category.setdefault(row.pop("category"), {name: [] for name in CATEGORY_MARTS})
            sections[section].append(row)
    return {"by_category": by_category, "revenue_by_subcategory": _rows(marts["revenue_by_subcategory"])}


def run(settings: Settings, summary_out: Path | None = None, spark: SparkSession | None = None,
        phases: spark_session.Phases | None = None) -> dict:
    """Write the marts, the breakdowns and the summary (to HDFS, and to ``summary_out`` when given);
    returns the summary. ``phases`` receives the seconds of each phase.

    The marts are small: each is computed once, then written and summarised from the same rows.
    Their jobs are small too, so MART_THREADS of them run at once (Spark runs concurrent jobs).
    """
    phases = phases or spark_session.Phases()
    with phases("session"):
        spark = spark or spark_session.session(settings, "analyze",
                                               input_bytes=spark_session.hdfs_bytes(settings, settings.clean_zone))

    def compute(name: str) -> DataFrame:
        return spark.createDataFrame(defined[name].collect(), defined[name].schema)

    def write(name: str) -> None:
        computed[name].coalesce(1).write.mode("overwrite").parquet(settings.hdfs_uri(f"{settings.marts_zone}/{name}"))

    with ThreadPoolExecutor(MART_THREADS) as pool:
        with phases("read clean events, compute marts"):
            defined = marts(spark.read.parquet(settings.hdfs_uri(settings.clean_zone)), seams.load(settings, "06"))
            computed = dict(zip(defined, pool.map(compute, defined)))
        with phases("write marts"):
            list(pool.map(write, computed))
    with phases("write summary and breakdowns"):
        client = settings.webhdfs()
        result = summary(computed, clean.read_quality(settings, client))
        # The breakdowns first: a dashboard that sees the new summary finds its breakdowns too.
        clean.write_json(client, settings.breakdowns_path, breakdowns(computed))
        clean.write_json(client, settings.summary_path, result)
    if summary_out is not None:
        Path(summary_out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result
