"""The Python (pipeline/contract.py) and Spark (pipeline.clean.apply_contract) contracts agree.

Same verdict, reason, normalised values and row id on every record: hypothesis
mutations of valid records, the shipped sample and a freshly generated defective
file. Each hypothesis example is a list of records checked in one Spark job.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from pyspark.sql import functions as F

import datasets
from pipeline import clean, contract
from pipeline import settings as lab_settings
from pipeline import spark as spark_session

pytestmark = pytest.mark.unit

SAMPLE = Path(__file__).resolve().parents[2] / "datasets" / "sample" / "events.csv"
COLUMNS = ("reason", *clean.EVENT_COLUMNS)


@pytest.fixture(scope="module")
def spark():
    session = spark_session.session(lab_settings.load(), "contract-agreement", master="local[1]")
    yield session
    session.stop()


def python_verdicts(records: list[str], max_bytes: int = contract.MAX_RECORD_BYTES) -> list[dict]:
    verdicts = []
    for record in records:
        result = contract.validate(record, max_bytes)
        if isinstance(result, contract.Rejected):
            verdicts.append(dict.fromkeys(COLUMNS) | {"reason": result.reason})
        else:
            verdicts.append({"reason": None, **result.as_dict()})
    return verdicts


def spark_verdicts(spark, records: list[str], max_bytes: int = contract.MAX_RECORD_BYTES) -> list[dict]:
    df = spark.createDataFrame(list(enumerate(records)), "id long, raw string")
    checked = clean.apply_contract(df, max_bytes=max_bytes).withColumns({
        # as text: Python cannot hold year-1 timestamps in the session's local time zone
        "event_time": F.date_format("event_time", "yyyy-MM-dd HH:mm:ss"),
        "event_date": F.date_format("event_date", "yyyy-MM-dd"),
    })
    rows = checked.select("id", *COLUMNS).orderBy("id").collect()
    assert [row["id"] for row in rows] == list(range(len(records)))
    return [{name: row[name] for name in COLUMNS} for row in rows]


def assert_agree(spark, records: list[str], max_bytes: int = contract.MAX_RECORD_BYTES) -> None:
    expected, actual = python_verdicts(records, max_bytes), spark_verdicts(spark, records, max_bytes)
    differences = [(record, python, spark) for record, python, spark in zip(records, expected, actual)
                   if python != spark]
    assert not differences, f"{len(differences)} of {len(records)} records differ, first: {differences[0]}"


# Hypothesis: valid records, then mutations that hit every rule and normalisation.
STRAY = st.sampled_from(["\ufffd", "é", "É", "İ", "ß", "\u00a0", "\r", "\x00", "\x0b", "\u0085", "\u2028", "\u3000",
                         '"', '""', ",", " ", "\t", "١", "UTC", ".", "-"])
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\n"), max_size=6)
BAD_TIMES = st.sampled_from([
    "2019-02-29 00:00:00", "1900-02-29 12:00:00", "2019-04-31 00:00:00", "2019-10-01 24:00:00",
    "2019-10-01 23:60:00", "2019-10-01 23:59:60", "0000-01-01 00:00:00", "2019-13-01 00:00:00",
    "2019-00-10 00:00:00", "2019-10-00 00:00:00", "2019-10-01T00:00:00", "2019-10-01 00:00:00 utc",
    "2019-10-01 00:00:00  UTC", "2019-10-01 0:00:00", "N/A", ""])


def _time_text(moment: dt.datetime, utc: bool) -> str:
    return moment.isoformat(sep=" ") + (" UTC" if utc else "")


def _digits(draw, low: int, high: int) -> str:
    return draw(st.text("0123456789", min_size=low, max_size=high))


@st.composite
def valid_fields(draw) -> list[str]:
    moment = draw(st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59))).replace(microsecond=0)
    code = draw(st.sampled_from(["", "electronics.smartphone", "appliances.kitchen.kettle", "kids", ".x", "a.",
                                 "a..b", "Sport.Bike"]))
    price = draw(st.one_of(st.sampled_from(["0", "0.5", "7.05", "1081.98", "0000.10"]),
                           st.decimals(0, 10**36 - 1, places=2).map(str)))
    return [
        _time_text(moment, draw(st.booleans())),
        draw(st.sampled_from(contract.EVENT_TYPES)),
        *(str(draw(st.integers(1, contract.MAX_ID))) for _ in range(2)),
        code,
        draw(st.sampled_from(["", "samsung", "apple", "Sam, Inc.", 'the "best"', "lg"])),
        price,
        str(draw(st.integers(1, contract.MAX_ID))),
        draw(st.sampled_from(["", "72d76fde-8bb3-4e00-8c23-a032dfed738c", "s", " A b "])),
    ]


@st.composite
def mutated_value(draw, index: int, value: str) -> str:
    kind = draw(st.sampled_from(["pad", "case", "stray", "prefix", "suffix", "text", "empty", "special"]))
    if kind == "prefix":
        return draw(STRAY) + value
    if kind == "suffix":
        return value + draw(STRAY)
    if kind == "pad":
        return draw(st.sampled_from(["", " ", "\t", " \t "])) + value + draw(st.sampled_from(["", " ", "\t\t"]))
    if kind == "case":
        return draw(st.sampled_from([value.upper(), value.title(), value.swapcase()]))
    if kind == "stray":
        at = draw(st.integers(0, len(value)))
        return value[:at] + draw(STRAY) + value[at:]
    if kind == "text":
        return draw(TEXT)
    if kind == "empty":
        return ""
    if index == 0:
        return draw(BAD_TIMES)
    if index in (2, 3, 7):
        return draw(st.sampled_from(["0", "-1", "+1", "9223372036854775808", "0" * 19 + "1", "1.0"])) if draw(
            st.booleans()) else _digits(draw, 1, 22)
    if index == 6:
        return _digits(draw, 0, 38) + draw(st.sampled_from(["", ".", ".5", ".55", ".555"]))
    return draw(TEXT)


# The size limit: the default, or one as long as the generated records (50-250 bytes), whose multi-byte
# characters make their length in UTF-8 bytes differ from their length in characters.
MAX_BYTES = st.one_of(st.just(contract.MAX_RECORD_BYTES), st.integers(50, 250))


def render(field: str, quote: bool) -> str:
    return '"' + field.replace('"', '""') + '"' if quote else field


@st.composite
def records(draw) -> str:
    fields = draw(valid_fields())
    for index in draw(st.sets(st.integers(0, 8), max_size=3)):
        fields[index] = draw(mutated_value(index, fields[index]))
    text = ",".join(render(f, draw(st.booleans())) for f in fields)
    shape = draw(st.sampled_from(["keep"] * 6 + ["drop", "extra", "semicolons", "truncate", "cr", "raw"]))
    if shape == "drop":
        del fields[draw(st.integers(0, 8))]
        text = ",".join(fields)
    elif shape == "extra":
        text += "," + draw(TEXT)
    elif shape == "semicolons":
        text = ";".join(fields)
    elif shape == "truncate":
        text = text[:draw(st.integers(0, len(text)))]
    elif shape == "cr":
        text += "\r"
    elif shape == "raw":
        text = draw(TEXT)
    return text


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(records(), min_size=50, max_size=150), MAX_BYTES)
def test_python_and_spark_agree_on_generated_records(spark, batch, max_bytes):
    assert_agree(spark, batch, max_bytes)


def test_generated_records_cover_every_verdict():
    """The strategies reach valid records and every reason (else the property proves little)."""
    seen = set()

    # Derandomized: the same examples every run, so this check cannot flake.
    @settings(max_examples=1000, database=None, derandomize=True)
    @given(records(), MAX_BYTES)
    def collect(record, max_bytes):
        seen.add(python_verdicts([record], max_bytes)[0]["reason"])

    collect()
    assert seen == {None, *contract.REASONS}


def test_python_and_spark_agree_at_the_default_size_limit(spark):
    """Records of about 1 MiB: at the limit, one byte over it, and over it in bytes but not in characters."""
    fields = ["2019-10-01 00:00:00", "view", "1", "2", "", "", "1.00", "3", ""]
    room = contract.MAX_RECORD_BYTES - len(",".join(fields).encode())
    at_limit = ",".join(fields[:5] + ["b" * room] + fields[6:])
    accented = ",".join(fields[:5] + ["é" * (room // 2 + 1)] + fields[6:])
    records = [at_limit, at_limit + "b", accented]
    assert [v["reason"] for v in python_verdicts(records)] == [None, "record_too_large", "record_too_large"]
    assert len(accented) < contract.MAX_RECORD_BYTES
    assert_agree(spark, records)


def _file_records(path: Path) -> list[str]:
    with open(path, "rb") as stream:
        return [contract.decode(raw) for _, raw in contract.read_records(stream)]


def test_python_and_spark_agree_on_the_sample(spark):
    assert_agree(spark, _file_records(SAMPLE))


def test_python_and_spark_agree_on_a_generated_defective_file(spark, tmp_path):
    csv = tmp_path / "defective.csv"
    datasets.generate(csv, rows=5000, seed=20240601, defect_rate=0.3)
    assert_agree(spark, _file_records(csv))
