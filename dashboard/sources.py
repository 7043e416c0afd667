"""The dashboard's data: the batch summary on HDFS, the real-time aggregates and events in HBase, the stack's health.

Every failure to reach a source becomes ``Unavailable`` with the ``lab`` command that fixes it,
so pages and the API can say so plainly instead of failing with a 500.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from contextlib import contextmanager
from decimal import Decimal

import happybase
import requests
from hdfs import HdfsError
from kafka.errors import KafkaError
from thriftpy2.transport import TTransportException

from labctl import stack
from labctl.services import load_services
from pipeline import contract, hbase_sink, lag, realtime
from pipeline.contract import EVENT_TYPES
from pipeline.settings import Settings

SAMPLE = "datasets/sample/events.csv"
LIVE_WINDOW_MINUTES = 60
TOP_LIVE_PRODUCTS = 10
HBASE_ERRORS = (TTransportException, OSError)


class Unavailable(RuntimeError):
    """A data source cannot answer; ``fix`` is the command that makes it answer."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.message = message
        self.fix = fix


def lab_command(settings: Settings, command: str) -> str:
    """A ``lab`` command line for the dashboard's namespace (``--namespace`` only when it is not the default)."""
    prefix = "lab" if settings.namespace == Settings.namespace else f"lab --namespace {settings.namespace}"
    return f"{prefix} {command}"


def hbase_down(settings: Settings) -> Unavailable:
    return Unavailable(f"HBase (Thrift server {settings.hbase_host}:{settings.hbase_port}) is not reachable.",
                       "lab start hbase-thrift")


class Summary:
    """The summary JSON of the latest analytics run, cached in memory until its HDFS modification time changes.

    The modification time is checked at most every ``check_interval_s`` seconds.
    """

    def __init__(self, settings: Settings, check_interval_s: float = 2.0):
        self.settings = settings
        self.check_interval_s = check_interval_s
        self._client = settings.webhdfs()
        self._lock = threading.Lock()
        self._data: dict | None = None
        self._modified_ms: int | None = None
        self._checked = 0.0

    def get(self) -> dict:
        """The summary plus ``computed_at`` (ISO time, UTC, of the summary file's last write)."""
        with self._lock:
            now = time.monotonic()
            if self._data is None or now - self._checked >= self.check_interval_s:
                self._refresh()
                self._checked = now
            return self._data

    def _refresh(self) -> None:
        path = self.settings.summary_path
        try:
            status = self._client.status(path, strict=False)
            if status is None:
                raise Unavailable(f"No analytics run exists yet in namespace {self.settings.namespace!r} "
                                  f"({path} is missing on HDFS).",
                                  lab_command(self.settings, f"pipeline run --input {SAMPLE}"))
            if status["modificationTime"] != self._modified_ms:
                with self._client.read(path, encoding="utf-8") as reader:
                    data = json.load(reader)
                moment = dt.datetime.fromtimestamp(status["modificationTime"] / 1000, dt.timezone.utc)
                self._data = {**data, "computed_at": moment.isoformat(timespec="seconds")}
                self._modified_ms = status["modificationTime"]
        except (requests.RequestException, HdfsError) as error:
            self._data = self._modified_ms = None
            raise Unavailable(f"HDFS (WebHDFS {self.settings.webhdfs_url}) is not reachable: "
                              f"{type(error).__name__}.", "lab start namenode datanode") from error


def _plain(row: dict) -> dict:
    """Decimals (revenue, price) as JSON numbers, like the summary's."""
    return {key: float(value) if isinstance(value, Decimal) else value for key, value in row.items()}


