"""Stage 5, analyze: Spark SQL over the clean events, one Parquet mart per summary section or breakdown.

``marts(events)`` (DataFrame -> DataFrames) holds the analytics as SQL over the
temporary view ``clean_events``; ``summary(marts, quality)`` turns the marts into
the summary JSON of docs/data-contract.md, ``breakdowns(marts)`` into the dashboard's
per-category breakdowns beside it; ``run`` is the I/O edge.

Money is summed exactly as DECIMAL(38,2); ratios are DECIMAL divisions rounded
half up (2 places for money, 4 for rates), and 0 when the divisor is 0.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from pipeline import clean
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


# name -> query, in order; each result is registered as a view for the queries after it.
QUERIES = {
    "funnel": """
SELECT count_if(viewed) AS view_sessions,
       count_if(carted) AS cart_sessions,
       count_if(purchased) AS purchase_sessions
FROM sessions
""",
    "kpis": """
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
""",
    "top_products": """
SELECT product_id,
       coalesce(sum(price) FILTER (WHERE event_type = 'purchase'), 0) AS revenue,
       count_if(event_type = 'purchase') AS purchases
FROM clean_events
GROUP BY product_id
ORDER BY revenue DESC, product_id
LIMIT 10
""",
    "top_brands": """
SELECT brand,
       coalesce(sum(price) FILTER (WHERE event_type = 'purchase'), 0) AS revenue,
       count_if(event_type = 'purchase') AS purchases
FROM clean_events
WHERE brand IS NOT NULL
GROUP BY brand
ORDER BY revenue DESC, brand
LIMIT 10
""",
    "revenue_by_category": """
SELECT coalesce(category, 'unknown') AS category, sum(price) AS revenue, count(*) AS purchases
FROM clean_events
WHERE event_type = 'purchase'
GROUP BY 1
ORDER BY revenue DESC, category
""",
    "daily": """
SELECT event_date AS date,
       count(*) AS events,
       count_if(event_type = 'purchase') AS purchases,
       coalesce(sum(price) FILTER (WHERE event_type = 'purchase'), 0) AS revenue
FROM clean_events
GROUP BY event_date
ORDER BY date
""",
    "hourly": """
SELECT CAST(h.id AS INT) AS hour, coalesce(e.events, 0) AS events
FROM range(24) AS h
LEFT JOIN (SELECT event_hour, count(*) AS events FROM clean_events GROUP BY event_hour) AS e
  ON e.event_hour = h.id
ORDER BY hour
""",
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
SUMMARY_KEYS = ("quality", "kpis", "funnel", "top_products", "top_brands", "revenue_by_category", "daily", "hourly")
# a section of the breakdowns' by_category -> the mart of its rows (category first)
CATEGORY_MARTS = {"top_products": "top_products_by_category", "top_brands": "top_brands_by_category"}


def marts(events: DataFrame) -> dict[str, DataFrame]:
    """Every mart of the clean events (columns of clean.EVENT_COLUMNS), by name."""
    spark = events.sparkSession
    events.createOrReplaceTempView("clean_events")
    spark.sql(SESSIONS).createOrReplaceTempView("sessions")
    results = {}
    for name, query in QUERIES.items():
        results[name] = spark.sql(query)
        results[name].createOrReplaceTempView(name)
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


def run(settings: Settings, summary_out: Path | None = None, spark: SparkSession | None = None) -> dict:
    """Write the marts, the breakdowns and the summary (to HDFS, and to ``summary_out`` when given);
    returns the summary."""
    spark = spark or spark_session.session(settings, "analyze")
    events = spark.read.parquet(settings.hdfs_uri(settings.clean_zone))
    # The marts are small: compute each once, then write and summarise the same rows.
    computed = {name: spark.createDataFrame(df.collect(), df.schema) for name, df in marts(events).items()}
    for name, df in computed.items():
        df.coalesce(1).write.mode("overwrite").parquet(settings.hdfs_uri(f"{settings.marts_zone}/{name}"))
    client = settings.webhdfs()
    result = summary(computed, clean.read_quality(settings, client))
    # The breakdowns first: a dashboard that sees the new summary finds its breakdowns too.
    clean.write_json(client, settings.breakdowns_path, breakdowns(computed))
    clean.write_json(client, settings.summary_path, result)
    if summary_out is not None:
        Path(summary_out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result
