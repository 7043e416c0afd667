"""The HBase tables' layouts and their readers, in one place that never imports Spark (the dashboard's web
process reads through it; the writers, ``hbase_sink`` and ``realtime``, take their layout from it).

Events (written by ``hbase_sink``; docs/hbase-row-key.md): ``settings.events_table`` has the row key
``<user_id, 19 digits>|<event_time YYYYMMDDHHMMSS>|<row_id>``, one column family ``e`` (VERSIONS 1)
with one cell ``e:event``, the normalised event as JSON (one cell instead of one per field: HBase's
cost is per cell, ~5x the throughput). Purchases are also written to ``settings.purchase_table``, keyed
``<event_time YYYYMMDDHHMMSS>|<row_id>`` with the same cell, so the latest purchases are one reverse
scan (the dashboard's Live page).

Real-time aggregates (written by ``realtime``; every value ASCII text; counts are ``view``, ``cart``,
``remove_from_cart``, ``purchase``, and ``revenue`` is the sum of the purchase prices, exact decimal,
2 places):

* ``settings.minute_table``: row key = the event's minute, UTC, ``YYYYMMDDHHMM``, so a scan
  from a minute on returns the minutes in time order;
* ``settings.product_table``: row key = product_id in plain decimal (no padding: readers get
  products by id or scan them all, never by range);
* ``settings.total_table``: one row, ``all``, the totals over every event;
* these three have one column per count and ``c:revenue`` in family ``c``;
* ``settings.minute_product_table``: row key = the minute as above, one cell per product with
  events in that minute, ``p:<product_id>`` = the five values separated by spaces (a wide row,
  so the last 15 minutes' products are 15 rows in one scan).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from decimal import Decimal
from typing import Iterator

import happybase

from pipeline.contract import EVENT_TYPES
from pipeline.settings import Settings

# The events and purchases tables
EVENT_FAMILY = "e"
EVENT_COLUMN = b"e:event"

# The real-time tables, by the label that ``realtime.aggregates`` gives their rows
MINUTE, PRODUCT, MINUTE_PRODUCT, TOTAL = "minute", "product", "minute_product", "total"
TOTAL_KEY = "all"
COUNT_FAMILY, PRODUCT_FAMILY = "c", "p"
VALUES = (*EVENT_TYPES, "revenue")
COLUMNS = {name: f"{COUNT_FAMILY}:{name}".encode() for name in VALUES}


def _events(connection: happybase.Connection, name: str, **scan) -> list[dict]:
    """The events of a scan of table ``name`` (none while the table does not exist yet)."""
    if name.encode() not in connection.tables():
        return []
    events = [json.loads(columns[EVENT_COLUMN])
              for _, columns in connection.table(name).scan(columns=[EVENT_COLUMN], **scan)]
    for event in events:
        event["price"] = Decimal(event["price"])
    return events


def user_events(settings: Settings, user_id: int, connection: happybase.Connection | None = None,
                latest: int | None = None) -> list[dict]:
    """A user's events in time order (one prefix scan), as dicts like `contract.Event.as_dict()` (price a Decimal);
    with ``latest``, only that many of the latest (one reverse prefix scan)."""
    with settings.hbase_using(connection) as connection:
        if latest is None:
            return _events(connection, settings.events_table, row_prefix=_user_prefix(user_id))
        return _events(connection, settings.events_table, row_prefix=_user_prefix(user_id), reverse=True,
                       limit=latest)[::-1]


def count_user_events(settings: Settings, user_id: int, connection: happybase.Connection | None = None) -> int:
    """How many events a user has (a prefix scan of the row keys only)."""
    with settings.hbase_using(connection) as connection:
        if settings.events_table.encode() not in connection.tables():
            return 0
        rows = connection.table(settings.events_table).scan(row_prefix=_user_prefix(user_id), batch_size=5000,
                                                            filter=b"KeyOnlyFilter() AND FirstKeyOnlyFilter()")
        return sum(1 for _ in rows)


def _user_prefix(user_id: int) -> bytes:
    """The row key prefix of a user's events (docs/hbase-row-key.md)."""
    return f"{user_id:019d}|".encode()


