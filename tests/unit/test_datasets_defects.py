"""The manifest tells the truth: defects are re-counted here independently.

The checker below re-implements the cleaning contract with the csv module
(reject reasons in order, normalisation, exact de-duplication); it shares no
code with the generator's defect injection.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datasets import Manifest, generate, manifest_path

pytestmark = pytest.mark.unit

TYPES = {"view", "cart", "remove_from_cart", "purchase"}
TIME_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})( UTC)?")
ID_RE = re.compile(r"[0-9]{1,19}")
PRICE_RE = re.compile(r"[0-9]+(\.[0-9]{1,2})?")
INJECTED = ("bad_field_count", "bad_event_time", "bad_event_type", "bad_id", "bad_price")
REASONS = ("record_too_large", *INJECTED)  # the generator writes no record longer than 1 MiB
MAX_RECORD_BYTES = 1024 * 1024


def reject_reason(rec: list[str]) -> str | None:
    if len(rec) != 9:
        return "bad_field_count"
    m = TIME_RE.fullmatch(rec[0].strip())
    if not m:
        return "bad_event_time"
    try:
        dt.datetime(*(int(g) for g in m.groups()[:6]))
    except ValueError:
        return "bad_event_time"
    if rec[1].strip().lower() not in TYPES:
        return "bad_event_type"
    for i in (2, 3, 7):
        v = rec[i].strip()
        if not ID_RE.fullmatch(v) or not 1 <= int(v) <= 2**63 - 1:
            return "bad_id"
    if not PRICE_RE.fullmatch(rec[6].strip()):
        return "bad_price"
    return None


def normalise(rec: list[str]) -> tuple:
    def text(v: str) -> str | None:
        return v.strip().lower() or None

    t = dt.datetime(*(int(g) for g in TIME_RE.fullmatch(rec[0].strip()).groups()[:6]))
    ids = [int(rec[i]) for i in (2, 3, 7)]
    return (t, text(rec[1]), ids[0], ids[1], text(rec[4]), text(rec[5]), Decimal(rec[6].strip()), ids[2],
            rec[8].strip() or None)


def audit(path: Path) -> dict:
    """Independent counts for a generated CSV."""
    rejected = Counter({r: 0 for r in REASONS})
    cosmetic = Counter({k: 0 for k in ("event_type_case_space", "brand_case_space", "brand_with_comma")})
    seen: set[tuple] = set()
    records = valid = duplicates = repeated_lines = 0
    with open(path, newline="", encoding="utf-8") as fh:
        raw_lines = iter(fh.read().splitlines())
    header = next(raw_lines)
    previous = None
    for line in raw_lines:
        records += 1
        repeated_lines += line == previous
        previous = line
        rec = next(csv.reader([line]))
        reason = "record_too_large" if len(line.encode()) > MAX_RECORD_BYTES else reject_reason(rec)
        if reason:
            rejected[reason] += 1
            continue
        valid += 1
        cosmetic["event_type_case_space"] += rec[1] != rec[1].strip().lower()
        if "," in rec[5]:
            cosmetic["brand_with_comma"] += 1
        elif rec[5] != rec[5].strip().lower():
            cosmetic["brand_case_space"] += 1
        key = normalise(rec)
        if key in seen:
            duplicates += 1
        seen.add(key)
    return {
        "header": header,
        "expected": {
            "input_records": records,
            "rejected": dict(rejected),
            "valid": valid,
            "duplicates_removed": duplicates,
            "clean_events": valid - duplicates,
        },
        "cosmetic": dict(cosmetic),
        "repeated_lines": repeated_lines,
    }


@pytest.fixture(scope="module")
def defective(tmp_path_factory) -> tuple[Path, Manifest, dict]:
    path = tmp_path_factory.mktemp("defects") / "events.csv"
    manifest = generate(path, 100_000, seed=11, defect_rate=0.05)
    return path, manifest, audit(path)


def test_expected_block_matches_independent_count(defective):
    _, manifest, counted = defective
    assert manifest.expected == counted["expected"]
    assert manifest.rows == counted["expected"]["input_records"] == 100_000


def test_reject_kinds_match_reject_reasons(defective):
    _, manifest, counted = defective
    for reason in INJECTED:
        assert manifest.defects[reason] == counted["expected"]["rejected"][reason] > 0


def test_cosmetic_defects_are_valid_and_counted(defective):
    _, manifest, counted = defective
    for kind, n in counted["cosmetic"].items():
        assert manifest.defects[kind] == n > 0


def test_duplicates_are_adjacent_exact_copies(defective):
    _, manifest, counted = defective
    assert manifest.defects["duplicate_row"] == counted["repeated_lines"] > 0
    assert manifest.expected["duplicates_removed"] == manifest.defects["duplicate_row"]


def test_defect_rate_is_respected(defective):
    _, manifest, _ = defective
    share = sum(manifest.defects.values()) / manifest.rows
    assert 0.045 <= share <= 0.055


def test_each_kind_has_its_variants(defective):
    _, manifest, _ = defective
    v = manifest.defect_variants
    assert set(v["bad_event_time"]) == {"unparseable", "impossible"}
    assert {"empty", "negative", "non_numeric"} <= {k.split("/")[1] for k in v["bad_id"]}
    assert {"empty", "negative", "non_numeric"} <= set(v["bad_price"])
    assert {"missing_field", "extra_field"} <= set(v["bad_field_count"])
    for kind, n in manifest.defects.items():
        assert sum(v[kind].values()) == n


def test_comma_brand_is_quoted_and_parses_back(defective):
    path, _, _ = defective
    quoted = [line for line in path.read_text(encoding="utf-8").splitlines() if re.search(r',"[^"]*,[^"]*",', line)]
    assert quoted
    for line in quoted[:200]:
        rec = next(csv.reader([line]))
        assert len(rec) == 9 and "," in rec[5]
        assert reject_reason(rec) is None


def test_manifest_file_round_trips(defective):
    path, manifest, counted = defective
    assert Manifest.load(manifest_path(path)) == manifest
    assert counted["header"].split(",") == manifest.header


def test_no_defects_at_rate_zero(tmp_path):
    m = generate(tmp_path / "clean.csv", 20_000, seed=5, defect_rate=0.0)
    assert sum(m.defects.values()) == 0
    assert audit(tmp_path / "clean.csv")["expected"] == m.expected
    assert m.expected["clean_events"] == 20_000


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.integers(min_value=0, max_value=400),
    seed=st.integers(min_value=0, max_value=2**32),
    rate=st.sampled_from([0.0, 0.01, 0.2, 0.7, 1.0]),
    days=st.integers(min_value=1, max_value=3),
)
def test_manifest_truth_for_any_arguments(rows, seed, rate, days):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "e.csv"
        m = generate(path, rows, seed, days=days, defect_rate=rate)
        counted = audit(path)
    assert m.rows == rows
    assert m.expected == counted["expected"]
