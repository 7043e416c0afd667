"""The JSON API under /api: every chart and table of the pages is drawn from one of these endpoints.

Batch endpoints return sections of the latest analytics summary unchanged (plus
``computed_at``), or of its dashboard breakdowns: ``?category=`` narrows products and
brands to one category (404 naming the known ones for another), categories adds the
subcategories; live endpoints read the real-time aggregates and events in HBase.
A source that cannot answer gives 503 with {"error", "fix"}.

Lab 08's endpoints are plain functions of their data sources (``kpis``, ``daily``, ``products``,
``live_totals``, ``customer``, ``unavailable``: no Flask in them); the blueprint's views call them
through the seam (``pipeline/seams.py``: these, or a student's ``api.py``) and turn their result
into the JSON response.
"""

from __future__ import annotations

from types import ModuleType

from flask import Blueprint, current_app, jsonify, request

from dashboard.sources import Live, Summary, Unavailable, event_total, parse_user_id
from pipeline import seams

bp = Blueprint("api", __name__, url_prefix="/api")


def kpis(summary: Summary) -> dict:
    """The body of /api/kpis: ``{"computed_at": ..., "kpis": {...}}``, those two sections of the latest
    analytics run's summary (``summary.get()``), unchanged. A source that cannot answer raises ``Unavailable``:
    let it go, the app answers it with ``unavailable``."""
    ### BEGIN SOLUTION
    return _sections(summary.get(), "kpis")
    ### END SOLUTION


def daily(summary: Summary) -> dict:
    """The body of /api/daily: ``{"computed_at": ..., "daily": [...]}``, the run's events, purchases and
    revenue per day and when it was computed, from its summary (``summary.get()``), unchanged."""
    ### BEGIN SOLUTION
    return _sections(summary.get(), "daily")
    ### END SOLUTION


def products(summary: Summary, category: str | None) -> dict:
    """The body of /api/products: ``{"computed_at", "top_products"}`` of the run's summary (``summary.get()``);
    with a ``category`` (``?category=``, not empty), ``{"computed_at", "category", "top_products"}`` of that
    category's breakdown (``summary.category(category)``, which raises ``UnknownCategory``, a 404 that names
    the known categories, for one the run did not see)."""
    ### BEGIN SOLUTION
    return _of_category(summary, category, "top_products")
    ### END SOLUTION


def live_totals(live: Live) -> dict:
    """The body of /api/live/totals: the totals over every streamed event (``live.totals()``, with the
    summary's names), unchanged."""
    ### BEGIN SOLUTION
    return live.totals()
    ### END SOLUTION


def customer(live: Live, text: str) -> tuple[dict, int]:
    """The body and status of /api/customers/<text>: ``({"user_id": id, "events": [...]}, 200)`` with the
    user's events in time order (``live.user_events(id)``); ``({"error": why}, 400)`` when ``text`` breaks the
    data contract's id rule (``parse_user_id`` gives None); ``({"error": why}, 404)`` when the user has no events."""
    ### BEGIN SOLUTION
    user_id = parse_user_id(text)
    if user_id is None:
        return {"error": "a user id is 1 to 19 digits, between 1 and 9223372036854775807"}, 400
    events = live.user_events(user_id)
    if not events:
        return {"error": f"no events for user {user_id}"}, 404
    return {"user_id": user_id, "events": events}, 200
    ### END SOLUTION


def unavailable(error: Unavailable) -> tuple[dict, int]:
    """The body and status of an /api request whose source cannot answer: ``({"error": error.message,
    "fix": error.fix}, 503)``, what is wrong and the command that fixes it."""
    ### BEGIN SOLUTION
    return {"error": error.message, "fix": error.fix}, 503
    ### END SOLUTION


def _sections(document: dict, *sections: str) -> dict:
    """``computed_at`` and ``sections`` of a summary document."""
    return {key: document[key] for key in ("computed_at", *sections)}


def _of_category(summary: Summary, category: str | None, *sections: str) -> dict:
    """``sections`` of the whole run, or with a ``category`` of that category's breakdown (naming it)."""
    if category:
        return _sections(summary.category(category), "category", *sections)
    return _sections(summary.get(), *sections)


def lab_functions(settings) -> ModuleType:
    """The module of lab 08's functions for ``settings``: this one, or a student's ``api.py``."""
    return seams.load(settings, "08")


def _lab() -> ModuleType:
    return lab_functions(current_app.config["LAB_SETTINGS"])


def _summary() -> Summary:
    return current_app.extensions["summary"]


def _live() -> Live:
    return current_app.extensions["live"]


@bp.get("/kpis", endpoint="kpis")
def _kpis():
    return jsonify(_lab().kpis(_summary()))


@bp.get("/daily", endpoint="daily")
def _daily():
    return jsonify(_lab().daily(_summary()))


@bp.get("/products", endpoint="products")
def _products():
    return jsonify(_lab().products(_summary(), request.args.get("category")))


@bp.get("/live/totals", endpoint="live_totals")
def _live_totals():
    return jsonify(_lab().live_totals(_live()))


@bp.get("/customers/<text>", endpoint="customer")
def _customer(text: str):
    """Lab 08's ``customer``, plus the user's ``total_events`` (the lookup shows at most ``Live.customer_events``)."""
    live = _live()
    body, status = _lab().customer(live, text)
    if status == 200:
        body = {**body, "total_events": event_total(live, body["user_id"], body["events"])}
    return jsonify(body), status


# The other batch endpoints: endpoint name -> the summary sections it returns
BATCH = {
    "summary": None,
    "quality": ("quality",),
    "funnel": ("funnel", "kpis"),
    "hourly": ("hourly",),
    "brands": ("top_brands",),
    "categories": ("revenue_by_category",),
}
# endpoint name -> the breakdowns sections it returns as well
WITH_BREAKDOWNS = {"categories": ("revenue_by_subcategory",)}
# endpoints whose sections, with ?category=, are that category's (and name it); products is one too
BY_CATEGORY = ("brands",)


def _batch(name: str, sections: tuple[str, ...] | None):
    def view():
        source = _summary()
        if sections is None:
            return jsonify(source.get())
        body = _of_category(source, request.args.get("category") if name in BY_CATEGORY else None, *sections)
        if name in WITH_BREAKDOWNS:
            breakdowns = source.breakdowns()
            body.update({section: breakdowns[section] for section in WITH_BREAKDOWNS[name]})
        return jsonify(body)

    return view


for _name, _sections_of in BATCH.items():
    bp.add_url_rule(f"/{_name}", _name, _batch(_name, _sections_of))


@bp.get("/health")
def health():
    """The dashboard process answers (the `lab` command's http health check)."""
    return jsonify(status="ok")


def _live_view(read: str):
    def view():
        return jsonify(getattr(_live(), read)())

    return view


# The other live endpoints: endpoint -> the Live method that reads it
LIVE = {"minutes": "minutes", "top-products": "top_products", "purchases": "purchases"}
for _name, _read in LIVE.items():
    bp.add_url_rule(f"/live/{_name}", f"live_{_read}", _live_view(_read))


@bp.get("/pipeline")
def pipeline():
    return jsonify(current_app.extensions["pipeline"].get())


@bp.errorhandler(400)
@bp.errorhandler(404)
def client_error(error):
    return jsonify(error=error.description), error.code
