"""One settings object for every stage: endpoints, topic/table names and HDFS paths.

Values come, lowest precedence first, from the built-in defaults (the ports the
playbook provisions), a YAML file named by $LAB_CONFIG, and LAB_* environment
variables (LAB_NAMESPACE, LAB_KAFKA_BOOTSTRAP, LAB_HBASE_PORT, ...).
The namespace prefixes every Kafka topic, HBase table and HDFS directory, so runs
(tests, students sharing one server) never see each other's data.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import happybase
import yaml
from Hbase_thrift import AlreadyExists, IOError as HBaseIOError  # the Thrift module that happybase loads
from hdfs import InsecureClient

from pipeline import contract, seams

NAMESPACE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class Settings:
    namespace: str = "lab"
    kafka_bootstrap: str = "127.0.0.1:9092"
    hbase_host: str = "127.0.0.1"
    hbase_port: int = 9090
    webhdfs_url: str = "http://127.0.0.1:9870"
    hdfs_url: str = "hdfs://127.0.0.1:9000"
    hdfs_user: str = dataclasses.field(default_factory=getpass.getuser)
    # Lab-size jobs in one local JVM; "spark://127.0.0.1:7077" runs them on the standalone cluster.
    spark_master: str = "local[*]"
    # Parent of every namespace's HDFS tree (world-writable with the sticky bit, like /tmp).
    hdfs_base: str = "/ecommerce"
    # A student's labs folder whose lab files replace the reference functions ("" = the reference),
    # and which labs' files ("all", or numbers such as "01,03"); see pipeline/seams.py.
    labs_dir: str = ""
    student_labs: str = "all"
    # The longest record, in UTF-8 bytes, any stage accepts (docs/data-contract.md, record_too_large).
    max_record_bytes: int = contract.MAX_RECORD_BYTES

    def __post_init__(self) -> None:
        if not NAMESPACE_PATTERN.match(self.namespace):
            raise ValueError(
                f"namespace {self.namespace!r} must start with a letter and use only a-z, 0-9 and _ (max 40)"
            )
        seams.student_labs(self.student_labs)  # ValueError naming the labs that exist
        if self.max_record_bytes < 1:
            raise ValueError(f"max_record_bytes must be at least 1, not {self.max_record_bytes}")

    # Kafka topics
    @property
    def raw_topic(self) -> str:
        return f"{self.namespace}.events.raw"

    @property
    def rejected_topic(self) -> str:
        return f"{self.namespace}.events.rejected"

    # Consumer groups
    @property
    def hbase_sink_group(self) -> str:
        return f"{self.namespace}.hbase-sink"

    @property
    def landing_group(self) -> str:
        return f"{self.namespace}.hdfs-landing"

    # HBase tables are prefixed with the namespace (happybase's table_prefix): lab_events.
    @property
    def hbase_table_prefix(self) -> str:
        return self.namespace

    events_table = "events"
    purchase_table = "purchases"
    minute_table = "rt_minute"
    product_table = "rt_product"
    minute_product_table = "rt_minute_product"
    total_table = "rt_total"

    @property
    def hbase_tables(self) -> tuple[str, ...]:
        """Every HBase table of the pipeline (without the prefix)."""
        return (self.events_table, self.purchase_table, self.minute_table, self.product_table,
                self.minute_product_table, self.total_table)

    # HDFS zones
    @property
    def hdfs_root(self) -> str:
        return f"{self.hdfs_base}/{self.namespace}"

    @property
    def raw_zone(self) -> str:
        return f"{self.hdfs_root}/raw"

    @property
    def clean_zone(self) -> str:
        return f"{self.hdfs_root}/clean/events"

    @property
    def quarantine_zone(self) -> str:
        return f"{self.hdfs_root}/quarantine"

    @property
    def marts_zone(self) -> str:
        return f"{self.hdfs_root}/marts"

    @property
    def checkpoint_dir(self) -> str:
        return f"{self.hdfs_root}/checkpoints"

    @property
    def summary_path(self) -> str:
        return f"{self.hdfs_root}/summary/summary.json"

    @property
    def breakdowns_path(self) -> str:
        """The dashboard breakdowns JSON the analytics run writes beside the summary."""
        return f"{self.hdfs_root}/summary/breakdowns.json"

    def hdfs_uri(self, path: str) -> str:
        """A full hdfs:// URI for an absolute HDFS path (what Spark reads and writes)."""
        return f"{self.hdfs_url}{path}"

    def webhdfs(self) -> InsecureClient:
        """A WebHDFS client acting as `hdfs_user`."""
        return InsecureClient(self.webhdfs_url, user=self.hdfs_user)

    def hbase(self) -> happybase.Connection:
        """A Thrift connection whose table names carry the namespace prefix."""
        return happybase.Connection(self.hbase_host, self.hbase_port, table_prefix=self.hbase_table_prefix)

    @contextmanager
    def hbase_using(self, connection: happybase.Connection | None = None) -> Iterator[happybase.Connection]:
        """``connection`` (e.g. one of a pool, left open), else a new ``hbase()`` connection closed on exit."""
        if connection is not None:
            yield connection
            return
        connection = self.hbase()
        try:
            yield connection
        finally:
            connection.close()

    def ensure_hbase_tables(self, families: dict[str, str], connection: happybase.Connection | None = None) -> None:
        """Create the missing tables of ``families`` ({table: its one column family, one version kept});
        several processes may race to create a table (the sink's workers do)."""
        with self.hbase_using(connection) as connection:
            existing = {name.decode() for name in connection.tables()}
            for name, family in families.items():
                if name not in existing:
                    try:
                        connection.create_table(name, {family: {"max_versions": 1}})
                    except AlreadyExists:
                        pass
                    except HBaseIOError as error:  # how the master reports most lost races
                        if b"TableExistsException" not in (error.message or b""):
                            raise

    def with_namespace(self, namespace: str) -> Settings:
        return dataclasses.replace(self, namespace=namespace)


def pipeline_command(settings: Settings, command: str) -> str:
    """The ``lab pipeline`` command line of sub-command ``command`` for ``settings``' namespace
    (``--namespace``, an option of ``lab pipeline``, only when it is not the default)."""
    option = "" if settings.namespace == Settings.namespace else f" --namespace {settings.namespace}"
    return f"lab pipeline{option} {command}"


def _from_file(path: Path) -> dict:
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of settings")
    return data


def load(namespace: str | None = None, environ: os._Environ | dict | None = None, **overrides: str) -> Settings:
    """Settings from $LAB_CONFIG and LAB_* variables; an explicit `namespace` and other ``overrides`` that are
    not None win."""
    environ = os.environ if environ is None else environ
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    values: dict = {}
    if environ.get("LAB_CONFIG"):
        values.update(_from_file(Path(environ["LAB_CONFIG"])))
    for name in fields:
        if f"LAB_{name.upper()}" in environ:
            values[name] = environ[f"LAB_{name.upper()}"]
    if namespace is not None:
        values["namespace"] = namespace
    values.update({name: value for name, value in overrides.items() if value is not None})
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}; known: {', '.join(fields)}")
    for name in values.keys() & {"hbase_port", "max_record_bytes"}:  # the settings that are numbers
        values[name] = int(values[name])
    return Settings(**values)
