"""Benchmark of the batch stages: clean + analyze in Spark vs DuckDB on the same CSV.

    /opt/ecommerce-lab/venv/bin/python bench/bench_batch.py                 # 1 M and 10 M events
    /opt/ecommerce-lab/venv/bin/python bench/bench_batch.py --rows 1000000

Per size: generate a file (datasets.generate), land it in a fresh namespace's raw
zone (landing.land_csv, as the integration test does), time clean.run and
analyze.run in one session (on settings.spark_master: LAB_SPARK_MASTER picks another), then
the same contract and analytics as DuckDB SQL over the CSV, in one process on this machine. The namespace's HDFS tree is removed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

import datasets
from pipeline import analyze, clean, landing
from pipeline import settings as lab_settings
from pipeline import spark as spark_session

# The contract (docs/data-contract.md) over DuckDB's CSV reader, then the marts' figures.
DUCKDB_CLEAN = r"""
CREATE OR REPLACE TABLE clean_events AS
WITH raw AS (
  -- A tenth column and padding with NULL (empty fields are '', as no field is the nullstr): exactly
  -- nine fields means a non-NULL ninth and a NULL tenth, so a trailing comma is a tenth field.
  -- record_too_large: a line longer than max_line_size (which counts its LF) is skipped; only without
  -- auto-detection, whose sniffer fails on such a line instead.
  SELECT * FROM read_csv(?, header = true, auto_detect = false, quote = '"', escape = '"', ignore_errors = true,
                         strict_mode = true, null_padding = true, nullstr = '\N(never a field)', max_line_size = ?,
                         columns = {'event_time': 'VARCHAR', 'event_type': 'VARCHAR', 'product_id': 'VARCHAR',
                                    'category_id': 'VARCHAR', 'category_code': 'VARCHAR', 'brand': 'VARCHAR',
                                    'price': 'VARCHAR', 'user_id': 'VARCHAR', 'user_session': 'VARCHAR',
                                    'tenth': 'VARCHAR'})
  WHERE user_session IS NOT NULL AND tenth IS NULL
),
trimmed AS (
  SELECT trim(coalesce(event_time, ''), E' \t') AS t, lower(trim(coalesce(event_type, ''), E' \t')) AS event_type,
         trim(coalesce(product_id, ''), E' \t') AS p, trim(coalesce(category_id, ''), E' \t') AS c,
         nullif(lower(trim(coalesce(category_code, ''), E' \t')), '') AS category_code,
         nullif(lower(trim(coalesce(brand, ''), E' \t')), '') AS brand,
         trim(coalesce(price, ''), E' \t') AS pr, trim(coalesce(user_id, ''), E' \t') AS u,
         nullif(user_session, '') AS user_session
  FROM raw
),
typed AS (
  SELECT CASE WHEN regexp_full_match(t, '[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}( UTC)?')
              THEN try_strptime(left(t, 19), '%Y-%m-%d %H:%M:%S') END AS event_time,
         event_type, TRY_CAST(CASE WHEN regexp_full_match(p, '[0-9]{1,19}') THEN p END AS BIGINT) AS product_id,
         TRY_CAST(CASE WHEN regexp_full_match(c, '[0-9]{1,19}') THEN c END AS BIGINT) AS category_id,
         category_code, brand,
         TRY_CAST(CASE WHEN regexp_full_match(pr, '[0-9]{1,36}(\.[0-9]{1,2})?') THEN pr END AS DECIMAL(38, 2)) AS price,
         TRY_CAST(CASE WHEN regexp_full_match(u, '[0-9]{1,19}') THEN u END AS BIGINT) AS user_id, user_session
  FROM trimmed
)
SELECT DISTINCT *, hour(event_time) AS event_hour, CAST(event_time AS DATE) AS event_date,
       nullif(split_part(category_code, '.', 1), '') AS category
FROM typed
WHERE event_time IS NOT NULL AND event_type IN ('view', 'cart', 'remove_from_cart', 'purchase')
  AND product_id >= 1 AND category_id >= 1 AND user_id >= 1 AND price IS NOT NULL
"""
DUCKDB_MARTS = {
    "kpis": """
WITH s AS (SELECT user_session, bool_or(event_type = 'view') v, bool_or(event_type = 'cart') c,
                  bool_or(event_type = 'purchase') p FROM clean_events WHERE user_session IS NOT NULL GROUP BY 1)
SELECT (SELECT count(*) FROM clean_events) AS events,
       (SELECT count(DISTINCT user_id) FROM clean_events) AS unique_users,
       (SELECT coalesce(sum(price), 0) FROM clean_events WHERE event_type = 'purchase') AS revenue,
       count(*) AS sessions, count_if(v) AS view_sessions, count_if(c) AS cart_sessions,
       count_if(p) AS purchase_sessions, count_if(c AND NOT p) AS cart_only_sessions
