"""Shopping sessions, merged into one time-ordered stream of clean CSV lines.

A session belongs to one user and has one ``user_session`` UUID. It views a
heavy-tailed number of products (mostly staying in one category, sometimes
viewing the same product again), adds a viewed product to the cart now and
then, and at the end removes some cart items and checks out others: every
purchase comes after a cart event of the same product in the same session.
Within a session each event is at least one second after the previous one,
so clean events never repeat; sessions still running at the end of the span
are cut there. Session starts follow the clock's day/night
cycle and are spaced so that the requested number of events fills the span.
Sessions overlap; a small heap merges their events into time order, so memory
does not grow with the number of rows.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from collections.abc import Callable, Iterator
from heapq import heappop, heappush
from itertools import accumulate
from statistics import NormalDist

from .catalogue import WEEK_SECONDS, Catalogue
from .clock import HMS, Clock

P_BUYER = 0.10  # share of sessions with shopping intent
Q_BUYER = 0.22  # chance that a buyer adds a viewed product to the cart
Q_BROWSER = 0.011  # the same for everyone else
BUYER_EXTRA_VIEWS = 2
P_SAME_CATEGORY = 0.55  # next view: another product of the same category
P_NEW_PRODUCT = 0.20  # next view: any product by popularity (else: the same product again)
P_PURCHASE = 0.62  # fate of a cart item at the end of the session
P_REMOVE = 0.20
P_NO_SESSION = 0.0005  # sessions whose user_session is empty
VIEWS_ALPHA = 1.9  # views per session ~ n ** -alpha, n in 1..200
GAP_MEDIAN, GAP_SIGMA, GAP_MAX = 20.0, 1.1, 900  # seconds between views (log-normal)
USERS_PER_ROW = 1 / 12


def _quantile_table(inverse_cdf: Callable[[float], int], size: int = 8192) -> list[int]:
    """``size`` equally spaced quantiles of a distribution: sampling by uniform index."""
    return [inverse_cdf((i + 0.5) / size) for i in range(size)]


def _views_inverse_cdf() -> Callable[[float], int]:
    w = [n**-VIEWS_ALPHA for n in range(1, 201)]
    cum = list(accumulate(x / sum(w) for x in w))
    return lambda u: min(200, 1 + bisect_left(cum, u))


VIEWS = _quantile_table(_views_inverse_cdf())
GAPS = _quantile_table(
    lambda u: min(GAP_MAX, max(1, round(GAP_MEDIAN * math.exp(GAP_SIGMA * NormalDist().inv_cdf(u)))))
)


def expected_events_per_session() -> float:
    """Mean number of events of a session implied by the constants above."""
    views = sum(VIEWS) / len(VIEWS) + P_BUYER * BUYER_EXTRA_VIEWS
    q = P_BUYER * Q_BUYER + (1 - P_BUYER) * Q_BROWSER
    return views * (1 + q * (1 + P_PURCHASE + P_REMOVE))


def clean_lines(cat: Catalogue, clock: Clock, rows: int, seed: int) -> Iterator[str]:
    """Yield ``rows`` clean CSV lines (with ``\\n``) in time order."""
    rng = random.Random(seed)
    rnd, expo, bits = rng.random, rng.expovariate, rng.getrandbits
    pick, pick_in, category = cat.pick, cat.pick_in_category, cat.category
    mid = [f"{cat.product_id[i]},{cat.category_id[i]},{cat.category_code[i]},{cat.brand[i]}," for i in range(len(cat))]
    day_prefix, hms, last_second = clock.day_prefix, HMS, clock.seconds - 1
    views, n_views, gaps, n_gaps = VIEWS, len(VIEWS), GAPS, len(GAPS)
    users = max(100, int(rows * USERS_PER_ROW))
    per_session = expected_events_per_session()
    prices: dict[int, str] = {}
    price_week = -1
    heap: list[tuple[int, int, str]] = []
    seq, remaining, u = 0, rows, 0.0

    while remaining > 0:
        # next session start: the remaining arrival-rate mass shared by the sessions still to come
        u += expo(1.0) * (1.0 - u) / (remaining / per_session + 1.0)
        u = min(u, 1.0 - 1e-12)
        t = start = clock.at(u)
        while heap and heap[0][0] < t:
            yield heappop(heap)[2]

        week = (clock.epoch + start) // WEEK_SECONDS
        if week != price_week:
            prices.clear()
            price_week = week
        user = 10300217 + (int(users * rnd() ** 2) * 2654435761 + seed) % 556000000
        if rnd() < P_NO_SESSION:
            tail = f"{user},\n"
        else:
            h = f"{bits(128):032x}"
            tail = f"{user},{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}\n"

        buyer = rnd() < P_BUYER
        q = Q_BUYER if buyer else Q_BROWSER
        n = views[int(rnd() * n_views)] + (BUYER_EXTRA_VIEWS if buyer else 0)
        p = pick(rnd())
        events: list[tuple[int, str, int]] = []
        carted: list[int] = []
        for i in range(n):
            if i:
                t += gaps[int(rnd() * n_gaps)]
                r = rnd()
                if r < P_SAME_CATEGORY:
                    p = pick_in(category[p], rnd())
                elif r < P_SAME_CATEGORY + P_NEW_PRODUCT:
                    p = pick(rnd())
            events.append((t, "view", p))
            if rnd() < q and p not in carted:
                t += 1 + int(rnd() * 20)
                events.append((t, "cart", p))
                carted.append(p)
        if carted:
            bought = []
            for p in carted:
                r = rnd()
                if r < P_PURCHASE:
                    bought.append(p)
                elif r < P_PURCHASE + P_REMOVE:
                    t += 2 + int(rnd() * 60)
                    events.append((t, "remove_from_cart", p))
            t += 30 + int(rnd() * 240)
            for p in bought:
                events.append((t, "purchase", p))
                t += 1

        for t, etype, p in events:
            price = prices.get(p)
            if price is None:
                price = prices[p] = f"{cat.price(p, clock.epoch + start):.2f}"
            if t > last_second:  # cut at the end of the span, as the monthly REES46 files are
                break
            heappush(heap, (t, seq, f"{day_prefix[t // 86400]}{hms[t % 86400]},{etype},{mid[p]}{price},{tail}"))
            seq += 1
            remaining -= 1
            if not remaining:
                break

    while heap:
        yield heappop(heap)[2]
