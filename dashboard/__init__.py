"""The lab's BI dashboard: a Flask app over the pipeline's batch summary (HDFS) and real-time aggregates (HBase).

``create_app(settings, summary, live, pipeline)`` is the application factory (as in Flask's tutorial): the pages
blueprint renders the templates, the ``/api`` blueprint serves the JSON every chart and
table is drawn from; ``summary`` and ``live`` are its data sources (``dashboard/sources.py``, or
fakes with the same methods in tests), ``pipeline`` the Pipeline health page's probes of the stack.
Served by waitress: ``waitress-serve --call dashboard:create_app``.
The web process never imports Spark: it reads HBase through ``pipeline.store``.
"""

from __future__ import annotations

import os
import re

from flask import Flask, jsonify, render_template, request

from dashboard import api, pages
from dashboard.sources import Live, PipelineStatus, Summary, Unavailable
from pipeline import seams
from pipeline import settings as pipeline_settings
from pipeline.settings import Settings

# Where the playbook unpacks Chart.js (the npm package's UMD build); served under /vendor/.
DEFAULT_VENDOR_DIR = "/opt/ecommerce-lab/dashboard/vendor"


def create_app(settings: Settings | None = None, summary: Summary | None = None, live: Live | None = None,
               pipeline: PipelineStatus | None = None) -> Flask:
    """The dashboard for ``settings`` (default: ``pipeline.settings.load()``, so $LAB_NAMESPACE picks the namespace),
    reading ``summary`` and ``live`` (default: ``Summary(settings)`` and ``Live(settings)``) and probing the stack
    with ``pipeline`` (default: ``PipelineStatus.of(settings, summary)``)."""
    settings = settings or pipeline_settings.load()
    app = Flask(__name__)
    app.config.from_mapping(
        LAB_SETTINGS=settings,
        VENDOR_DIR=os.environ.get("DASHBOARD_VENDOR_DIR", DEFAULT_VENDOR_DIR),
    )
    app.extensions["summary"] = summary if summary is not None else Summary(settings)
    app.extensions["live"] = live if live is not None else Live(settings)
    app.extensions["pipeline"] = pipeline if pipeline is not None else PipelineStatus.of(settings,
                                                                                         app.extensions["summary"])

    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.add_url_rule("/vendor/<path:filename>", "vendor", pages.vendor)

    @app.errorhandler(Unavailable)
    def unavailable(error: Unavailable):
        if request.blueprint == api.bp.name:
            body, status = api.lab_functions(settings).unavailable(error)
            return jsonify(body), status
        return render_template("unavailable.html", error=error), 503

    @app.errorhandler(NotImplementedError)
    @app.errorhandler(seams.StudentCodeError)
    def unfinished(error: Exception):
        """The student edition runs the student's labs: a page or chart their unfinished code cannot draw
        yet says which lab completes it."""
        message = seams.unfinished(error) or str(error)
        found = re.search(r"\blab (\d\d)\b", message)
        lab = found.group(1) if found else None
        text = f"Lab {lab} completes this: {message}" if lab else message
        fix = f"lab check {lab}" if lab else "lab check"
        if request.blueprint == api.bp.name:
            return jsonify({"error": text, "fix": fix}), 501
        return render_template("unavailable.html", error=Unavailable(text, fix)), 501

    @app.after_request
    def content_security_policy(response):
        # Scripts, styles and data only from the dashboard itself: no inline script can run.
        response.headers["Content-Security-Policy"] = "default-src 'self'; img-src 'self' data:"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.context_processor
    def namespace():
        return {"namespace": settings.namespace}

    return app
