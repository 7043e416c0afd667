"""The dashboard's data: the batch summary and breakdowns on HDFS, the real-time aggregates and events in HBase,
the stack's health.

Every failure to reach a source becomes ``Unavailable`` with the ``lab`` command that fixes it,
so pages and the API can say so plainly instead of failing with a 500.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Callable, TypeVar

import happybase
import requests
from hdfs import HdfsError
from kafka.errors import KafkaError
from thriftpy2.transport import TTransportException
from werkzeug.exceptions import NotFound

from labctl import stack
from labctl.services import load_services
from pipeline import contract, lag, store
from pipeline.settings import Settings

SAMPLE = "datasets/sample/events.csv"
LIVE_WINDOW_MINUTES = 60
TOP_WINDOW_MINUTES = 15
TOP_LIVE_PRODUCTS = 10
LATEST_PURCHASES = 10
T = TypeVar("T")
HBASE_ERRORS = (TTransportException, OSError)
HBASE_TIMEOUT_MS = 10_000  # a read never hangs (and never holds a Recent value's refresh) longer


class Unavailable(RuntimeError):
    """A data source cannot answer; ``fix`` is the command that makes it answer."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.message = message
        self.fix = fix


def pipeline_command(settings: Settings, command: str) -> str:
    """The ``lab pipeline`` command line of sub-command ``command`` for the dashboard's namespace
    (``--namespace``, an option of ``lab pipeline``, only when it is not the default)."""
    option = "" if settings.namespace == Settings.namespace else f" --namespace {settings.namespace}"
    return f"lab pipeline{option} {command}"


def hbase_down(settings: Settings) -> Unavailable:
    return Unavailable(f"HBase (Thrift server {settings.hbase_host}:{settings.hbase_port}) is not reachable.",
                       "lab start hbase-thrift")


class UnknownCategory(NotFound):
    """A category the latest analytics run did not see: a 404 that names the ones it did."""

    def __init__(self, category: str, known: Iterable[str]):
        super().__init__(f"No category {category!r} in the latest analytics run; known: {', '.join(known)}.")


class Summary:
    """The latest analytics run's JSON documents on HDFS, the summary and the dashboard breakdowns, each
    cached in memory until its HDFS modification time changes.

    A document's modification time is checked at most every ``check_interval_s`` seconds.
    """

    def __init__(self, settings: Settings, check_interval_s: float = 2.0):
        self.settings = settings
        self.check_interval_s = check_interval_s
        self._client = settings.webhdfs()
        self._lock = threading.Lock()
        # by HDFS path: the document, its modification time, when that was last checked
        self._data: dict[str, dict] = {}
        self._modified_ms: dict[str, int] = {}
        self._checked: dict[str, float] = {}

    def get(self) -> dict:
        """The summary plus ``computed_at`` (ISO time, UTC, of the summary file's last write)."""
        path = self.settings.summary_path
        try:
            return self._document(path)
        except _Missing:
            raise Unavailable(f"No analytics run exists yet in namespace {self.settings.namespace!r} "
                              f"({path} is missing on HDFS).",
                              pipeline_command(self.settings, f"run --input {SAMPLE}")) from None

    def breakdowns(self) -> dict:
        """The dashboard breakdowns (docs/data-contract.md) plus ``computed_at`` (of the breakdowns file)."""
        path = self.settings.breakdowns_path
        try:
            return self._document(path)
        except _Missing:
            raise Unavailable(f"The analytics run of {self.get()['computed_at']} predates the dashboard breakdowns "
                              f"({path} is missing on HDFS).", pipeline_command(self.settings, "analyze")) from None

    def category(self, name: str) -> dict:
        """One category's breakdown (``top_products``, ``top_brands``) plus ``category`` and ``computed_at``."""
        breakdowns = self.breakdowns()
        if name not in breakdowns["by_category"]:
            raise UnknownCategory(name, breakdowns["by_category"])
        return {"computed_at": breakdowns["computed_at"], "category": name, **breakdowns["by_category"][name]}

    def _document(self, path: str) -> dict:
        """The document at ``path``, read again when its modification time changed; _Missing when there is none."""
        with self._lock:
            now = time.monotonic()
            if path not in self._data or now - self._checked[path] >= self.check_interval_s:
                self._refresh(path)
                self._checked[path] = now
            return self._data[path]

    def _refresh(self, path: str) -> None:
        try:
            status = self._client.status(path, strict=False)
            if status is None:
                raise _Missing(path)
            if status["modificationTime"] != self._modified_ms.get(path):
                with self._client.read(path, encoding="utf-8") as reader:
                    data = json.load(reader)
                moment = dt.datetime.fromtimestamp(status["modificationTime"] / 1000, dt.timezone.utc)
                self._data[path] = {**data, "computed_at": moment.isoformat(timespec="seconds")}
                self._modified_ms[path] = status["modificationTime"]
        except (requests.RequestException, HdfsError) as error:
            self._data.pop(path, None)
            self._modified_ms.pop(path, None)
            raise Unavailable(f"HDFS (WebHDFS {self.settings.webhdfs_url}) is not reachable: "
                              f"{type(error).__name__}.", "lab start namenode datanode") from error


class _Missing(Exception):
    """A document of the analytics run is not on HDFS."""


def _plain(row: dict) -> dict:
    """Decimals (revenue, price) as JSON numbers, like the summary's."""
    return {key: float(value) if isinstance(value, Decimal) else value for key, value in row.items()}


