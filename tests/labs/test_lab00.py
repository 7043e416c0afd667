"""Lab 00's checks (labs/00-tour/checks.py): an answers file filled from what the services' own tools report
gets full marks quickly; the untouched file, wrong answers and a missing or broken file get nothing.

Lab 00 has no reference functions, so tests/labs/test_lab_checks.py leaves it out and this test does it: it
makes what a student makes in the lab (a dataset, its copy in HDFS, a table, a topic) and reads the answers
with the upstream command-line tools, not the endpoints the checks read.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import happybase
import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from labctl import check_runner
from pipeline import settings as lab_settings
from pipeline import topics

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
LABS = REPO / "labs"
TEMPLATE = LABS / "00-tour" / "answers.yml"
CHECKS = ["seed_of_your_dataset", "rows_the_contract_will_reject", "live_datanodes", "replication_of_your_hdfs_file",
          "hbase_version", "the_value_in_your_hbase_table", "partitions_of_your_tour_topic",
          "cores_of_the_spark_worker"]
CHECKS_BUDGET_S = 30


@dataclass
class Tour:
    user: str
    home: Path
    answers: dict[str, str]


def tool(*command: str, env: dict) -> str:
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def found(pattern: str, text: str) -> str:
    match = re.search(pattern, text, re.M)
    assert match, f"{pattern!r} not in:\n{text[-2000:]}"
    return match.group(1)


@pytest.fixture(scope="module")
def tour(tmp_path_factory, services):
    """What a student has after the lab's steps, and the answers its tools give."""
    user = f"t00{uuid.uuid4().hex[:8]}"
    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, "HOME": str(home), "USER": user, "LOGNAME": user, "HADOOP_USER_NAME": user,
           "PATH": f"/opt/ecommerce-lab/venv/bin:/usr/local/bin:{os.environ['PATH']}", "COLUMNS": "200"}
    settings = lab_settings.load(namespace=user)
    table, topic, hdfs_file, value = f"{user}_tour", f"{user}.tour", f"/ecommerce/{user}/tour/mine.csv", "ahoy"
    seed = 4242
    hbase = happybase.Connection(settings.hbase_host, settings.hbase_port)
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id=f"{user}-test")
    try:
        generated = tool("lab", "data", "generate", "--rows", "2000", "--seed", str(seed), "--out",
                         str(home / "data" / "mine.csv"), env=env)
        tool("hdfs", "dfs", "-mkdir", "-p", f"/ecommerce/{user}/tour", env=env)
        tool("hdfs", "dfs", "-put", str(home / "data" / "mine.csv"), hdfs_file, env=env)
        hbase.create_table(table, {"f": {}})
        hbase.table(table).put(b"r1", {b"f:greeting": value.encode()})
        admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
        fsck = tool("hdfs", "fsck", hdfs_file, "-files", "-blocks", "-locations", env=env)
        worker_ui = services["spark-worker"].ui.replace("localhost", "127.0.0.1").rstrip("/")
        with urllib.request.urlopen(f"{worker_ui}/json/", timeout=10) as response:
            worker = json.load(response)
        answers = {
            "dataset": "~/data/mine.csv",
            "seed": str(seed),
            "rows_to_reject": found(r"\((\d+)\s+to\s+reject", generated),
            "live_datanodes": found(r"Number of data-nodes:\s*(\d+)", fsck),
            "hdfs_file": hdfs_file,
            "replication": tool("hdfs", "dfs", "-stat", "%r", hdfs_file, env=env).strip(),
            "hbase_version": found(r"^HBase (\S+)", tool("hbase", "version", env=env)),
            "hbase_value": value,
            "topic_partitions": found(r"PartitionCount:\s*(\d+)",
                                      tool("kafka-topics.sh", "--bootstrap-server", settings.kafka_bootstrap,
                                           "--describe", "--topic", topic, env=env)),
            "spark_worker_cores": str(worker["cores"]),
        }
        yield Tour(user, home, answers)
    finally:
        try:
            if topic in admin.list_topics():
                admin.delete_topics([topic])
        finally:
            admin.close()
        try:
            if table.encode() in hbase.tables():
                hbase.delete_table(table, disable=True)
        finally:
            hbase.close()
        topics.drop_namespace(settings)  # /ecommerce/<user>


