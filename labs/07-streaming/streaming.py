"""Lab 07 — Structured Streaming into HBase: the live counts of your stream.

labs/07-streaming/README.md walks you through it. The lab runs the stream around your two functions
(pipeline/realtime.py): it reads the raw topic, keeps the distinct valid events (watermark and
deduplication), runs your ``aggregates`` as one stateful aggregation in output mode update, and
in foreachBatch sends the cells of your ``puts`` to HBase. The HBase layout, and the readers the
dashboard uses, are in pipeline/store.py: the names imported below are the table labels and columns.
`lab check 07` tells you how far you are.
"""

from __future__ import annotations

from typing import Iterable, Iterator

from pyspark.sql import Column, DataFrame, Row  # noqa: F401 (given: use what you need)
from pyspark.sql import functions as F  # noqa: F401

from pipeline.contract import EVENT_TYPES  # noqa: F401 ("view", "cart", "remove_from_cart", "purchase")
from pipeline.store import (  # noqa: F401 (the table labels, row key of the total, column names)
    COLUMNS,
    MINUTE,
    MINUTE_PRODUCT,
    PRODUCT,
    PRODUCT_FAMILY,
    TOTAL,
    TOTAL_KEY,
    VALUES,
)


def aggregates(events: DataFrame) -> DataFrame:
    """The totals of ``events`` per HBase row, in one stateful aggregation (one state, one read of the stream).

    ``events``: distinct valid events, columns event_time (timestamp), event_type, product_id (long),
    price (decimal(38,2)), row_id. Each event counts once towards four rows, each a (table label,
    row_key): (MINUTE, its UTC minute as ``yyyyMMddHHmm``), (PRODUCT, its product_id in plain decimal),
    (MINUTE_PRODUCT, ``<minute>|<product_id>``) and (TOTAL, TOTAL_KEY).
    Returns one row per (table, row_key) with the columns table, row_key, view, cart,
    remove_from_cart, purchase (the counts, 0 when none) and revenue (the exact sum of the purchase
    prices only, decimal(38,2), 0.00 when none).
    """
    raise NotImplementedError("lab 07, step 2: write aggregates in labs/07-streaming/streaming.py")


def puts(rows: Iterable[Row]) -> Iterator[tuple[str, bytes, dict[bytes, bytes]]]:
    """The HBase puts of a micro-batch of ``aggregates`` rows: one (table label, row key, cells) per row,
    key and cells as bytes, every value ASCII text; each put overwrites the absolute totals HBase holds.

    MINUTE, PRODUCT and TOTAL rows: the key is row_key; the cells are all five COLUMNS (c:view,
    c:cart, c:remove_from_cart, c:purchase: the counts; c:revenue: the revenue with 2 decimals),
    zeros included. A MINUTE_PRODUCT row is one cell of its minute's row: the key is the minute,
    the cell ``p:<product_id>`` holds the five values in VALUES order, separated by spaces.
    """
    raise NotImplementedError("lab 07, step 3: write puts in labs/07-streaming/streaming.py")
