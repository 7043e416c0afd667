"""The JSON API under /api: every chart and table of the pages is drawn from one of these endpoints.

Batch endpoints return sections of the latest analytics summary unchanged (plus
``computed_at``), or of its dashboard breakdowns: ``?category=`` narrows products and
brands to one category (404 naming the known ones for another), categories adds the
subcategories; live endpoints read the real-time aggregates and events in HBase.
A source that cannot answer gives 503 with {"error", "fix"}.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request

from dashboard.sources import parse_user_id, pipeline_status

bp = Blueprint("api", __name__, url_prefix="/api")

# endpoint name -> the summary sections it returns
BATCH = {
    "summary": None,
    "kpis": ("kpis",),
    "quality": ("quality",),
    "funnel": ("funnel", "kpis"),
    "daily": ("daily",),
    "hourly": ("hourly",),
    "products": ("top_products",),
    "brands": ("top_brands",),
    "categories": ("revenue_by_category",),
}
# endpoint name -> the breakdowns sections it returns as well
WITH_BREAKDOWNS = {"categories": ("revenue_by_subcategory",)}
# endpoints whose sections, with ?category=, are that category's (and name it)
BY_CATEGORY = ("products", "brands")


def _batch(name: str, sections: tuple[str, ...] | None):
    def view():
        source = current_app.extensions["summary"]
        if sections is None:
            return jsonify(source.get())
        category = request.args.get("category") if name in BY_CATEGORY else None
        if category:
            data, keys = source.category(category), ("computed_at", "category", *sections)
        else:
            data, keys = source.get(), ("computed_at", *sections)
        body = {key: data[key] for key in keys}
        if name in WITH_BREAKDOWNS:
            breakdowns = source.breakdowns()
            body.update({section: breakdowns[section] for section in WITH_BREAKDOWNS[name]})
        return jsonify(body)

    return view


for _name, _sections in BATCH.items():
    bp.add_url_rule(f"/{_name}", _name, _batch(_name, _sections))


@bp.get("/health")
def health():
    """The dashboard process answers (the `lab` command's http health check)."""
    return jsonify(status="ok")


def _live(read: str):
    def view():
        return jsonify(getattr(current_app.extensions["live"], read)())

    return view


# endpoint -> the Live method that reads it
LIVE = {"minutes": "minutes", "totals": "totals", "top-products": "top_products", "purchases": "purchases"}
for _name, _read in LIVE.items():
    bp.add_url_rule(f"/live/{_name}", f"live_{_read}", _live(_read))


@bp.get("/customers/<text>")
def customer(text: str):
    user_id = parse_user_id(text)
    if user_id is None:
        abort(400, description="a user id is 1 to 19 digits, between 1 and 9223372036854775807")
    events = current_app.extensions["live"].user_events(user_id)
    if not events:
        abort(404, description=f"no events for user {user_id}")
    return jsonify(user_id=user_id, events=events)


@bp.get("/pipeline")
def pipeline():
    return jsonify(pipeline_status(current_app.config["LAB_SETTINGS"], current_app.extensions["summary"]))


@bp.errorhandler(400)
@bp.errorhandler(404)
def client_error(error):
    return jsonify(error=error.description), error.code