def fill(answers: dict[str, str]) -> str:
    """The course's answers.yml with the answers written after their colons (its comments kept)."""
    lines, filled = [], set()
    for line in TEMPLATE.read_text(encoding="utf-8").splitlines():
        key = line.split(":", 1)[0]
        if not line.startswith("#") and key in answers:
            line = f"{key}: {answers[key]}"
            filled.add(key)
        lines.append(line)
    assert filled == set(answers), f"answers.yml has no line for {set(answers) - filled}"
    return "\n".join(lines) + "\n"


def run(tour: Tour, labs_dir: Path, monkeypatch, text: str | None) -> check_runner.LabResult:
    """Lab 00's checks on ``text`` as labs_dir/00-tour/answers.yml (none when None), as the tour's user."""
    (labs_dir / "00-tour").mkdir(parents=True, exist_ok=True)
    if text is not None:
        (labs_dir / "00-tour" / "answers.yml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("USER", tour.user)
    monkeypatch.setenv("LOGNAME", tour.user)
    monkeypatch.setenv("HOME", str(tour.home))
    return check_runner.run_lab("00", labs_dir)


def test_answers_the_services_give_get_full_marks_quickly(tour, tmp_path, monkeypatch):
    result = run(tour, tmp_path / "labs", monkeypatch, fill(tour.answers))
    failing = {c.name: f"{c.status}: {c.message}" for c in result.checks if not c.passed}
    assert not failing and result.points == result.max_points == len(CHECKS), failing
    assert [c.name for c in result.checks] == CHECKS
    assert result.seconds < CHECKS_BUDGET_S, f"lab 00's checks took {result.seconds} s"


def test_each_wrong_answer_fails_its_own_check(tour, tmp_path, monkeypatch):
    right = tour.answers
    wrong = {**right, "seed": str(int(right["seed"]) + 1),
             "rows_to_reject": str(int(right["rows_to_reject"]) + 1),
             "live_datanodes": str(int(right["live_datanodes"]) + 2),
             "replication": str(int(right["replication"]) + 2),
             "hbase_version": "1.4.14", "hbase_value": "hello",
             "topic_partitions": str(int(right["topic_partitions"]) + 1),
             "spark_worker_cores": str(int(right["spark_worker_cores"]) + 1)}
    result = run(tour, tmp_path / "labs", monkeypatch, fill(wrong))
    assert result.points == 0, {c.name: c.status for c in result.checks if c.passed}
    assert all(c.status == "failed" for c in result.checks), {c.name: f"{c.status}: {c.message}" for c in result.checks}


def test_answers_must_be_about_your_own_dataset_and_file(tour, tmp_path, monkeypatch):
    other = tmp_path / "other.csv"
    tool("lab", "data", "generate", "--rows", "50", "--seed", tour.answers["seed"], "--out", str(other),
         env={**os.environ, "PATH": f"/opt/ecommerce-lab/venv/bin:{os.environ['PATH']}"})
    edited = tour.home / "data" / "edited.csv"
    edited.write_bytes((tour.home / "data" / "mine.csv").read_bytes() + b"one more line\n")
    (tour.home / "data" / "edited.manifest.json").write_bytes((tour.home / "data" / "mine.manifest.json").read_bytes())
    result = run(tour, tmp_path / "labs", monkeypatch, fill({**tour.answers, "dataset": str(other)}))
    assert result["replication_of_your_hdfs_file"].status == "failed"
    assert "put your dataset there" in result["replication_of_your_hdfs_file"].message
    result = run(tour, tmp_path / "labs", monkeypatch, fill({**tour.answers, "dataset": "~/data/edited.csv"}))
    assert result["seed_of_your_dataset"].status == "failed"
    assert "changed since it was generated" in result["seed_of_your_dataset"].message


def test_the_untouched_answers_file_scores_zero(tour, monkeypatch):
    result = run(tour, LABS, monkeypatch, None)
    assert result.points == 0 and len(result.checks) == len(CHECKS)
    assert all(c.status == "failed" and "no answer yet" in c.message for c in result.checks), (
        {c.name: f"{c.status}: {c.message}" for c in result.checks})


def test_a_missing_or_broken_answers_file_says_so(tour, tmp_path, monkeypatch):
    result = run(tour, tmp_path / "missing", monkeypatch, None)
    assert result.points == 0 and all("does not exist" in c.message for c in result.checks), (
        [c.message for c in result.checks])
    result = run(tour, tmp_path / "broken", monkeypatch, "seed: 7\n  dataset: [~/data/mine.csv\n")
    assert result.points == 0 and all("is not valid YAML" in c.message for c in result.checks), (
        [c.message for c in result.checks])
