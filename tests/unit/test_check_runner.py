"""`lab check`: each way student code can go wrong costs only its own check, in a worker process.

The student's file is a tiny 01-contract/contract.py in a temporary labs folder (the reference's
functions, one of them broken); the checks are fixtures under tests/fixtures/checks/.
"""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from labctl import check_runner, checking
from labctl.cli import app

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "checks"
CONTRACT_CHECKS = FIXTURES / "contract_checks.py"
GOOD = "from pipeline.contract import split_fields, identifier, row_id, validate  # noqa: F401\n"
STUDENT_CHECKS = ["quoted_fields_keep_their_commas", "identifiers_are_trimmed_digits", "row_ids_are_32_hex_digits",
                  "a_good_record_is_valid"]
NO_STUDENT_CODE = "the_dataset_has_its_header"


def student(tmp_path: Path, source: str) -> Path:
    """A labs folder whose lab 01 file is ``source``."""
    labs = tmp_path / "labs"
    (labs / "01-contract").mkdir(parents=True, exist_ok=True)
    (labs / "01-contract" / "contract.py").write_text(source)
    return labs


def broken(name: str, body: str) -> str:
    """The reference's functions but ``name``, which is ``body``."""
    others = ", ".join(f for f in ("split_fields", "identifier", "row_id", "validate") if f != name)
    return f"import os\nfrom pipeline.contract import {others}\n\n\n{body}"


def run(labs: Path, checks: Path = CONTRACT_CHECKS, **options) -> check_runner.LabResult:
    return check_runner.run_lab("01", labs, checks_file=checks, **options)


def statuses(result: check_runner.LabResult) -> dict[str, str]:
    return {c.name: c.status for c in result.checks}


def assert_only(result: check_runner.LabResult, bad: set[str], status: str) -> None:
    """The checks named in ``bad`` have ``status`` and zero points; every other check passed."""
    for item in result.checks:
        if item.name in bad:
            assert (item.status, item.points) == (status, 0), item
            assert "\n" not in item.message and 0 < len(item.message) <= 400, item.message
        else:
            assert (item.status, item.points) == ("passed", item.max_points), item


def test_the_reference_passes_every_check_and_one_worker_runs_them(tmp_path):
    result = run(student(tmp_path, GOOD))
    assert statuses(result) == dict.fromkeys([*STUDENT_CHECKS, NO_STUDENT_CODE], "passed")
    assert (result.points, result.max_points, result.passed) == (7, 7, True)
    assert re.fullmatch(r"c01_[a-z0-9_]+_[0-9a-f]{6}", result.namespace)
    assert result.seed == checking.default_seed("01")
    assert result.seconds < 15


def test_a_syntax_error_is_reported_by_every_check_of_the_file_without_a_traceback(tmp_path):
    labs = student(tmp_path, GOOD + "\ndef identifier(value)\n    return 1\n")
    result = run(labs)
    assert_only(result, set(STUDENT_CHECKS), "error")
    for name in STUDENT_CHECKS:
        message = result[name].message
        assert "contract.py line 3: syntax error" in message and "Traceback" not in message, message
        assert result[name].traceback == ""


def test_an_import_error_is_reported_by_every_check_of_the_file(tmp_path):
    result = run(student(tmp_path, "import no_such_module\n" + GOOD))
    assert_only(result, set(STUDENT_CHECKS), "error")
    assert "ModuleNotFoundError: No module named 'no_such_module'" in result["row_ids_are_32_hex_digits"].message


def test_an_endless_loop_times_out_its_check_only(tmp_path):
    labs = student(tmp_path, broken("identifier", "def identifier(value):\n    while True:\n        pass\n"))
    started = time.monotonic()
    result = run(labs)
    elapsed = time.monotonic() - started
    assert_only(result, {"identifiers_are_trimmed_digits"}, "timeout")
    assert result["identifiers_are_trimmed_digits"].message == (
        "took longer than 6 s; look for an endless loop or a wait")
    assert 6 <= elapsed < 6 + 8, elapsed  # the check's limit, then a new worker for the checks left


def test_a_wrong_return_type_fails_with_the_checks_message(tmp_path):
    result = run(student(tmp_path, broken("row_id", "def row_id(values):\n    return 12345\n")))
    assert_only(result, {"row_ids_are_32_hex_digits"}, "failed")
    assert result["row_ids_are_32_hex_digits"].message == (
        "row_id(['a', 'b']) returned 12345 (int), not a text of 32 hex digits")


