"""The realism model of datasets/README.md, each property within a tolerance."""

from __future__ import annotations

import csv
import datetime as dt
import math
import statistics
from collections import Counter, defaultdict

import pytest

from datasets import generate

pytestmark = pytest.mark.unit

ROWS = 150_000
START, DAYS = dt.date(2019, 10, 1), 14


@pytest.fixture(scope="module")
def events(tmp_path_factory) -> list[list[str]]:
    path = tmp_path_factory.mktemp("realism") / "events.csv"
    generate(path, ROWS, seed=2019, start=START, days=DAYS, defect_rate=0.0)
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[1:]


def share(rows, predicate) -> float:
    return sum(1 for r in rows if predicate(r)) / len(rows)


def test_event_type_mix(events):
    mix = Counter(r[1] for r in events)
    assert 0.92 <= mix["view"] / ROWS <= 0.955
    assert 0.03 <= mix["cart"] / ROWS <= 0.04
    assert 0.02 <= mix["purchase"] / ROWS <= 0.03
    assert 0.003 <= mix["remove_from_cart"] / ROWS <= 0.015


def test_purchase_and_removal_follow_a_cart_of_the_same_product_in_the_session(events):
    carted: set[tuple[str, str]] = set()
    checked = 0
    for r in events:
        key = (r[8], r[2])
        if r[1] == "cart":
            carted.add(key)
        elif r[1] in ("purchase", "remove_from_cart") and r[8]:
            assert key in carted, r
            checked += 1
    assert checked > 1000


def test_sessions_have_one_user_and_a_plausible_shape(events):
    users, times, sizes = defaultdict(set), defaultdict(list), Counter()
    for r in events:
        if r[8]:
            users[r[8]].add(r[7])
            times[r[8]].append(r[0])
            sizes[r[8]] += 1
    assert all(len(u) == 1 for u in users.values())
    assert 3.0 <= statistics.mean(sizes.values()) <= 8.0
    assert 0.2 <= sum(1 for n in sizes.values() if n == 1) / len(sizes) <= 0.7
    assert max(sizes.values()) >= 30  # heavy tail
    fmt = "%Y-%m-%d %H:%M:%S UTC"
    spans = [(dt.datetime.strptime(t[-1], fmt) - dt.datetime.strptime(t[0], fmt)).total_seconds()
             for t in times.values() if len(t) > 1]
    assert 30 <= statistics.median(spans) <= 1800
    sessions_per_user = Counter(next(iter(u)) for u in users.values())
    assert max(sessions_per_user.values()) > 1  # users come back
    assert share(events, lambda r: r[8] == "") < 0.005


def test_product_attributes_are_stable(events):
    attrs = defaultdict(set)
    for r in events:
        attrs[r[2]].add((r[3], r[4], r[5]))
    assert all(len(a) == 1 for a in attrs.values())
    codes_per_category = defaultdict(set)
    for (cat_id, code, _), in attrs.values():
        codes_per_category[cat_id].add(code)
    assert all(len(c) == 1 for c in codes_per_category.values())


def test_empty_category_code_and_brand_shares(events):
    assert 0.28 <= share(events, lambda r: r[4] == "") <= 0.36
    assert 0.11 <= share(events, lambda r: r[5] == "") <= 0.17


def test_price_range_and_median(events):
    prices = [float(r[6]) for r in events]
    assert min(prices) >= 0.77 and max(prices) <= 2574.04
    assert 100 <= statistics.median(prices) <= 350
    assert min(prices) < 5 and max(prices) > 1500


def test_price_depends_on_category(events):
    by_code = defaultdict(list)
    for r in events:
        by_code[r[4]].append(float(r[6]))
    med = {c: statistics.median(v) for c, v in by_code.items()}
    assert med["computers.notebook"] > med["electronics.smartphone"] > med["electronics.audio.headphone"]
    assert med["appliances.kitchen.kettle"] < 50 < med["appliances.kitchen.washer"]


def test_price_per_product_varies_a_little_over_time(events):
    prices = defaultdict(set)
    for r in events:
        prices[r[2]].add(float(r[6]))
    assert all(max(p) / min(p) <= 1.2 for p in prices.values())
    frequent = [pid for pid, n in Counter(r[2] for r in events).items() if n >= 50]
    assert len(frequent) >= 100
    assert 0.5 <= sum(1 for pid in frequent if len(prices[pid]) > 1) / len(frequent) <= 0.95


def test_product_popularity_is_heavy_tailed(events):
    counts = sorted(Counter(r[2] for r in events).values(), reverse=True)
    top = sum(counts[: max(1, len(counts) // 100)]) / ROWS
    assert top >= 0.10  # top 1 % of products
    assert counts[0] / ROWS < 0.05
    # rank-frequency slope on log-log axes, ranks 10..1000: Zipf-like
    xs = [math.log(k) for k in range(10, 1001)]
    ys = [math.log(counts[k - 1]) for k in range(10, 1001)]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    assert -1.4 <= slope <= -0.6


def test_day_night_cycle(events):
    hours = Counter(int(r[0][11:13]) for r in events)
    assert max(hours, key=hours.get) in range(13, 20)
    assert min(hours, key=hours.get) in range(0, 6)
    evening = sum(hours[h] for h in range(14, 19))
    night = sum(hours[h] for h in range(0, 5))
    assert evening / night >= 4


def test_sorted_by_time_within_the_requested_span(events):
    times = [r[0] for r in events]
    assert times == sorted(times)
    first, last = dt.date.fromisoformat(times[0][:10]), dt.date.fromisoformat(times[-1][:10])
    assert first == START and last == START + dt.timedelta(days=DAYS - 1)
    per_day = Counter(t[:10] for t in times)
    assert len(per_day) == DAYS
    assert max(per_day.values()) / min(per_day.values()) < 1.5  # the rows fill the whole span
