"""Every page in headless Chromium (Debian's, driven by Playwright): no console errors, charts drawn,
the Live page moving with new events, the customer lookup, the category filter; a screenshot of each page in
artifacts/screenshots."""

from __future__ import annotations

import csv
import threading
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect, sync_playwright

from pipeline import hbase_sink, produce, realtime
from tests.dashboard.conftest import HOSTILE_BRAND

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PAGES = {"overview": "/", "live": "/live", "funnel": "/funnel", "products": "/products",
         "categories": "/categories", "customers": "/customers", "health": "/health"}
CHARTS = {"overview": 4, "live": 1, "funnel": 1, "products": 2, "categories": 2}


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


def first_column(page, table: str) -> list[str]:
    return page.locator(f"#{table} tbody tr td:first-child").all_inner_texts()


def chart_labels(page, name: str) -> list:
    """The labels of chart ``name``, once Chart.js has drawn it."""
    chart = f"Chart.getChart(document.querySelector('canvas[data-chart={name}]'))"
    page.wait_for_function(f"() => {chart}")
    return page.evaluate(f"() => {chart}.data.labels")


def another_category(page, server, breakdowns) -> tuple[str, dict]:
    """A category whose top products are not those the unfiltered Products page shows, with its lists."""
    page.goto(server + "/products")
    everything = first_column(page, "products-table")
    return next((name, lists) for name, lists in breakdowns["by_category"].items()
                if [str(p["product_id"]) for p in lists["top_products"]] != everything)


def test_choosing_a_category_shows_its_products_and_brands(page, server, breakdowns):
    category, lists = another_category(page, server, breakdowns)
    page.select_option("#category", category)  # the form submits itself
    page.wait_for_url(f"{server}/products?{urlencode({'category': category})}")
    products = [str(p["product_id"]) for p in lists["top_products"]]
    assert first_column(page, "products-table") == products
    assert first_column(page, "brands-table") == [b["brand"] for b in lists["top_brands"]]
    assert chart_labels(page, "top-products") == products
    assert chart_labels(page, "top-brands") == [b["brand"] for b in lists["top_brands"]]
    expect(page.locator("#category")).to_have_value(category)
    page.screenshot(path=SCREENSHOTS / "products-category.png", full_page=True)
    assert page.errors == []


def test_the_category_filter_works_without_javascript(browser, server, breakdowns):
    context = browser.new_context(java_script_enabled=False)
    tab = context.new_page()
    try:
        category, lists = another_category(tab, server, breakdowns)
        tab.select_option("#category", category)
        tab.click("#category-filter button[type=submit]")
        tab.wait_for_url(f"{server}/products?{urlencode({'category': category})}")
        assert first_column(tab, "products-table") == [str(p["product_id"]) for p in lists["top_products"]]
    finally:
        context.close()


def test_categories_page_draws_the_subcategories(page, server, breakdowns):
    page.goto(server + "/categories")
    rows = breakdowns["revenue_by_subcategory"]
    assert chart_labels(page, "subcategories") == [f"{r['category']}.{r['subcategory']}" for r in rows]
    subcategories = page.locator("#subcategories-table tbody tr td:nth-child(2)").all_inner_texts()
    assert list(zip(first_column(page, "subcategories-table"), subcategories)) == [
        (r["category"], r["subcategory"]) for r in rows]
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
    expect(page.locator("#live-purchases tbody tr")).to_have_count(10)
    before = int(purchases.inner_text().replace(",", ""))
    path = tmp_path / "more.csv"
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price",
                         "user_id", "user_session"])
        for n in range(5):  # later than every event so far: the latest purchases and the only recent products
            writer.writerow([f"2030-01-01 00:0{n}:30", "purchase", str(424242 + n), "1", "", "live", f"1{n}.00",
                             str(424242), f"live-session-{n}"])
    produce.produce(lab, path, progress=False)
    sink = threading.Thread(target=hbase_sink.run, args=(lab,), kwargs={"idle_timeout_s": 3})
    stream = threading.Thread(target=realtime.run, args=(lab,), kwargs={"available_now": True})
    sink.start()
    stream.start()
    try:
        expect(purchases).to_have_text(f"{before + 5:,}", timeout=120_000)  # no reload: the page refreshes itself
        expect(page.locator("#live-purchases tbody tr").first).to_contain_text("424246")
        products = page.locator("#live-products tbody tr td:first-child")
        expect(products).to_have_text(["424246", "424245", "424244", "424243", "424242"], timeout=30_000)
        expect(page.locator("#live-since")).to_have_text("2029-12-31 23:50")
    finally:
        stream.join()
        sink.join()
    page.screenshot(path=SCREENSHOTS / "live-updated.png", full_page=True)
    assert page.errors == []