def test_an_exception_names_its_type_and_the_students_line(tmp_path):
    source = ("from pipeline.contract import split_fields, row_id\n\n\n"
              "def validate(record):\n    return len(record) + None\n\n\n"
              "def identifier(value):\n    raise NotImplementedError('identifier: trim, then digits')\n")
    result = run(student(tmp_path, source))
    assert_only(result, {"a_good_record_is_valid", "identifiers_are_trimmed_digits"}, "error")
    assert result["a_good_record_is_valid"].message == (
        "TypeError: unsupported operand type(s) for +: 'int' and 'NoneType' (contract.py line 5)")
    assert "contract.py" in result["a_good_record_is_valid"].traceback  # kept for --verbose
    assert result["identifiers_are_trimmed_digits"].message == "not written yet: identifier: trim, then digits"


def test_ten_megabytes_of_prints_stay_bounded(tmp_path):
    body = "def identifier(value):\n    for _ in range(100_000):\n        print('x' * 99)\n    return None\n"
    result = run(student(tmp_path, broken("identifier", body)))
    assert_only(result, {"identifiers_are_trimmed_digits"}, "failed")
    noisy = result["identifiers_are_trimmed_digits"]
    assert noisy.message == "identifier(' 42 ') returned None"
    assert len(noisy.output) <= check_runner.OUTPUT_BYTES + 100
    assert noisy.output.startswith("[… ") and noisy.output.endswith("x" * 99 + "\n")
    assert all(c.output == "" for c in result.checks if c is not noisy)  # each check has its own output


def test_os_exit_costs_its_check_and_a_new_worker_runs_the_rest(tmp_path):
    body = "def row_id(values):\n    print('leaving')\n    os._exit(3)\n"
    result = run(student(tmp_path, broken("row_id", body)))
    assert_only(result, {"row_ids_are_32_hex_digits"}, "error")
    died = result["row_ids_are_32_hex_digits"]
    assert "exit code 3" in died.message and "os._exit" in died.message
    assert died.output == "leaving\n"


def test_sys_exit_costs_its_check_only(tmp_path):
    result = run(student(tmp_path, broken("split_fields", "def split_fields(record):\n    raise SystemExit(2)\n")))
    assert_only(result, {"quoted_fields_keep_their_commas"}, "error")
    assert result["quoted_fields_keep_their_commas"].message == "the code called sys.exit(2) (contract.py line 6)"


@pytest.fixture(scope="module")
def spark_runs(tmp_path_factory):
    """The Spark fixture checks against an identifier that divides by zero, under TZ=UTC and Asia/Kathmandu."""
    labs = student(tmp_path_factory.mktemp("spark"), broken("identifier", "def identifier(value):\n    return 1 / 0\n"))
    runs = {}
    with pytest.MonkeyPatch.context() as patch:
        for zone in ("UTC", "Asia/Kathmandu"):
            patch.setenv("TZ", zone)
            runs[zone] = run(labs, FIXTURES / "spark_checks.py")
    return runs


def test_an_exception_in_a_spark_executor_is_one_python_line(spark_runs):
    result = spark_runs["Asia/Kathmandu"]
    assert_only(result, {"identifier_works_in_a_udf"}, "error")
    message = result["identifier_works_in_a_udf"].message
    assert message == "ZeroDivisionError: division by zero (contract.py line 6)", message


def test_the_results_do_not_depend_on_the_time_zone(spark_runs):
    kathmandu, utc = spark_runs["Asia/Kathmandu"], spark_runs["UTC"]
    assert [(c.name, c.status, c.points, c.message) for c in kathmandu.checks] == [
        (c.name, c.status, c.points, c.message) for c in utc.checks]
    assert kathmandu["spark_event_dates_are_utc_dates"].passed and kathmandu["event_dates_are_utc_dates"].passed
    # the worker kept the student's time zone: the checks above really ran under +05:45
    assert kathmandu["the_worker_keeps_the_time_zone"].output == "local UTC offset: +0545\n"
    assert utc["the_worker_keeps_the_time_zone"].output == "local UTC offset: +0000\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_check_whose_service_is_down_errors_and_the_namespace_is_dropped(tmp_path, monkeypatch):
    services = tmp_path / "services.d"
    services.mkdir()
    (services / "40-kafka.yml").write_text(yaml.safe_dump({
        "name": "kafka", "component": "kafka", "order": 40, "user": "bigdata", "log": "/dev/null",
        "health": {"kind": "zookeeper", "host": "127.0.0.1", "port": free_port()}}))
    monkeypatch.setenv("LAB_SERVICES_DIR", str(services))
    dropped = []
    monkeypatch.setattr("pipeline.topics.drop_namespace", lambda settings: dropped.append(settings.namespace))
    labs = student(tmp_path, GOOD)
    result = run(labs, FIXTURES / "services_checks.py")
    assert statuses(result) == {"needs_kafka": "error", "needs_nothing": "passed"}
    assert result["needs_kafka"].message == "service kafka is down: run `lab start kafka`"
    assert dropped == [result.namespace]
    dropped.clear()
    run(labs, FIXTURES / "services_checks.py", only=["needs nothing"])  # no service: no stack needed
    assert dropped == []


