"""Server-rendered pages: one template per page on the shared layout; charts load their data from /api."""

from __future__ import annotations


from flask import Blueprint, current_app, render_template, render_template_string, request, send_from_directory

from dashboard import api
from dashboard.sources import event_total, parse_user_id
from pipeline import seams

bp = Blueprint("pages", __name__)


def _summary() -> dict:
    return current_app.extensions["summary"].get()


@bp.get("/")
def overview():
    return render_template("overview.html", summary=_summary())


@bp.get("/live")
def live():
    return render_template("live.html")


@bp.get("/funnel")
def funnel():
    return render_template("funnel.html", summary=_summary())


@bp.get("/products")
def products():
    """Top products and brands, of every category or, with ?category=, of that one (404 for one the run did not see)."""
    source = current_app.extensions["summary"]
    category = request.args.get("category", "")
    return render_template("products.html", summary=source.category(category) if category else source.get(),
                           category=category, categories=source.breakdowns()["by_category"])


@bp.get("/categories")
def categories():
    return render_template("categories.html", summary=_summary(),
                           breakdowns=current_app.extensions["summary"].breakdowns())


@bp.get("/customers")
def customers():
    """The lookup form; with ?user_id=, that user's latest events (and how many they have) or a message why there
    are none."""
    text = request.args.get("user_id", "").strip()
    user_id = parse_user_id(text) if text else None
    live = current_app.extensions["live"]
    events = live.user_events(user_id) if user_id else None
    total = event_total(live, user_id, events) if events else None
    return render_template("customers.html", text=text, user_id=user_id, events=events, total=total)


@bp.get("/health")
def health():
    return render_template("health.html", **current_app.extensions["pipeline"].get())


# Lab 08's page: the student writes it in this file of the lab's folder (the reference: templates/lab08.html).
LAB08_PAGE = "kpis.html"


@bp.get("/lab08")
def lab08():
    """Lab 08's page of KPIs, given ``kpis``: the body of /api/kpis."""
    settings = current_app.config["LAB_SETTINGS"]
    return lab08_page(settings, api.lab_functions(settings).kpis(current_app.extensions["summary"]))


def lab08_page(settings, kpis: dict) -> str:
    """Lab 08's page for ``kpis``: the student's labs/08-dashboard/kpis.html when ``settings`` run their lab 08
    (read again at every request, autoescaped like every template; NotImplementedError, which names the
    step, while it does not exist), else the reference's."""
    if seams.uses_student(settings, "08"):
        page = seams.labs_dir_of(settings) / seams.SEAMS["08"].folder / LAB08_PAGE
        if not page.is_file():
            raise NotImplementedError(f"lab 08, step 8: write labs/{seams.SEAMS['08'].folder}/{LAB08_PAGE}")
        return render_template_string(page.read_text(encoding="utf-8"), kpis=kpis)
    return render_template("lab08.html", kpis=kpis)


def vendor(filename: str):
    """Vendored front-end libraries (Chart.js), unpacked by the playbook outside the checkout."""
    return send_from_directory(current_app.config["VENDOR_DIR"], filename, max_age=86400)