class Live:
    """The real-time aggregates and the events table in HBase, through a pool of Thrift connections."""

    def __init__(self, settings: Settings, pool_size: int = 8, max_age_s: float = 1.0):
        self.settings = settings
        self.pool_size = pool_size
        self.max_age_s = max_age_s
        self._pool: happybase.ConnectionPool | None = None
        self._lock = threading.Lock()
        self._recent: dict[str, tuple[float, dict]] = {}
        self._reading = {"minutes": threading.Lock(), "totals": threading.Lock()}

    def _fresh(self, name: str, read) -> dict:
        """``read()``'s result, reused for ``max_age_s`` seconds: the aggregates change once per streaming
        batch, so concurrent requests share one HBase read instead of each scanning the tables."""
        with self._reading[name]:
            at, value = self._recent.get(name, (0.0, None))
            if value is None or time.monotonic() - at >= self.max_age_s:
                value = read()
                self._recent[name] = (time.monotonic(), value)
            return value

    def _get_pool(self) -> happybase.ConnectionPool:
        """The pool, made on first use: happybase opens a connection when it makes one, and the app
        must start (and say that HBase is down) while HBase is down."""
        with self._lock:
            if self._pool is None:
                self._pool = happybase.ConnectionPool(self.pool_size, host=self.settings.hbase_host,
                                                      port=self.settings.hbase_port,
                                                      table_prefix=self.settings.hbase_table_prefix)
            return self._pool

    @contextmanager
    def _reachable(self):
        """HBase's connection errors as Unavailable."""
        try:
            yield
        except HBASE_ERRORS as error:
            raise hbase_down(self.settings) from error

    @contextmanager
    def _connection(self):
        with self._reachable(), self._get_pool().connection() as connection:
            yield connection

    def _latest_minute(self, connection: happybase.Connection) -> str | None:
        if self.settings.minute_table.encode() not in connection.tables():
            return None
        for key, _ in connection.table(self.settings.minute_table).scan(reverse=True, limit=1, columns=[b"c"]):
            return key.decode()
        return None

    def minutes(self) -> dict:
        """Counts per minute by event type over the last LIVE_WINDOW_MINUTES minutes of event time
        (ending at the latest minute with events), zeros included, in time order."""
        return self._fresh("minutes", self._read_minutes)

    def _read_minutes(self) -> dict:
        with self._connection() as connection:
            latest = self._latest_minute(connection)
            if latest is None:
                return {"latest_minute": None, "minutes": []}
            end = dt.datetime.strptime(latest, "%Y%m%d%H%M")
            keys = [(end - dt.timedelta(minutes=n)).strftime("%Y%m%d%H%M") for n in range(LIVE_WINDOW_MINUTES)][::-1]
            rows = {row["minute"]: row for row in realtime.minute_counts(self.settings, keys[0])}
        empty = {**dict.fromkeys(EVENT_TYPES, 0), "revenue": Decimal("0.00")}
        return {"latest_minute": latest,
                "minutes": [_plain({**empty, **rows.get(key, {}), "minute": key}) for key in keys]}

    def totals(self) -> dict:
        """Sums over the real-time product totals (the summary's names) and the top products by revenue."""
        return self._fresh("totals", self._read_totals)

    def _read_totals(self) -> dict:
        with self._reachable():
            products = realtime.product_totals(self.settings)
            totals = realtime.totals(self.settings)
        top = sorted(products, key=lambda p: (-p["revenue"], p["product_id"]))[:TOP_LIVE_PRODUCTS]
        return {**_plain(totals), "top_products": [_plain(p) for p in top]}

    def user_events(self, user_id: int) -> list[dict]:
        """One user's events in time order (one prefix scan of the events table)."""
        with self._connection() as connection:
            if self.settings.events_table.encode() not in connection.tables():
                return []
        with self._reachable():
            return [_plain(event) for event in hbase_sink.user_events(self.settings, user_id)]


def parse_user_id(text: str) -> int | None:
    """A user id as the data contract accepts it (1-19 digits, 1..2^63-1), else None."""
    return contract.identifier(text)


def consumer_lag(settings: Settings) -> list[dict]:
    """Per consumer group of the pipeline: committed offsets vs the raw topic's end offsets, summed over partitions."""
    try:
        lags = lag.consumer_lag(settings, [settings.hbase_sink_group, settings.landing_group])
    except KafkaError as error:
        raise Unavailable(f"Kafka ({settings.kafka_bootstrap}) could not report the consumer groups: "
                          f"{type(error).__name__}.", "lab start kafka") from error
    return [{"group": group, "topic": settings.raw_topic, "partitions": len(partitions),
             "committed": sum(p.committed for p in partitions), "lag": sum(p.lag for p in partitions)}
            for group, partitions in lags.items()]


def pipeline_status(settings: Settings, summary: Summary) -> dict:
    """The services (as `lab status` reports them), consumer lag per group and the last clean run's quality counts.

    Each part that cannot be read is None, with its reason and fix in ``problems``.
    """
    services = [{"name": s.service.name, "component": s.service.component, "state": s.state, "healthy": s.healthy,
                 "detail": s.detail, "ports": s.service.ports, "ui": s.service.ui}
                for s in stack.status(load_services())]
    result = {"services": services, "lag": None, "quality": None, "computed_at": None, "problems": []}
    try:
        result["lag"] = consumer_lag(settings)
    except Unavailable as problem:
        result["problems"].append({"error": problem.message, "fix": problem.fix})
    try:
        data = summary.get()
        result["quality"], result["computed_at"] = data["quality"], data["computed_at"]
    except Unavailable as problem:
        result["problems"].append({"error": problem.message, "fix": problem.fix})
    return result