class Recent:
    """A value re-read at most every ``max_age_s`` seconds (stale-while-revalidate).

    The aggregates change once per streaming batch, so concurrent requests share one HBase
    read; while one request re-reads a stale value, the others get the previous one at once
    instead of queueing behind the read. A failed read forgets the value and raises.
    """

    def __init__(self, read: Callable[[], dict], max_age_s: float):
        self._read = read
        self._max_age_s = max_age_s
        self._value: dict | None = None
        self._at = 0.0
        self._reading = threading.Lock()

    def get(self) -> dict:
        value = self._value
        if value is not None and time.monotonic() - self._at < self._max_age_s:
            return value
        if not self._reading.acquire(blocking=value is None):
            return value  # another request is re-reading it
        try:
            if self._value is None or time.monotonic() - self._at >= self._max_age_s:
                try:
                    self._value, self._at = self._read(), time.monotonic()
                except Exception:
                    self._value = None  # the next request reads again, and says why it fails
                    raise
            return self._value
        finally:
            self._reading.release()


class Live:
    """The real-time aggregates and the events tables in HBase, through a pool of Thrift connections."""

    def __init__(self, settings: Settings, pool_size: int = 8, max_age_s: float = 0.25):
        self.settings = settings
        self.pool_size = pool_size
        self._pool: happybase.ConnectionPool | None = None
        self._lock = threading.Lock()
        self._recent = {name: Recent(read, max_age_s) for name, read in (
            ("minutes", self._read_minutes), ("totals", self._read_totals),
            ("top_products", self._read_top_products), ("purchases", self._read_purchases))}

    def _get_pool(self) -> happybase.ConnectionPool:
        """The pool, made on first use: happybase opens a connection when it makes one, and the app
        must start (and say that HBase is down) while HBase is down."""
        with self._lock:
            if self._pool is None:
                self._pool = happybase.ConnectionPool(self.pool_size, host=self.settings.hbase_host,
                                                      port=self.settings.hbase_port, timeout=HBASE_TIMEOUT_MS,
                                                      table_prefix=self.settings.hbase_table_prefix)
            return self._pool

    def _on_hbase(self, read: Callable[[happybase.Connection], T]) -> T:
        """``read`` on a pooled connection. A connection that broke since its last use (HBase restarted)
        fails once and is replaced by the pool: the read is tried once more, then HBase is down."""
        for attempt in (1, 2):
            try:
                with self._get_pool().connection() as connection:
                    return read(connection)
            except HBASE_ERRORS as error:
                if attempt == 2:
                    raise hbase_down(self.settings) from error

    def minutes(self) -> dict:
        """Counts per minute by event type over the last LIVE_WINDOW_MINUTES minutes of event time
        (ending at the latest minute with events), zeros included, in time order."""
        return self._recent["minutes"].get()

    def totals(self) -> dict:
        """Totals over every streamed event (the summary's names)."""
        return self._recent["totals"].get()

    def top_products(self) -> dict:
        """The top products by revenue in the last TOP_WINDOW_MINUTES minutes of event time."""
        return self._recent["top_products"].get()

    def purchases(self) -> dict:
        """The LATEST_PURCHASES latest purchases, latest first."""
        return self._recent["purchases"].get()

    def _read_minutes(self) -> dict:
        def read(connection: happybase.Connection) -> tuple[str | None, list[str], dict]:
            latest = store.latest_minute(self.settings, connection)
            if latest is None:
                return None, [], {}
            keys = _minutes_until(latest, LIVE_WINDOW_MINUTES)
            return latest, keys, {row["minute"]: row for row in store.minute_counts(self.settings, keys[0], connection)}

        latest, keys, rows = self._on_hbase(read)
        return {"latest_minute": latest,
                "minutes": [_plain({**store.zero(), **rows.get(key, {}), "minute": key}) for key in keys]}

    def _read_totals(self) -> dict:
        return _plain(self._on_hbase(lambda connection: store.totals(self.settings, connection)))

    def _read_top_products(self) -> dict:
        def read(connection: happybase.Connection) -> tuple[str | None, str | None, list[dict]]:
            latest = store.latest_minute(self.settings, connection)
            if latest is None:
                return None, None, []
            since = _minutes_until(latest, TOP_WINDOW_MINUTES)[0]
            return latest, since, store.top_products(self.settings, since, TOP_LIVE_PRODUCTS, connection)

        latest, since, top = self._on_hbase(read)
        return {"latest_minute": latest, "since_minute": since, "window_minutes": TOP_WINDOW_MINUTES,
                "top_products": [_plain(p) for p in top]}

    def _read_purchases(self) -> dict:
        purchases = self._on_hbase(
            lambda connection: store.latest_purchases(self.settings, LATEST_PURCHASES, connection))
        return {"purchases": [_plain(p) for p in purchases]}

    def user_events(self, user_id: int) -> list[dict]:
        """One user's events in time order (one prefix scan of the events table)."""
        events = self._on_hbase(lambda connection: store.user_events(self.settings, user_id, connection))
        return [_plain(event) for event in events]


def _minutes_until(latest: str, count: int) -> list[str]:
    """The ``count`` minute keys ("YYYYMMDDHHMM") ending at ``latest``, in time order."""
    end = dt.datetime.strptime(latest, "%Y%m%d%H%M")
    return [(end - dt.timedelta(minutes=n)).strftime("%Y%m%d%H%M") for n in range(count)][::-1]


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
