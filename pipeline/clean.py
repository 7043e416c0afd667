"""Stage 4, clean: the data contract in Spark, applied to the raw zone.

Pure DataFrame -> DataFrame functions (``apply_contract``, ``valid_events``,
``rejected_records``, ``deduplicate``, ``quality_counts``) and the I/O edge ``run``.
``apply_contract`` is the Spark implementation of docs/data-contract.md, written
with Spark SQL functions only (no Python UDF); tests/unit/test_contract_agreement.py
proves that it agrees with pipeline/contract.py on every record.

Java regular expressions differ from Python's in one way that matters here: ``$``
also matches before a final ``\\r``, so the patterns end with ``\\z`` instead.
"""

from __future__ import annotations

import json

from hdfs import InsecureClient
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from pipeline import contract, seams
from pipeline import spark as spark_session
from pipeline.settings import Settings

# One RFC 4180 field; possessive, so that long quoted fields cannot overflow the JVM stack.
FIELD = '"[^"]*+(?:""[^"]*+)*+"|[^",]*+'
WELL_FORMED = rf"^(?:{FIELD})(?:,(?:{FIELD}))*+\z"
EVENT_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?: UTC)?\z"
IDENTIFIER = r"^[0-9]{1,19}\z"
PRICE = r"^[0-9]{1,36}(?:\.[0-9]{1,2})?\z"

EVENT_COLUMNS = ("event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price",
                 "user_id", "user_session", "event_date", "event_hour", "category", "subcategory", "row_id")
RAW_SCHEMA = StructType([
    StructField("raw", StringType()), StructField("source", StringType()), StructField("line", LongType()),
    StructField("partition", LongType()), StructField("offset", LongType()), StructField("timestamp_ms", LongType()),
])
RAW_GLOB = "ingest_date=*/part-*.jsonl"
QUALITY_FILE = "quality.json"


def _trim(column: Column) -> Column:
    """Leading and trailing spaces and tabs removed (contract.trim)."""
    return F.btrim(column, F.lit(" \t"))


