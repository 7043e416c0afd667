"""The dashboard of the student edition runs the student's lab 08: until it is written, each chart's JSON and
lab 08's page say which lab completes them (501), and the fix is that lab's check."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard import create_app
from dashboard.fakes import FakeLive, FakeSummary
from pipeline import edition
from pipeline.settings import Settings

pytestmark = pytest.mark.unit
STARTERS = Path(__file__).resolve().parents[2] / "labs"


@pytest.fixture
def student_client(monkeypatch):
    monkeypatch.setattr(edition, "STUDENT_EDITION", True)
    app = create_app(Settings(namespace="fakes", labs_dir=str(STARTERS)), FakeSummary(), FakeLive())
    app.config.update(TESTING=True)
    return app.test_client()


@pytest.mark.parametrize(("url", "step"), [("/api/kpis", "step 2: write kpis"), ("/api/daily", "step 4: write daily"),
                                           ("/api/live/totals", "step 6: write live_totals")])
def test_a_chart_the_starter_cannot_draw_names_its_lab(student_client, url, step):
    response = student_client.get(url)
    assert response.status_code == 501
    body = response.get_json()
    assert body["error"].startswith("Lab 08 completes this: not written yet: lab 08, ")
    assert step in body["error"]
    assert body["fix"] == "lab check 08"


def test_lab_08s_page_names_its_lab(student_client):
    response = student_client.get("/lab08")
    assert response.status_code == 501
    html = response.get_data(as_text=True)
    assert "Lab 08 completes this" in html and "lab check 08" in html