def latest_purchases(settings: Settings, limit: int = 20, connection: happybase.Connection | None = None) -> list[dict]:
    """The ``limit`` latest purchases by event time, latest first (one reverse scan), like `user_events`."""
    with settings.hbase_using(connection) as connection:
        return _events(connection, settings.purchase_table, reverse=True, limit=limit)


def values(data: dict[bytes, bytes]) -> dict:
    """The counts (int) and revenue (Decimal) of one HBase row's columns."""
    return parse_values([data[COLUMNS[name]] for name in VALUES])


def zero() -> dict:
    """The values of a row without events: zero counts, revenue 0.00."""
    return {**dict.fromkeys(EVENT_TYPES, 0), "revenue": Decimal("0.00")}


def parse_values(texts: list[bytes]) -> dict:
    """{view, cart, remove_from_cart, purchase: int, revenue: Decimal} from the five values as text."""
    return {**{name: int(text) for name, text in zip(EVENT_TYPES, texts)}, "revenue": Decimal(texts[-1].decode())}


@contextmanager
def _tables(settings: Settings, connection: happybase.Connection | None = None) -> Iterator[dict[str, happybase.Table]]:
    """The real-time tables by label, created when missing (by writer or reader), on ``connection`` or a new one."""
    names = {MINUTE: settings.minute_table, PRODUCT: settings.product_table,
             MINUTE_PRODUCT: settings.minute_product_table, TOTAL: settings.total_table}
    with settings.hbase_using(connection) as connection:
        settings.ensure_hbase_tables({name: PRODUCT_FAMILY if label == MINUTE_PRODUCT else COUNT_FAMILY
                                      for label, name in names.items()}, connection)
        yield {label: connection.table(name) for label, name in names.items()}


def minute_counts(settings: Settings, since_minute: str, connection: happybase.Connection | None = None) -> list[dict]:
    """Per-minute counts and revenue from ``since_minute`` ("YYYYMMDDHHMM", UTC) on, in time order."""
    with _tables(settings, connection) as tables:
        return [{"minute": key.decode(), **values(data)}
                for key, data in tables[MINUTE].scan(row_start=since_minute.encode())]


def latest_minute(settings: Settings, connection: happybase.Connection | None = None) -> str | None:
    """The latest minute with events ("YYYYMMDDHHMM"), or None before the first."""
    with _tables(settings, connection) as tables:
        for key, _ in tables[MINUTE].scan(reverse=True, limit=1, columns=[COLUMNS["view"]]):
            return key.decode()
    return None


def product_totals(settings: Settings, product_ids: list[int] | None = None,
                   connection: happybase.Connection | None = None) -> list[dict]:
    """Counts and revenue of the given products (those with events), or of every product."""
    with _tables(settings, connection) as tables:
        table = tables[PRODUCT]
        rows = table.scan() if product_ids is None else table.rows([str(p).encode() for p in product_ids])
        return [{"product_id": int(key), **values(data)} for key, data in rows]


def top_products(settings: Settings, since_minute: str, limit: int = 10,
                 connection: happybase.Connection | None = None) -> list[dict]:
    """The products with the most revenue (then purchases, views, lowest id) in the minutes from
    ``since_minute`` on, with their counts and revenue summed over those minutes."""
    sums: dict[int, dict] = {}
    with _tables(settings, connection) as tables:
        for _, cells in tables[MINUTE_PRODUCT].scan(row_start=since_minute.encode()):
            for column, text in cells.items():
                product = int(column.split(b":", 1)[1])
                row = parse_values(text.split())
                total = sums.setdefault(product, dict.fromkeys(row, 0))
                for name, value in row.items():
                    total[name] += value
    ranked = sorted(sums.items(), key=lambda item: (-item[1]["revenue"], -item[1]["purchase"], -item[1]["view"],
                                                    item[0]))
    return [{"product_id": product, **row} for product, row in ranked[:limit]]


def totals(settings: Settings, connection: happybase.Connection | None = None) -> dict:
    """Totals over every event: ``events``, ``events_by_type``, ``purchases``, ``revenue`` (the summary's names)."""
    with _tables(settings, connection) as tables:
        data = tables[TOTAL].row(TOTAL_KEY.encode())
    row = values(data) if data else zero()
    by_type = {name: row[name] for name in EVENT_TYPES}
    return {"events": sum(by_type.values()), "events_by_type": by_type, "purchases": by_type["purchase"],
            "revenue": row["revenue"]}
