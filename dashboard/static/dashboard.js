// Charts (Chart.js, vendored) fed by the /api endpoints, the Live page's refresh, sortable tables, filters.
"use strict";

const LIVE_REFRESH_MS = 3000;
const TYPES = ["view", "cart", "remove_from_cart", "purchase"];
const COLORS = {view: "#4e79a7", cart: "#f28e2b", remove_from_cart: "#e15759", purchase: "#59a14f", revenue: "#76b7b2"};
const number = new Intl.NumberFormat("en-US");
const money = new Intl.NumberFormat("en-US", {minimumFractionDigits: 2, maximumFractionDigits: 2});

async function getJSON(url) {
  const response = await fetch(url, {headers: {Accept: "application/json"}});
  const body = await response.json();
  if (!response.ok) {
    throw Object.assign(new Error(body.error || response.statusText), {fix: body.fix});
  }
  return body;
}

function series(label, values, color, extra = {}) {
  return {label, data: values, backgroundColor: color, borderColor: color, ...extra};
}

function bars(labels, datasets, options = {}) {
  return {type: "bar", data: {labels, datasets}, options: {animation: false, maintainAspectRatio: false, ...options}};
}

// Revenue (left axis) and purchases (right axis) of rows, each labelled label(row).
function revenueAndPurchases(rows, label) {
  return bars(rows.map(label), [
    series("Revenue", rows.map((r) => r.revenue), COLORS.revenue),
    series("Purchases", rows.map((r) => r.purchases), COLORS.purchase, {yAxisID: "purchases"}),
  ], {scales: {y: {position: "left"}, purchases: {position: "right", grid: {drawOnChartArea: false}}}});
}

// chart name (the canvas's data-chart) -> [API endpoint, function from its JSON to a Chart.js config]
const CHARTS = {
  "daily-revenue": ["/api/daily", (d) => ({
    type: "line",
    data: {labels: d.daily.map((r) => r.date), datasets: [series("Revenue", d.daily.map((r) => r.revenue), COLORS.revenue)]},
    options: {animation: false, maintainAspectRatio: false},
  })],
  "daily-events": ["/api/daily", (d) => bars(d.daily.map((r) => r.date), [
    series("Events", d.daily.map((r) => r.events), COLORS.view),
    series("Purchases", d.daily.map((r) => r.purchases), COLORS.purchase),
  ])],
  "events-by-type": ["/api/kpis", (d) => ({
    type: "doughnut",
    data: {labels: TYPES, datasets: [{data: TYPES.map((t) => d.kpis.events_by_type[t]), backgroundColor: TYPES.map((t) => COLORS[t])}]},
    options: {animation: false, maintainAspectRatio: false},
  })],
  "hourly-events": ["/api/hourly", (d) => bars(d.hourly.map((r) => r.hour), [series("Events", d.hourly.map((r) => r.events), COLORS.view)])],
  "funnel": ["/api/funnel", (d) => bars(["View", "Cart", "Purchase"], [series("Sessions",
    [d.funnel.view_sessions, d.funnel.cart_sessions, d.funnel.purchase_sessions], [COLORS.view, COLORS.cart, COLORS.purchase])],
    {indexAxis: "y"})],
  "top-products": ["/api/products", (d) => bars(d.top_products.map((r) => String(r.product_id)),
    [series("Revenue", d.top_products.map((r) => r.revenue), COLORS.revenue)], {indexAxis: "y"})],
  "top-brands": ["/api/brands", (d) => bars(d.top_brands.map((r) => r.brand),
    [series("Revenue", d.top_brands.map((r) => r.revenue), COLORS.revenue)], {indexAxis: "y"})],
  "categories": ["/api/categories", (d) => revenueAndPurchases(d.revenue_by_category, (r) => r.category)],
  "subcategories": ["/api/categories", (d) => revenueAndPurchases(d.revenue_by_subcategory,
    (r) => `${r.category}.${r.subcategory}`)],
  "live-minutes": ["/api/live/minutes", (d) => bars(d.minutes.map((r) => r.minute.slice(8, 10) + ":" + r.minute.slice(10, 12)),
    TYPES.map((t) => series(t, d.minutes.map((r) => r[t]), COLORS[t])), {scales: {x: {stacked: true}, y: {stacked: true}}})],
};

const charts = {};

// "YYYYMMDDHHMM" -> "YYYY-MM-DD HH:MM"
function minuteLabel(key) {
  return `${key.slice(0, 4)}-${key.slice(4, 6)}-${key.slice(6, 8)} ${key.slice(8, 10)}:${key.slice(10, 12)}`;
}