def test_spark_errors_are_reduced_to_the_python_or_java_exception_line():
    class Py4JJavaError(Exception):
        pass

    Py4JJavaError.__module__ = "py4j.protocol"
    java = Py4JJavaError("An error occurred while calling o42.collectToPython.\n"
                         ": org.apache.spark.SparkException: Job aborted: out of disk\n"
                         "\tat org.apache.spark.X(X.scala:1)")
    assert checking.outcome(java, ()) == ("error", "SparkException: Job aborted: out of disk")
    python = Py4JJavaError("An error occurred\n: org.apache.spark.api.python.PythonException: Traceback (most recent "
                           "call last):\n  File \"/x/labs/01-contract/contract.py\", line 9, in f\n    return {}[1]\n"
                           "KeyError: 1\n\n\tat org.apache.spark.api.python.BasePythonRunner(Runner.scala:1)")
    assert checking.outcome(python, (Path("/x/labs"),)) == ("error", "KeyError: 1 (contract.py line 9)")


def test_lab_check_prints_each_check_the_total_and_saves_the_result(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    labs = student(tmp_path, broken("row_id", "def row_id(values):\n    return 12345\n"))
    runner = CliRunner()
    command = ["check", "01", "--labs", str(labs), "--checks-file", str(CONTRACT_CHECKS)]
    result = runner.invoke(app, command)
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert re.match(r"✓ quoted fields keep their commas +2/2$", lines[0]), lines
    failing = lines.index(next(line for line in lines if line.startswith("✗")))
    assert re.match(r"✗ row ids are 32 hex digits +0/1$", lines[failing])
    assert lines[failing + 1] == "    The first 32 hex digits of a SHA-256."
    assert lines[failing + 2] == ("    failed: row_id(['a', 'b']) returned 12345 (int), not a text of 32 hex digits")
    assert "6/7 points" in lines
    assert lines[-1] == check_runner_hidden_line()
    saved = json.loads((tmp_path / "cache" / "ecommerce-lab" / "checks" / "01.json").read_text())
    assert (saved["points"], saved["max_points"], saved["labs_dir"]) == (6, 7, str(labs.resolve()))

    progress = runner.invoke(app, ["check", "--labs", str(labs)])
    assert progress.exit_code == 0, progress.output
    row = next(line for line in progress.output.splitlines() if "The data contract" in line)
    assert "6/7" in row and "just now" in row and "changed since" not in row
    assert "not checked" in next(line for line in progress.output.splitlines() if "Spark cleaning" in line)

    student(tmp_path, GOOD)  # the student fixes the file
    row = next(line for line in runner.invoke(app, ["check", "--labs", str(labs)]).output.splitlines()
               if "The data contract" in line)
    assert "changed since" in row
    fixed = runner.invoke(app, command)
    assert fixed.exit_code == 0, fixed.output
    assert "7/7 points" in fixed.output and "✗" not in fixed.output


def check_runner_hidden_line() -> str:
    from labctl.cli import HIDDEN_CHECKS_LINE

    return HIDDEN_CHECKS_LINE


def test_a_spark_lab_says_which_command_frees_memory_when_it_is_short(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    checks = tmp_path / "spark_flagged_checks.py"
    checks.write_text("from labctl.checking import check\n\n\n@check(spark=True)\ndef flagged(ctx):\n    pass\n")
    labs = student(tmp_path, GOOD)
    command = ["check", "01", "--labs", str(labs), "--checks-file", str(checks)]
    monkeypatch.setattr("labctl.memory.available_kib", lambda: 500 * 1024)
    short = CliRunner().invoke(app, command)
    assert "Only 500 MiB of memory available" in short.output and "LAB_VM_MEMORY" in short.output, short.output
    monkeypatch.setattr("labctl.memory.available_kib", lambda: 8000 * 1024)
    plenty = CliRunner().invoke(app, command)
    assert plenty.exit_code == 0 and "memory available" not in plenty.output, plenty.output