def _lower(column: Column) -> Column:
    """A-Z lower-cased, nothing else (contract.lower)."""
    return F.translate(column, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _identifier(text: Column) -> Column:
    """The id as a long; null unless 1-19 digits (try_cast is null above 2^63-1)."""
    return F.when(text.rlike(IDENTIFIER), text.try_cast("bigint"))


def apply_contract(df: DataFrame, column: str = "raw", max_bytes: int = contract.MAX_RECORD_BYTES) -> DataFrame:
    """``df`` plus ``reason`` (null when valid) and the normalised and derived columns; a record longer
    than ``max_bytes`` in UTF-8 is record_too_large.

    The normalised columns are null on rejected records. Each step is its own
    projection, so Spark evaluates the field split and the regexes once per record.
    A record without a double quote is well formed and splits at every comma; only
    the others take the RFC 4180 regexes.
    """
    raw = F.coalesce(F.col(column), F.lit(""))
    quoted = raw.contains('"')
    split = df.withColumns({
        "_well_formed": ~quoted | raw.rlike(WELL_FORMED),
        "_fields": F.when(~quoted, F.split(raw, ",", -1)).otherwise(F.transform(
            F.regexp_extract_all(F.concat(F.lit(","), raw), F.lit(f",({FIELD})"), 1),
            lambda f: F.when(f.startswith('"'), F.replace(F.substr(f, F.lit(2), F.length(f) - 2), F.lit('""'),
                                                          F.lit('"'))).otherwise(f),
        )),
    })
    field = [F.get("_fields", i) for i in range(len(contract.FIELDS))]  # null when missing
    time_text = F.substr(_trim(field[0]), F.lit(1), F.lit(19))  # the trailing " UTC", if any, dropped
    parsed = split.withColumns({
        "_time": F.when(_trim(field[0]).rlike(EVENT_TIME), time_text),
        "event_type": _lower(_trim(field[1])),
        "product_id": _identifier(_trim(field[2])),
        "category_id": _identifier(_trim(field[3])),
        "category_code": F.nullif(_lower(_trim(field[4])), F.lit("")),
        "brand": F.nullif(_lower(_trim(field[5])), F.lit("")),
        "_price": _trim(field[6]),
        "user_id": _identifier(_trim(field[7])),
        "user_session": F.nullif(field[8], F.lit("")),
    })
    stamp = F.when(F.substr("_time", F.lit(1), F.lit(4)) != "0000",  # Spark's calendar has a year 0
                   F.try_to_timestamp(F.concat("_time", F.lit("Z")), F.lit("yyyy-MM-dd HH:mm:ssX")))
    parsed = parsed.withColumn("event_time", stamp)
    ids_ok = F.lit(True)
    for name in ("product_id", "category_id", "user_id"):
        ids_ok = ids_ok & F.col(name).isNotNull() & (F.col(name) >= 1)
    reason = (
        F.when(F.octet_length(raw) > max_bytes, "record_too_large")
        .when(~F.col("_well_formed") | (F.size("_fields") != len(contract.FIELDS)), "bad_field_count")
        .when(F.col("event_time").isNull(), "bad_event_time")
        .when(~F.col("event_type").isin(*contract.EVENT_TYPES), "bad_event_type")
        .when(~ids_ok, "bad_id")
        .when(~F.col("_price").rlike(PRICE), "bad_price")
    )
    checked = parsed.withColumn("reason", reason)
    valid = F.col("reason").isNull()
    code, dot = F.col("category_code"), F.instr("category_code", ".")
    normalised = {
        "event_time": F.col("event_time"),
        "event_type": F.col("event_type"),
        "product_id": F.col("product_id"),
        "category_id": F.col("category_id"),
        "category_code": code,
        "brand": F.col("brand"),
        "price": F.col("_price").try_cast("decimal(38,2)"),
        "user_id": F.col("user_id"),
        "user_session": F.col("user_session"),
        "event_date": F.to_date("_time"),
        "event_hour": F.substr("_time", F.lit(12), F.lit(2)).cast("int"),
        "category": F.nullif(F.substring_index(code, ".", 1), F.lit("")),
        "subcategory": F.when(dot > 0, F.nullif(F.substr(code, dot + 1), F.lit(""))),
    }
    checked = checked.withColumns({name: F.when(valid, value) for name, value in normalised.items()})
    row_key = F.concat_ws(contract.ROW_ID_SEPARATOR, F.col("_time"), *(
        F.coalesce(F.col(name).cast("string"), F.lit("")) for name in contract.FIELDS[1:]))
    checked = checked.withColumn("row_id", F.when(valid, F.substr(F.sha2(row_key, 256), F.lit(1), F.lit(32))))
    return checked.select(*df.columns, "reason", *EVENT_COLUMNS)


def valid_events(checked: DataFrame) -> DataFrame:
    """The valid records of an ``apply_contract`` result (those whose ``reason`` is null), with exactly the
    columns of ``EVENT_COLUMNS``: ``reason`` and the input columns (raw, source, line, ...) are left out."""
    ### BEGIN SOLUTION
    return checked.where(F.col("reason").isNull()).select(*EVENT_COLUMNS)
    ### END SOLUTION


def rejected_records(checked: DataFrame) -> DataFrame:
    """The rejected records of an ``apply_contract`` result (those with a ``reason``): the column ``reason``
    and every input column (the columns of the frame given to ``apply_contract``: raw, source, line, ...,
    whatever they are), none of ``EVENT_COLUMNS`` (they are null on a rejected record)."""
    ### BEGIN SOLUTION
    inputs = [name for name in checked.columns if name not in EVENT_COLUMNS and name != "reason"]
    return checked.where(F.col("reason").isNotNull()).select("reason", *inputs)
    ### END SOLUTION


def deduplicate(events: DataFrame) -> DataFrame:
    """One event per row id, the columns unchanged. Two events are duplicates only when their ``row_id`` is
    equal (then their normalised values are equal too, so any one of them will do); different events of
    one user in one second are not duplicates."""
    ### BEGIN SOLUTION
    return events.dropDuplicates(["row_id"])
    ### END SOLUTION


def quality_counts(checked: DataFrame, clean: DataFrame) -> dict:
    """The quality counts of docs/data-contract.md, as plain ints, from an ``apply_contract`` result and the
    clean events: ``input_records`` (every record, valid + rejected), ``valid``, ``rejected`` (one count per
    reason of ``contract.REASONS``, zeros included), ``duplicates_removed`` (valid - clean events) and
    ``clean_events`` (the rows of ``clean``)."""
    ### BEGIN SOLUTION
    by_reason = {row["reason"]: row["count"] for row in checked.groupBy("reason").count().collect()}
    valid = by_reason.pop(None, 0)
    rejected = {reason: by_reason.get(reason, 0) for reason in contract.REASONS}
    clean_events = clean.count()
    return {
        "input_records": valid + sum(rejected.values()),
        "valid": valid,
        "rejected": rejected,
        "duplicates_removed": valid - clean_events,
        "clean_events": clean_events,
    }
    ### END SOLUTION


def quality_path(settings: Settings) -> str:
    return f"{settings.quarantine_zone}/{QUALITY_FILE}"


def read_quality(settings: Settings, client: InsecureClient | None = None) -> dict:
    """The quality counts the last ``run`` wrote."""
    with (client or settings.webhdfs()).read(quality_path(settings), encoding="utf-8") as reader:
        return json.load(reader)


def write_json(client: InsecureClient, path: str, data: dict) -> None:
    client.write(path, data=(json.dumps(data, indent=2) + "\n").encode(), overwrite=True)


def run(settings: Settings, spark: SparkSession | None = None, phases: spark_session.Phases | None = None) -> dict:
    """Clean the raw zone: clean events, quarantined records and quality counts; returns the counts.

    Every output is overwritten, so a rerun over the same raw zone gives the same result.
    ``phases`` receives the seconds of each phase.
    """
    phases = phases or spark_session.Phases()
    with phases("session"):
        spark = spark or spark_session.session(settings, "clean",
                                               input_bytes=spark_session.hdfs_bytes(settings, settings.raw_zone))
    lab = seams.load(settings, "05")
    raw = spark.read.schema(RAW_SCHEMA).json(settings.hdfs_uri(f"{settings.raw_zone}/{RAW_GLOB}"))
    checked = apply_contract(raw, max_bytes=settings.max_record_bytes).persist()
    try:
        with phases("read raw zone, contract, write quarantine"):
            lab.rejected_records(checked).drop("partition", "offset", "timestamp_ms").coalesce(1).write.mode(
                "overwrite").partitionBy("reason").parquet(settings.hdfs_uri(f"{settings.quarantine_zone}/records"))
        with phases("deduplicate, write clean events"):
            lab.deduplicate(lab.valid_events(checked)).repartition("event_date").write.mode(
                "overwrite").partitionBy("event_date").parquet(settings.hdfs_uri(settings.clean_zone))
        with phases("quality counts"):
            counts = lab.quality_counts(checked, spark.read.parquet(settings.hdfs_uri(settings.clean_zone)))
    finally:
        checked.unpersist()
    with phases("write quality.json"):
        write_json(settings.webhdfs(), quality_path(settings), counts)
    return counts