FROM s""",
    "top_products": """SELECT product_id, coalesce(sum(price) FILTER (WHERE event_type = 'purchase'), 0) AS revenue,
       count_if(event_type = 'purchase') AS purchases FROM clean_events GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10""",
    "top_brands": """SELECT brand, coalesce(sum(price) FILTER (WHERE event_type = 'purchase'), 0) AS revenue,
       count_if(event_type = 'purchase') AS purchases FROM clean_events WHERE brand IS NOT NULL
       GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10""",
    "revenue_by_category": """SELECT coalesce(category, 'unknown'), sum(price), count(*) FROM clean_events
       WHERE event_type = 'purchase' GROUP BY 1 ORDER BY 2 DESC, 1""",
    "daily": """SELECT event_date, count(*), count_if(event_type = 'purchase'),
       coalesce(sum(price) FILTER (WHERE event_type = 'purchase'), 0) FROM clean_events GROUP BY 1 ORDER BY 1""",
    "hourly": """SELECT h.range, count(e.event_hour) FROM range(24) h LEFT JOIN clean_events e
       ON e.event_hour = h.range GROUP BY 1 ORDER BY 1""",
}


def duckdb_run(csv_path: Path, max_record_bytes: int) -> tuple[float, dict]:
    """Seconds for the DuckDB version, and its clean_events and revenue (a cross-check).

    DuckDB's CSV reader accepts a trailing comma (10 fields) that the contract rejects,
    so its clean_events can be a little higher.
    """
    started = time.perf_counter()
    with duckdb.connect() as db:
        db.execute(DUCKDB_CLEAN, [str(csv_path), max_record_bytes + 1])
        results = {name: db.sql(query).fetchall() for name, query in DUCKDB_MARTS.items()}
    events, _, revenue, *_ = results["kpis"][0]
    return time.perf_counter() - started, {"clean_events": events, "revenue": float(revenue)}


def spark_run(csv_path: Path) -> dict:
    settings = lab_settings.load(namespace=f"bench{uuid.uuid4().hex[:8]}")
    client = settings.webhdfs()
    try:
        started = time.perf_counter()
        landing.land_csv(settings, csv_path, client)
        landed = time.perf_counter()
        spark = spark_session.session(settings, "bench-batch", input_bytes=csv_path.stat().st_size)
        session_ready = time.perf_counter()
        phases = spark_session.Phases()
        counts = clean.run(settings, spark, phases)
        cleaned = time.perf_counter()
        summary = analyze.run(settings, None, spark, phases)
        analyzed = time.perf_counter()
        master = spark.sparkContext.master
        spark.stop()
    finally:
        client.delete(settings.hdfs_root, recursive=True)
    return {"land": landed - started, "session": session_ready - landed, "clean": cleaned - session_ready,
            "analyze": analyzed - cleaned, "clean_events": counts["clean_events"],
            "revenue": summary["kpis"]["revenue"], "phases": phases.seconds, "master": master}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--tmp", type=Path, default=None, help="directory for the generated files")
    args = parser.parse_args()
    console = Console(width=160)
    table = Table(title=f"clean + analyze: Spark vs DuckDB (same CSV, same machine, {os.cpu_count()} cores)")
    breakdown = Table(title="Spark's phases (seconds; a phase holds the lazy work its action needed)")
    breakdown.add_column("phase")
    for column in ("events", "land s", "clean s", "analyze s", "Spark total s", "DuckDB s", "Spark / DuckDB",
                   "clean events Spark", "clean events DuckDB", "revenue equal"):
        table.add_column(column, justify="right")
    breakdown_rows: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for rows in args.rows:
            csv_path = Path(tmp) / f"events-{rows}.csv"
            datasets.generate(csv_path, rows, seed=1)
            spark = spark_run(csv_path)
            table.title += f"; Spark master {spark['master']}"
            breakdown.add_column(f"{rows:,} events", justify="right")
            for phase, seconds in spark["phases"].items():
                breakdown_rows.setdefault(phase, []).append(f"{seconds:.1f}")
            duck_s, duck = duckdb_run(csv_path, lab_settings.load().max_record_bytes)
            total = spark["clean"] + spark["analyze"]
            table.add_row(f"{rows:,}", f"{spark['land']:.1f}", f"{spark['clean']:.1f}", f"{spark['analyze']:.1f}",
                          f"{total:.1f}", f"{duck_s:.1f}", f"{total / duck_s:.1f}x", f"{spark['clean_events']:,}", f"{duck['clean_events']:,}",
                          "yes" if duck["revenue"] == spark["revenue"] else "no")
            csv_path.unlink()
            console.print(f"{rows:,} events done", style="dim")
    for phase, seconds in breakdown_rows.items():
        breakdown.add_row(phase, *seconds)
    console.print(table)
    console.print(breakdown)


if __name__ == "__main__":
    main()
