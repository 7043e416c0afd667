"""Every page in headless Chromium (Debian's, driven by Playwright): no console errors, charts drawn,
the Live page moving with new events, the customer lookup; a screenshot of each page in artifacts/screenshots."""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from pipeline import produce, realtime
from tests.dashboard.conftest import HOSTILE_BRAND

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PAGES = {"overview": "/", "live": "/live", "funnel": "/funnel", "products": "/products",
         "categories": "/categories", "customers": "/customers", "health": "/health"}
CHARTS = {"overview": 4, "live": 1, "funnel": 1, "products": 2, "categories": 1}


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A page that records console errors and uncaught exceptions in ``page.errors``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.errors = []
    tab.on("console", lambda message: tab.errors.append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    yield tab
    context.close()


def drawn_charts(page) -> int:
    """Canvases that Chart.js drew with at least one non-empty data point."""
    return page.evaluate("""() => [...document.querySelectorAll('canvas[data-chart]')].filter((canvas) => {
        const chart = Chart.getChart(canvas);
        return chart && chart.data.datasets.some((d) => d.data.some((v) => v > 0));
    }).length""")


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_without_errors(page, server, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    response = page.goto(server + PAGES[name])
    assert response.status == 200
    page.wait_for_load_state("networkidle")
    if name in CHARTS:
        page.wait_for_function("(n) => document.querySelectorAll('canvas[data-chart]').length === n"
                               " && [...document.querySelectorAll('canvas[data-chart]')].every((c) => Chart.getChart(c))",
                               arg=CHARTS[name])
        assert drawn_charts(page) == CHARTS[name]
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
    assert page.errors == []


def test_sortable_table(page, server):
    page.goto(server + "/products")
    header = page.locator("#brands-table th", has_text="Purchases")
    header.click()
    first = [int(t.replace(",", "")) for t in page.locator("#brands-table tbody tr td:nth-child(2)").all_inner_texts()]
    assert first == sorted(first, reverse=True)
    header.click()
    again = [int(t.replace(",", "")) for t in page.locator("#brands-table tbody tr td:nth-child(2)").all_inner_texts()]
    assert again == sorted(again)


def test_markup_is_text_in_the_browser(page, server):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(server + "/products")
    expect(page.locator("#brands-table")).to_contain_text(HOSTILE_BRAND)
    assert dialogs == []
    assert page.errors == []


def test_customer_lookup(page, server):
    page.goto(server + "/customers")
    page.fill("#user_id", "777000777")
    page.click("button[type=submit]")
    expect(page.locator("#customer-events tbody tr")).to_have_count(1)
    expect(page.locator("#customer-events")).to_contain_text(HOSTILE_BRAND)
    page.screenshot(path=SCREENSHOTS / "customers-found.png", full_page=True)
    page.fill("#user_id", "12ab")
    page.click("button[type=submit]")
    expect(page.locator("#lookup-message")).to_contain_text("is not a user id")
    page.fill("#user_id", "5")
    page.click("button[type=submit]")
    expect(page.locator("#lookup-message")).to_contain_text("No events for user 5")
    page.screenshot(path=SCREENSHOTS / "customers-unknown.png", full_page=True)
    assert page.errors == []


def test_live_page_updates_after_new_events(page, server, lab, tmp_path):
    page.goto(server + "/live")
    purchases = page.locator("[data-live=purchases]")
    expect(purchases).not_to_have_text("–")
    before = int(purchases.inner_text().replace(",", ""))
    path = tmp_path / "more.csv"
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price",
                         "user_id", "user_session"])
        for n in range(5):
            writer.writerow([f"2020-01-15 12:0{n}:30", "purchase", str(424242 + n), "1", "", "live", "10.00",
                             str(424242), f"live-session-{n}"])
    produce.produce(lab, path, progress=False)
    stream = threading.Thread(target=realtime.run, args=(lab,), kwargs={"available_now": True})
    stream.start()
    try:
        expect(purchases).to_have_text(f"{before + 5:,}", timeout=120_000)  # no reload: the page refreshes itself
    finally:
        stream.join()
    page.screenshot(path=SCREENSHOTS / "live-updated.png", full_page=True)
    assert page.errors == []
