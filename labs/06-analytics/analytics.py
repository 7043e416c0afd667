"""Lab 06 — Spark SQL analytics, your implementation.

Write the seven functions below, in the steps of labs/06-analytics/README.md; `lab check 06` tells you how far
you are. Each gets the SparkSession and returns the DataFrame of one Spark SQL query (``spark.sql(...)``):
one section of the summary JSON that the dashboard shows (docs/data-contract.md, "Summary JSON").

What the lab gives you: the analyze stage (pipeline/analyze.py) registers the temporary views your queries read
before it calls them, in this order:

* ``clean_events``: the clean table, one row per event, with the columns of docs/data-contract.md
  ("Normalised event"): event_time, event_type, product_id, category_id, category_code, brand,
  price (DECIMAL(38,2)), user_id, user_session, event_date, event_hour, category, subcategory, row_id;
* ``sessions``: one row per session (a non-null user_session) with the booleans viewed, carted, purchased;
* then the result of each of your functions under its own name: ``funnel`` is a view by the time ``kpis`` runs.

It then writes each result as a Parquet mart in HDFS and turns them into the summary JSON.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession


def funnel(spark: SparkSession) -> DataFrame:
    """The funnel, one row: view_sessions, cart_sessions, purchase_sessions: how many sessions have at least
    one view, one cart, one purchase event. Counts of sessions, not of events: a session that viewed five
    times counts once. Read the ``sessions`` view: one row per session (a non-null user_session) with the
    booleans viewed, carted, purchased."""
    raise NotImplementedError("lab 06, step 2: write funnel in labs/06-analytics/analytics.py")


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
    raise NotImplementedError("lab 06, step 3: write kpis in labs/06-analytics/analytics.py")


def top_products(spark: SparkSession) -> DataFrame:
    """The 10 products with the most revenue: product_id, revenue (the sum of price over the product's
    purchase events, DECIMAL; 0 for a product never bought), purchases (its purchase events). Every product
    with an event of any type competes; ordered by revenue descending, then product_id ascending; at most 10
    rows."""
    raise NotImplementedError("lab 06, step 4: write top_products in labs/06-analytics/analytics.py")


def top_brands(spark: SparkSession) -> DataFrame:
    """The 10 brands with the most revenue: brand, revenue (the sum of price over the brand's purchase
    events, DECIMAL; 0 for a brand never bought), purchases (its purchase events). Every non-null brand with
    an event of any type competes (events without a brand are left out); ordered by revenue descending,
    then brand ascending; at most 10 rows."""
    raise NotImplementedError("lab 06, step 4: write top_brands in labs/06-analytics/analytics.py")


def revenue_by_category(spark: SparkSession) -> DataFrame:
    """Revenue per category over purchase events only: category ('unknown' for purchases whose category is
    null), revenue (the sum of price, DECIMAL), purchases (the purchase events); so every category with a
    purchase appears, and no other; ordered by revenue descending, then category ascending; no limit."""
    raise NotImplementedError("lab 06, step 5: write revenue_by_category in labs/06-analytics/analytics.py")


def daily(spark: SparkSession) -> DataFrame:
    """One row per event_date that has an event: date (the event_date column as it is: a DATE, the UTC
    day), events (every event of the day), purchases (its purchase events), revenue (the sum of price over
    its purchase events, DECIMAL; 0 on a day without purchases); in date order, oldest first."""
    raise NotImplementedError("lab 06, step 6: write daily in labs/06-analytics/analytics.py")


def hourly(spark: SparkSession) -> DataFrame:
    """Events per hour of the day (UTC): 24 rows, hour 0 to 23 in order (an int), events (how many events
    have that event_hour; 0 for an hour without events). Count by the event_hour column: an hour taken from
    event_time depends on the session's time zone, and the UTC hour is the contract's."""
    raise NotImplementedError("lab 06, step 6: write hourly in labs/06-analytics/analytics.py")
