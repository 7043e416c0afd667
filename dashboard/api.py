"""The JSON API under /api: every chart and table of the pages is drawn from one of these endpoints.

Batch endpoints return sections of the latest analytics summary unchanged (plus
``computed_at``); live endpoints read the real-time aggregates and events in HBase.
A source that cannot answer gives 503 with {"error", "fix"}.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify

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


def _batch(sections: tuple[str, ...] | None):
    def view():
        summary = current_app.extensions["summary"].get()
        if sections is None:
            return jsonify(summary)
        return jsonify({"computed_at": summary["computed_at"], **{name: summary[name] for name in sections}})

    return view


for _name, _sections in BATCH.items():
    bp.add_url_rule(f"/{_name}", _name, _batch(_sections))


@bp.get("/health")
def health():
    """The dashboard process answers (the `lab` command's http health check)."""
    return jsonify(status="ok")


@bp.get("/live/minutes")
def live_minutes():
    return jsonify(current_app.extensions["live"].minutes())


@bp.get("/live/totals")
def live_totals():
    return jsonify(current_app.extensions["live"].totals())


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