function showProblem(element, error) {
  element.hidden = false;
  element.replaceChildren();
  const message = document.createElement("p");
  message.textContent = error.message;
  element.append(message);
  if (error.fix) {
    const fix = document.createElement("p");
    const command = document.createElement("code");
    command.textContent = error.fix;
    fix.append("To fix it, run: ", command);
    element.append(fix);
  }
}

async function drawChart(canvas, load = getJSON) {
  const [url, config] = CHARTS[canvas.dataset.chart];
  // The page's filter (data-query, e.g. category=computers) applies to its charts' data too.
  const data = await load(canvas.dataset.query ? `${url}?${canvas.dataset.query}` : url);
  const existing = charts[canvas.dataset.chart];
  if (existing) {
    const next = config(data);
    existing.data.labels = next.data.labels;
    next.data.datasets.forEach((dataset, i) => { existing.data.datasets[i].data = dataset.data; });
    existing.update("none");
  } else {
    charts[canvas.dataset.chart] = new Chart(canvas, config(data));
  }
  return data;
}

function cell(row, text, numeric) {
  const td = row.insertCell();
  td.textContent = text;
  if (numeric) td.className = "num";
}

function fillTable(selector, rows, columns) {
  const body = document.querySelector(`${selector} tbody`);
  body.replaceChildren();
  for (const item of rows) {
    const row = body.insertRow();
    for (const [text, numeric] of columns(item)) cell(row, text, numeric);
  }
}

async function refreshLive() {
  const problem = document.getElementById("live-problem");
  try {
    const [totals, top, latest, minutes] = await Promise.all([getJSON("/api/live/totals"), getJSON("/api/live/top-products"),
      getJSON("/api/live/purchases"), drawChart(document.querySelector("[data-chart=live-minutes]"))]);
    const values = {events: number.format(totals.events), view: number.format(totals.events_by_type.view),
      cart: number.format(totals.events_by_type.cart), purchases: number.format(totals.purchases), revenue: money.format(totals.revenue)};
    for (const [name, text] of Object.entries(values)) {
      document.querySelector(`[data-live="${name}"]`).textContent = text;
    }
    fillTable("#live-products", top.top_products, (p) => [[String(p.product_id)], [number.format(p.view), true],
      [number.format(p.cart), true], [number.format(p.purchase), true], [money.format(p.revenue), true]]);
    fillTable("#live-purchases", latest.purchases, (p) => [[p.event_time], [String(p.product_id)], [p.brand || "–"],
      [p.category_code || "–"], [money.format(p.price), true], [String(p.user_id), true]]);
    document.getElementById("live-since").textContent = top.since_minute ? minuteLabel(top.since_minute) : "–";
    document.getElementById("live-latest").textContent = minutes.latest_minute ? minuteLabel(minutes.latest_minute) : "none";
    document.getElementById("live-updated").textContent = new Date().toLocaleTimeString();
    problem.hidden = true;
  } catch (error) {
    showProblem(problem, error);
  }
}

function sortable(table) {
  table.querySelectorAll("th").forEach((th, column) => {
    th.tabIndex = 0;
    th.addEventListener("click", () => {
      const descending = th.getAttribute("aria-sort") !== "descending";
      table.querySelectorAll("th").forEach((other) => other.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      const key = (row) => row.cells[column].dataset.sort;
      const rows = Array.from(table.tBodies[0].rows);
      const numeric = rows.every((row) => key(row) !== "" && !Number.isNaN(Number(key(row))));
      rows.sort((a, b) => {
        const order = numeric ? Number(key(a)) - Number(key(b)) : key(a).localeCompare(key(b));
        return descending ? -order : order;
      });
      table.tBodies[0].append(...rows);
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach(sortable);
  // A filter applies as soon as it is chosen; its submit button serves without JavaScript.
  document.querySelectorAll("form.filter select").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });
  if (typeof Chart === "undefined") {
    document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      canvas.replaceWith(Object.assign(document.createElement("p"), {
        className: "problem", textContent: "Chart.js is not installed; provision the host with `sudo lab up`."}));
    });
    return;
  }
  if (document.body.dataset.page === "pages.live") {
    refreshLive();
    setInterval(refreshLive, LIVE_REFRESH_MS);
    return;
  }
  // Drawn once: charts fed by the same endpoint (e.g. categories and subcategories) share one request.
  const requests = {};
  const load = (url) => (requests[url] ??= getJSON(url));
  document.querySelectorAll("canvas[data-chart]").forEach((canvas) => drawChart(canvas, load).catch((error) => {
    const box = document.createElement("div");
    box.className = "problem";
    canvas.replaceWith(box);
    showProblem(box, error);
  }));
});
