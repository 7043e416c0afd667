"""Lab 08 — the dashboard API, your functions.

Each function below is the body (and, for two of them, the status) of one JSON endpoint of the dashboard:
plain Python of the dashboard's data sources, no Flask in it. The dashboard's views call them and turn
what they return into the HTTP response; `lab dashboard --mine --namespace $USER` serves a dashboard that
runs yours (it reads this file again when you save it). Write them in the order of
labs/08-dashboard/README.md; `lab check 08` tells you how far you are.

Given (dashboard/sources.py): ``Summary`` (``get()``: the latest analytics run's summary plus its
``computed_at``; ``category(name)``: one category's breakdown, or ``UnknownCategory``), ``Live``
(``totals()``, ``user_events(user_id)``), ``Unavailable`` (``message``, ``fix``: what every source raises
when it cannot answer) and ``parse_user_id`` (the data contract's id rule: the id, or None).
"""

from __future__ import annotations

from dashboard.sources import (  # noqa: F401 (given: use what you need)
    Live,
    Summary,
    Unavailable,
    UnknownCategory,
    parse_user_id,
)


def kpis(summary: Summary) -> dict:
    """The body of /api/kpis: ``{"computed_at": ..., "kpis": {...}}``, those two sections of the latest
    analytics run's summary (``summary.get()``), unchanged. A source that cannot answer raises ``Unavailable``:
    let it go, the app answers it with ``unavailable``."""
    raise NotImplementedError("lab 08, step 2: write kpis in labs/08-dashboard/api.py")


def unavailable(error: Unavailable) -> tuple[dict, int]:
    """The body and status of an /api request whose source cannot answer: ``({"error": error.message,
    "fix": error.fix}, 503)``, what is wrong and the command that fixes it."""
    raise NotImplementedError("lab 08, step 3: write unavailable in labs/08-dashboard/api.py")


def daily(summary: Summary) -> dict:
    """The body of /api/daily: ``{"computed_at": ..., "daily": [...]}``, the run's events, purchases and
    revenue per day and when it was computed, from its summary (``summary.get()``), unchanged."""
    raise NotImplementedError("lab 08, step 4: write daily in labs/08-dashboard/api.py")


def products(summary: Summary, category: str | None) -> dict:
    """The body of /api/products: ``{"computed_at", "top_products"}`` of the run's summary (``summary.get()``);
    with a ``category`` (``?category=``, not empty), ``{"computed_at", "category", "top_products"}`` of that
    category's breakdown (``summary.category(category)``, which raises ``UnknownCategory``, a 404 that names
    the known categories, for one the run did not see)."""
    raise NotImplementedError("lab 08, step 5: write products in labs/08-dashboard/api.py")


def live_totals(live: Live) -> dict:
    """The body of /api/live/totals: the totals over every streamed event (``live.totals()``, with the
    summary's names), unchanged."""
    raise NotImplementedError("lab 08, step 6: write live_totals in labs/08-dashboard/api.py")


def customer(live: Live, text: str) -> tuple[dict, int]:
    """The body and status of /api/customers/<text>: ``({"user_id": id, "events": [...]}, 200)`` with the
    user's events in time order (``live.user_events(id)``); ``({"error": why}, 400)`` when ``text`` breaks the
    data contract's id rule (``parse_user_id`` gives None); ``({"error": why}, 404)`` when the user has no events."""
    raise NotImplementedError("lab 08, step 7: write customer in labs/08-dashboard/api.py")
