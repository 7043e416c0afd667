"""Lab 03 — the HBase sink's row keys and cell, your implementation.

The sink (pipeline/hbase_sink.py) reads the raw topic, validates each record with the data contract
and, for each valid event, writes one row `row_key(event)` -> {b"e:event": cell(event)} to the events
table, and for each purchase one more row `purchase_key(event)` with the same cell to the purchases table.
Write the three functions below, one step of labs/03-hbase-sink/README.md each; docs/hbase-row-key.md
explains the design and `lab check 03` tells you how far you are. An ``Event`` is a frozen dataclass whose
fields are already normalised: `event_time` is UTC text "YYYY-MM-DD HH:MM:SS", `user_id` an int, `price`
a Decimal with two decimal places, `row_id` 32 hex digits.
"""

from __future__ import annotations

import json  # noqa: F401 (you will need it for cell)

from pipeline import contract  # noqa: F401 (given: contract.Event, the normalised event)


def row_key(event: contract.Event) -> bytes:
    """The events table's row key, as bytes: `<user_id>|<event_time>|<row_id>`, with the user id zero-padded to
    19 digits and the event time (its UTC text, unconverted) written YYYYMMDDHHMMSS, e.g.
    b"0000000000546256476|20191001003258|aa96120f12c568b2d568ff84dacb84de". One prefix scan then returns a
    user's events in time order, and the same event always gets the same key (docs/hbase-row-key.md)."""
    raise NotImplementedError("lab 03, step 2: write row_key in labs/03-hbase-sink/sink.py")


def purchase_key(event: contract.Event) -> bytes:
    """The purchases table's row key, as bytes: `<event_time>|<row_id>`, the time written as in `row_key`, e.g.
    b"20191001003258|aa96120f12c568b2d568ff84dacb84de". Purchases sort by time; the same purchase always gets
    the same key."""
    raise NotImplementedError("lab 03, step 3: write purchase_key in labs/03-hbase-sink/sink.py")


def cell(event: contract.Event) -> bytes:
    """The `e:event` cell, as UTF-8 bytes: a JSON object with every field of the event, named as in
    `Event.as_dict()`, the price as its exact decimal string ("7.50", never a float) and null fields as null."""
    raise NotImplementedError("lab 03, step 4: write cell in labs/03-hbase-sink/sink.py")
