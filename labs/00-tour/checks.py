"""Public checks of lab 00 (`lab check 00`): your answers in labs/00-tour/answers.yml against what the
services and your dataset's manifest report at the moment you run the check."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from datasets.manifest import manifest_path
from labctl.checking import Context, check

ANSWERS = Path("00-tour") / "answers.yml"
HTTP_TIMEOUT_S = 10


# ---------------------------------------------------------------------------------------------------
# The answers file


def answers_file(ctx: Context) -> Path:
    return ctx.labs_dir / ANSWERS


def answers(ctx: Context) -> dict:
    """The answers as text (YAML's BaseLoader: `yes` stays "yes", `007` stays "007")."""
    path = answers_file(ctx)
    if not path.is_file():
        raise AssertionError(f"{path} does not exist: copy it from the course's labs/00-tour/answers.yml")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    except UnicodeDecodeError:
        raise AssertionError(f"{path} is not UTF-8 text: save it as plain text") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise AssertionError(f"{path}{where} is not valid YAML ({problem}): write one `name: value` per line, "
                             f"each name at the start of its line") from None
    if data is None or data == "":
        data = {}
    if not isinstance(data, dict):
        raise AssertionError(f"{path} must be lines of `name: value`, as in the course's labs/00-tour/answers.yml")
    return data


def answer(ctx: Context, key: str) -> str:
    data = answers(ctx)
    if key not in data:
        raise AssertionError(f"answers.yml has no `{key}:` line: copy it back from the course's "
                             f"labs/00-tour/answers.yml")
    value = data[key]
    if not isinstance(value, str):
        raise AssertionError(f"`{key}:` must be one value on its line, not {type(value).__name__} {value!r}")
    value = value.strip()
    if not value:
        raise AssertionError(f"no answer yet: write it after `{key}:` in labs/00-tour/answers.yml")
    return value


def number(ctx: Context, key: str) -> int:
    text = answer(ctx, key)
    try:
        return int(text)
    except ValueError:
        raise AssertionError(f"`{key}: {text}` must be a whole number") from None


def user() -> str:
    """Your login name: the $USER in your topic's and table's names."""
    return os.environ.get("USER") or getpass.getuser()


def dataset(ctx: Context) -> Path:
    """The dataset the answers name (~ and $VARS expanded; a relative path from the top of the checkout)."""
    text = answer(ctx, "dataset")
    path = Path(os.path.expandvars(os.path.expanduser(text)))
    if not path.is_absolute():
        path = ctx.labs_dir.parent / path
    if not path.is_file():
        raise AssertionError(f"`dataset: {text}`: there is no file {path}")
    return path


def manifest(ctx: Context) -> dict:
    path = dataset(ctx)
    found = manifest_path(path)
    if not found.is_file():
        raise AssertionError(f"{path} has no manifest next to it ({found.name}): make the dataset with "
                             f"`lab data generate`, which writes both")
    try:
        data = json.loads(found.read_text(encoding="utf-8"))
        data["seed"], data["sha256"], data["expected"]["rejected"]  # noqa: B018 - the fields the checks read
    except (ValueError, KeyError, TypeError):
        raise AssertionError(f"{found} is not a manifest of `lab data generate`: generate the dataset again") from None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != data["sha256"]:
        raise AssertionError(f"{path} changed since it was generated (its SHA-256 is not the manifest's): "
                             f"generate it again")
    return data


# ---------------------------------------------------------------------------------------------------
# What the services report


def service_url(name: str, default: str) -> str:
    """The HTTP endpoint `lab status` checks for a service (its web UI's server)."""
    try:
        from labctl.services import load_services

        for service in load_services():
            if service.name == name and service.health.get("url"):
                return str(service.health["url"]).rstrip("/")
    except Exception:  # noqa: BLE001 - an unprovisioned host: the default ports
        pass
    return default


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
        return response.read()


def hdfs_path(text: str) -> str:
    """/a/b from /a/b or hdfs://host:port/a/b."""
    parsed = urllib.parse.urlparse(text)
    path = parsed.path if parsed.scheme in ("hdfs", "webhdfs") else text
    return "/" + path.strip().strip("/")


# ---------------------------------------------------------------------------------------------------
# Step 2: your dataset


@check(points=1, hint="The seed is in your `lab data generate` command, and in the manifest that it wrote next to "
                      "the CSV (mine.manifest.json).")
def seed_of_your_dataset(ctx: Context) -> None:
    got = number(ctx, "seed")
    wanted = manifest(ctx)["seed"]
    assert got == wanted, f"`seed: {got}`, but the manifest of your dataset says it was generated with another seed"


@check(points=1, hint="`lab data generate` printed how many rows are to reject; the manifest counts them per "
                      "reason under expected → rejected.")
def rows_the_contract_will_reject(ctx: Context) -> None:
    got = number(ctx, "rows_to_reject")
    wanted = sum(int(count) for count in manifest(ctx)["expected"]["rejected"].values())
    assert got == wanted, (f"`rows_to_reject: {got}` is not what the manifest of your dataset expects "
                           f"(add up the counts under \"rejected\")")


# ---------------------------------------------------------------------------------------------------
# Step 3: HDFS


@check(points=1, hint="The NameNode counts its live DataNodes: `hdfs fsck` on your file, the NameNode's JMX "
                      "(FSNamesystemState) or its web UI at http://localhost:9870.", services=("hdfs",))
def live_datanodes(ctx: Context) -> None:
    got = number(ctx, "live_datanodes")
    query = "Hadoop:service=NameNode,name=FSNamesystemState"
    beans = json.loads(get(f"{ctx.settings.webhdfs_url.rstrip('/')}/jmx?qry={query}"))["beans"]
    wanted = int(beans[0]["NumLiveDataNodes"])
    assert got == wanted, f"`live_datanodes: {got}` is not the number of live DataNodes the NameNode reports now"


@check(points=1, hint="`hdfs dfs -stat %r PATH` gives a file's replication factor; hdfs_file is the full HDFS path "
                      "of your dataset's copy (/ecommerce/$USER/tour/...).", services=("hdfs",))
def replication_of_your_hdfs_file(ctx: Context) -> None:
    got = number(ctx, "replication")
    text = answer(ctx, "hdfs_file")
    path = hdfs_path(text)
    status = ctx.settings.webhdfs().status(path, strict=False)
    assert status is not None, f"`hdfs_file: {text}`: HDFS has no {path} (`hdfs dfs -ls` its folder)"
    assert status["type"] == "FILE", f"`hdfs_file: {text}` is a directory in HDFS: give the path of the file in it"
    try:
        local = dataset(ctx)
    except AssertionError:
        local = None  # the dataset's own check says what is wrong with it
    if local is not None:
        size = local.stat().st_size
        assert status["length"] == size, (f"{path} has {status['length']} bytes in HDFS but your dataset {local.name} "
                                          f"has {size}: put your dataset there")
    assert got == status["replication"], f"`replication: {got}` is not the replication factor HDFS reports for {path}"


# ---------------------------------------------------------------------------------------------------
# Step 5: HBase


@check(points=1, hint="`version` in `hbase shell`, or the HBase Master's web UI at http://localhost:16010 "
                      "(Software Attributes).", services=("hbase-master",))
def hbase_version(ctx: Context) -> None:
    got = answer(ctx, "hbase_version").split(",")[0].strip()
    page = get(f"{service_url('hbase-master', 'http://127.0.0.1:16010')}/master-status").decode("utf-8", "replace")
    found = re.search(r"HBase Version</td>\s*<td>\s*([^,<\s]+)", page)
    if found is None:
        raise RuntimeError("the HBase Master's status page shows no HBase Version")
    wanted = found.group(1)  # 2.6.1-hadoop3
    assert got in (wanted, wanted.split("-")[0]), f"`hbase_version: {got}` is not the version the HBase Master reports"


@check(points=1, hint="`get` or `scan` your table ${USER}_tour in `hbase shell -n`: the text after value= is "
                      "the value.", services=("hbase",))
def the_value_in_your_hbase_table(ctx: Context) -> None:
    import happybase

    got = answer(ctx, "hbase_value")
    name = f"{user()}_tour"
    connection = happybase.Connection(ctx.settings.hbase_host, ctx.settings.hbase_port, timeout=HTTP_TIMEOUT_S * 1000)
    try:
        tables = {t.decode() for t in connection.tables()}
        assert name in tables, f"HBase has no table {name}: create it (step 5) as the same user who runs `lab check`"
        values = [value.decode("utf-8", "replace") for _, row in connection.table(name).scan(limit=100)
                  for value in row.values()]
    finally:
        connection.close()
    assert values, f"table {name} is empty: `put` a value into it"
    assert got in values, f"`hbase_value: {got}` is not the value of any of the {len(values)} cell(s) of {name}"


# ---------------------------------------------------------------------------------------------------
# Step 6: Kafka


@check(points=1, hint="`kafka-topics.sh --bootstrap-server 127.0.0.1:9092 --describe --topic $USER.tour` says "
                      "PartitionCount.", services=("kafka",))
def partitions_of_your_tour_topic(ctx: Context) -> None:
    from kafka.admin import KafkaAdminClient

    got = number(ctx, "topic_partitions")
    topic = f"{user()}.tour"
    admin = KafkaAdminClient(bootstrap_servers=ctx.settings.kafka_bootstrap, client_id=f"{ctx.settings.namespace}-tour",
                             request_timeout_ms=HTTP_TIMEOUT_S * 1000)
    try:
        assert topic in admin.list_topics(), f"Kafka has no topic {topic}: create it (step 6)"
        (described,) = admin.describe_topics([topic])
    finally:
        admin.close()
    wanted = len(described["partitions"])
    assert got == wanted, f"`topic_partitions: {got}` is not the number of partitions Kafka reports for {topic}"


# ---------------------------------------------------------------------------------------------------
# Step 7: Spark


@check(points=1, hint="The Spark Master's JSON (`curl -s http://127.0.0.1:8080/json/`) or its web UI at "
                      "http://localhost:8080 lists each worker with its cores.", services=("spark",))
def cores_of_the_spark_worker(ctx: Context) -> None:
    got = number(ctx, "spark_worker_cores")
    master = json.loads(get(f"{service_url('spark-master', 'http://127.0.0.1:8080')}/json/"))
    cores = [int(w["cores"]) for w in master.get("workers", []) if w.get("state") == "ALIVE"]
    if not cores:
        raise RuntimeError("the Spark Master has no ALIVE worker: run `lab start spark-worker`")
    assert got in cores, f"`spark_worker_cores: {got}` is not the number of cores the Spark worker offers"
