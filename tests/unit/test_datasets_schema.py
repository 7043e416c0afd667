"""Schema, determinism, the API's edges and the ``lab data generate`` command."""

from __future__ import annotations

import csv
import json
import re

import pytest
import typer
from typer.testing import CliRunner

from datasets import HEADER, Manifest, generate, manifest_path
from datasets.cli import app

pytestmark = pytest.mark.unit

HEADER_LINE = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
COLUMN_RE = {
    "event_time": r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} UTC",
    "event_type": r"view|cart|remove_from_cart|purchase",
    "product_id": r"[1-9][0-9]*",
    "category_id": r"[1-9][0-9]{15,18}",
    "category_code": r"|[a-z_]+(\.[a-z_]+){1,3}",
    "brand": r"|[a-z0-9][a-z0-9_&'.-]*",
    "price": r"[0-9]+(\.[0-9]{1,2})?",
    "user_id": r"[1-9][0-9]*",
    "user_session": r"|[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
}


@pytest.fixture(scope="module")
def clean_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "events.csv"
    return path, generate(path, 30_000, seed=3, defect_rate=0.0)


def test_header_is_the_rees46_header(clean_file):
    path, manifest = clean_file
    assert path.read_text(encoding="utf-8").split("\n", 1)[0] == HEADER_LINE
    assert ",".join(HEADER) == HEADER_LINE == ",".join(manifest.header)


def test_every_clean_field_has_its_format(clean_file):
    path, _ = clean_file
    patterns = [re.compile(COLUMN_RE[c]) for c in HEADER]
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        n = 0
        for rec in reader:
            n += 1
            assert len(rec) == 9
            for value, pattern, name in zip(rec, patterns, HEADER):
                assert pattern.fullmatch(value), (name, value)
            assert int(rec[3]) < 2**63
    assert n == 30_000


def test_file_ends_with_newline_and_has_exact_row_count(clean_file):
    path, manifest = clean_file
    data = path.read_bytes()
    assert data.endswith(b"\n") and b"\r" not in data
    assert data.count(b"\n") == manifest.rows + 1


def test_same_arguments_give_same_bytes(tmp_path):
    a = generate(tmp_path / "a" / "e.csv", 20_000, seed=42, start="2019-11-01", days=3)
    b = generate(tmp_path / "b" / "e.csv", 20_000, seed=42, start="2019-11-01", days=3)
    assert (tmp_path / "a" / "e.csv").read_bytes() == (tmp_path / "b" / "e.csv").read_bytes()
    assert manifest_path(tmp_path / "a" / "e.csv").read_bytes() == manifest_path(tmp_path / "b" / "e.csv").read_bytes()
    assert a == b


def test_different_seed_gives_different_bytes(tmp_path):
    a = generate(tmp_path / "a.csv", 5_000, seed=1)
    b = generate(tmp_path / "b.csv", 5_000, seed=2)
    assert a.sha256 != b.sha256
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "b.csv").read_bytes()


def test_manifest_sits_next_to_the_csv_and_describes_it(tmp_path):
    import hashlib

    m = generate(tmp_path / "events.csv", 1_000, seed=9, start="2020-01-30", days=2, defect_rate=0.02)
    side = tmp_path / "events.manifest.json"
    assert manifest_path(tmp_path / "events.csv") == side
    data = json.loads(side.read_text())
    assert data["seed"] == 9 and data["rows"] == 1_000 and data["file"] == "events.csv"
    assert data["args"] == {"rows": 1_000, "seed": 9, "start": "2020-01-30", "days": 2, "defect_rate": 0.02}
    assert data["sha256"] == hashlib.sha256((tmp_path / "events.csv").read_bytes()).hexdigest()
    assert set(data["expected"]) == {"input_records", "rejected", "valid", "duplicates_removed", "clean_events"}
    assert Manifest.load(side) == m


def test_zero_rows_is_just_the_header(tmp_path):
    m = generate(tmp_path / "e.csv", 0, seed=1)
    assert (tmp_path / "e.csv").read_text() == HEADER_LINE + "\n"
    assert m.expected["clean_events"] == 0


@pytest.mark.parametrize(
    "kwargs", [{"rows": -1}, {"days": 0}, {"defect_rate": 1.5}, {"defect_rate": -0.1}, {"start": "2019-13-01"}]
)
def test_bad_arguments_are_refused(tmp_path, kwargs):
    args = {"out_path": tmp_path / "e.csv", "rows": 10, "seed": 1, **kwargs}
    with pytest.raises(ValueError):
        generate(**args)


def test_progress_reports_reach_the_row_count(tmp_path):
    seen: list[int] = []
    generate(tmp_path / "e.csv", 20_000, seed=1, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 20_000 and len(seen) > 1


def test_cli_generate_matches_the_api(tmp_path):
    out = tmp_path / "cli" / "events.csv"
    result = CliRunner().invoke(app, ["generate", "--rows", "2000", "--seed", "8", "--out", str(out),
                                      "--start", "2019-10-05", "--days", "2", "--defect-rate", "0.03"])
    assert result.exit_code == 0, result.output
    assert manifest_path(out).exists()
    m = generate(tmp_path / "api.csv", 2000, seed=8, start="2019-10-05", days=2, defect_rate=0.03)
    assert out.read_bytes() == (tmp_path / "api.csv").read_bytes()
    assert Manifest.load(manifest_path(out)).sha256 == m.sha256


def test_cli_mounts_as_lab_data(tmp_path):
    lab = typer.Typer()
    lab.add_typer(app, name="data")
    out = tmp_path / "e.csv"
    result = CliRunner().invoke(lab, ["data", "generate", "--rows", "100", "--seed", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 101


@pytest.mark.parametrize(
    "args",
    [
        ["generate", "--seed", "1", "--out", "x.csv"],
        ["generate", "--rows", "10", "--seed", "1", "--out", "x.csv", "--start", "Oct 1"],
        ["generate", "--rows", "10", "--seed", "1", "--out", "x.csv", "--defect-rate", "2"],
        ["generate", "--rows", "10", "--seed", "1", "--out", "x.csv", "--days", "0"],
    ],
)
def test_cli_rejects_bad_usage(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert not (tmp_path / "x.csv").exists()
