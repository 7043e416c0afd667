"""Product catalogue: stable category, brand and base price per product.

Each product belongs to one category of :data:`CATEGORIES` (its price model
and brand pool). Popularity is Zipf-Mandelbrot over a shuffled rank, so a few
products take a large share of the events. A set of products carrying about
:data:`EMPTY_CODE_SHARE` of the popularity has no ``category_code`` (they get
an uncoded ``category_id`` of their own, as in REES46), and likewise
:data:`EMPTY_BRAND_SHARE` of it has no brand.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

PRICE_MIN = 0.77
PRICE_MAX = 2574.04
EMPTY_CODE_SHARE = 0.32
EMPTY_BRAND_SHARE = 0.14
ZIPF_S = 1.0
ZIPF_Q = 10.0
WEEK_SECONDS = 7 * 86400

# code, share of products/events, median price, log-sigma, brands (most popular first)
CATEGORIES: tuple[tuple[str, float, float, float, tuple[str, ...]], ...] = (
    ("electronics.smartphone", 0.22, 260.0, 0.75, ("samsung", "apple", "xiaomi", "huawei", "oppo", "meizu", "nokia")),
    ("electronics.audio.headphone", 0.05, 45.0, 0.9, ("samsung", "apple", "sony", "jbl", "xiaomi", "sennheiser")),
    ("electronics.video.tv", 0.04, 420.0, 0.6, ("samsung", "lg", "sony", "philips", "hisense", "tcl")),
    ("electronics.clocks", 0.035, 150.0, 0.8, ("apple", "samsung", "casio", "garmin", "xiaomi", "amazfit")),
    ("electronics.tablet", 0.015, 230.0, 0.6, ("apple", "samsung", "lenovo", "huawei", "prestigio")),
    ("electronics.audio.acoustic", 0.01, 80.0, 0.9, ("jbl", "sony", "marshall", "harman", "sven")),
    ("electronics.camera.video", 0.005, 300.0, 0.7, ("gopro", "sony", "xiaomi", "canon")),
    ("computers.notebook", 0.05, 650.0, 0.5, ("lenovo", "hp", "asus", "acer", "apple", "dell", "msi")),
    ("computers.desktop", 0.01, 520.0, 0.6, ("hp", "lenovo", "acer", "dell", "asus")),
    ("computers.peripherals.printer", 0.01, 180.0, 0.7, ("hp", "canon", "epson", "brother", "xerox")),
    ("computers.components.videocards", 0.01, 320.0, 0.7, ("msi", "gigabyte", "asus", "palit", "zotac")),
    ("computers.peripherals.mouse", 0.01, 18.0, 0.8, ("logitech", "a4tech", "defender", "razer", "hp")),
    ("appliances.kitchen.washer", 0.04, 300.0, 0.45, ("samsung", "lg", "indesit", "beko", "bosch", "haier")),
    ("appliances.kitchen.refrigerators", 0.04, 450.0, 0.5, ("samsung", "lg", "bosch", "atlant", "beko", "indesit")),
    ("appliances.environment.vacuum", 0.035, 130.0, 0.7, ("samsung", "philips", "xiaomi", "bosch", "vitek", "lg")),
    ("appliances.kitchen.microwave", 0.015, 75.0, 0.45, ("samsung", "lg", "midea", "bosch", "gorenje")),
    ("appliances.kitchen.kettle", 0.015, 22.0, 0.6, ("tefal", "redmond", "bosch", "polaris", "vitek")),
    ("appliances.environment.air_heater", 0.01, 40.0, 0.7, ("ballu", "electrolux", "timberk", "polaris")),
    ("appliances.personal.hair_cutter", 0.01, 25.0, 0.6, ("philips", "braun", "panasonic", "remington")),
    ("appliances.iron", 0.01, 35.0, 0.6, ("philips", "tefal", "bosch", "braun")),
    ("apparel.shoes", 0.04, 60.0, 0.7, ("nike", "adidas", "puma", "reebok", "respect", "baden")),
    ("apparel.shoes.keds", 0.01, 55.0, 0.6, ("nike", "adidas", "vans", "converse")),
    ("apparel.costume", 0.01, 40.0, 0.8, ("adidas", "nike", "lacoste", "tommyhilfiger")),
    ("furniture.living_room.sofa", 0.01, 350.0, 0.6, ("brw", "sofas", "mebelvia", "halmar")),
    ("furniture.bedroom.bed", 0.01, 280.0, 0.6, ("askona", "brw", "ormatek", "halmar")),
    ("furniture.kitchen.table", 0.005, 120.0, 0.6, ("brw", "halmar", "signal")),
    ("auto.accessories.player", 0.01, 60.0, 0.7, ("pioneer", "kenwood", "sony", "prology")),
    ("auto.accessories.videoregister", 0.01, 70.0, 0.7, ("xiaomi", "neoline", "prology", "mio")),
    ("construction.tools.drill", 0.02, 70.0, 0.7, ("bosch", "makita", "dewalt", "metabo", "interskol")),
    ("construction.tools.saw", 0.005, 110.0, 0.7, ("bosch", "makita", "stihl", "husqvarna")),
    ("kids.toys", 0.02, 25.0, 0.9, ("lego", "hasbro", "mattel", "zuru", "playmobil")),
    ("kids.carriage", 0.005, 230.0, 0.6, ("chicco", "cybex", "happybaby")),
    ("sport.bicycle", 0.01, 260.0, 0.7, ("stels", "stern", "forward", "merida", "cube")),
    ("sport.tennis", 0.003, 45.0, 0.7, ("wilson", "head", "babolat")),
    ("accessories.bag", 0.015, 35.0, 0.9, ("samsonite", "xiaomi", "wenger", "hp")),
    ("accessories.wallet", 0.005, 20.0, 0.7, ("tommyhilfiger", "piquadro", "wenger")),
    ("country_yard.cultivator", 0.002, 350.0, 0.5, ("huter", "champion", "patriot")),
    ("stationery.cartrige", 0.01, 30.0, 0.7, ("hp", "canon", "epson", "xerox")),
    ("medicine.tools.tonometer", 0.003, 40.0, 0.5, ("omron", "and", "microlife")),
    ("beauty.skin.care", 0.01, 12.0, 0.9, ("nivea", "garnier", "loreal", "vichy")),
)


def mix64(x: int) -> int:
    """SplitMix64 finaliser: a fast deterministic hash of a non-negative int."""
    m = 0xFFFFFFFFFFFFFFFF
    x = (x + 0x9E3779B97F4A7C15) & m
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & m
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & m
    return x ^ (x >> 31)


def _greedy_share(order: list[int], weight: list[float], share: float) -> set[int]:
    """Products, taken in ``order``, whose weights add up to just under ``share`` of the total."""
    budget = share * math.fsum(weight)
    picked: set[int] = set()
    acc = 0.0
    for i in order:
        if acc + weight[i] <= budget:
            picked.add(i)
            acc += weight[i]
    return picked


@dataclass
class Catalogue:
    """Parallel per-product arrays plus cumulative weights for sampling."""

    product_id: list[int]
    category: list[int]
    category_id: list[int]
    category_code: list[str]
    brand: list[str]
    base_price: list[float]
    weight: list[float]
    cum_weight: list[float]
    by_category: list[list[int]]
    by_category_cum: list[list[float]]
    seed: int

    def __len__(self) -> int:
        return len(self.product_id)

    def price(self, p: int, second: int) -> float:
        """Price of product ``p`` at epoch ``second``: base price, changed by -8..+8 % in some weeks."""
        h = mix64(self.seed * 0x1000193 ^ (p << 20) ^ (second // WEEK_SECONDS))
        if h % 10 < 6:
            factor = 1.0
        else:
            factor = 1.0 + ((h >> 8) % 161 - 80) / 1000.0
        return min(PRICE_MAX, max(PRICE_MIN, round(self.base_price[p] * factor, 2)))

    def pick(self, u: float) -> int:
        """Product index for a uniform ``u`` in [0, 1), by global popularity."""
        cum = self.cum_weight
        return bisect_right(cum, u * cum[-1], 0, len(cum) - 1)

    def pick_in_category(self, c: int, u: float) -> int:
        """Product index in category ``c`` for a uniform ``u``, by popularity within it."""
        cum = self.by_category_cum[c]
        return self.by_category[c][bisect_right(cum, u * cum[-1], 0, len(cum) - 1)]


@lru_cache(maxsize=4)
def build_catalogue(seed: int, n_products: int = 30000) -> Catalogue:
    """Build (or reuse) the deterministic catalogue of ``n_products`` products for ``seed``; treat it as read-only."""
    rng = random.Random(seed * 7919 + 17)
    n_cat = len(CATEGORIES)
    known_ids = rng.sample(range(2053013552226107000, 2232732138000000000, 997), n_cat * 2)
    coded_id, uncoded_id = known_ids[:n_cat], known_ids[n_cat:]
    pids = rng.sample(range(1000000, 100000000), n_products)
    cats = rng.choices(range(n_cat), weights=[c[1] for c in CATEGORIES], k=n_products)
    ranks = list(range(n_products))
    rng.shuffle(ranks)
    weight = [1.0 / (r + 1 + ZIPF_Q) ** ZIPF_S for r in ranks]

    brand: list[str] = []
    price: list[float] = []
    for c in cats:
        _, _, median, sigma, brands = CATEGORIES[c]
        # brand popularity within a category falls off as 1/(rank+1)
        brand.append(rng.choices(brands, weights=[1.0 / (i + 1) for i in range(len(brands))])[0])
        p = median * math.exp(sigma * rng.gauss(0.0, 1.0))
        price.append(min(PRICE_MAX, max(PRICE_MIN, round(p, 2))))

    order = list(range(n_products))
    rng.shuffle(order)
    no_code = _greedy_share(order, weight, EMPTY_CODE_SHARE)
    rng.shuffle(order)
    no_brand = _greedy_share(order, weight, EMPTY_BRAND_SHARE)
    for i in no_brand:
        brand[i] = ""

    category_id = [uncoded_id[c] if i in no_code else coded_id[c] for i, c in enumerate(cats)]
    category_code = ["" if i in no_code else CATEGORIES[c][0] for i, c in enumerate(cats)]

    by_category: list[list[int]] = [[] for _ in range(n_cat)]
    for i, c in enumerate(cats):
        by_category[c].append(i)
    by_category_cum = [_cumsum([weight[i] for i in members]) for members in by_category]
    return Catalogue(
        product_id=pids,
        category=cats,
        category_id=category_id,
        category_code=category_code,
        brand=brand,
        base_price=price,
        weight=weight,
        cum_weight=_cumsum(weight),
        by_category=by_category,
        by_category_cum=by_category_cum,
        seed=seed,
    )


def _cumsum(values: list[float]) -> list[float]:
    out, acc = [], 0.0
    for v in values:
        acc += v
        out.append(acc)
    return out
