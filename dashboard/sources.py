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
from concurrent.futures import Future
from decimal import Decimal
from typing import Callable, Generic, TypeVar

import happybase
import requests
from hdfs import HdfsError
from kafka.errors import KafkaError
from thriftpy2.transport import TTransportException
from werkzeug.exceptions import NotFound

from labctl import health, stack
from labctl.services import load_services
from pipeline import contract, lag, store
from pipeline.settings import Settings, pipeline_command

SAMPLE = "datasets/sample/events.csv"
LIVE_WINDOW_MINUTES = 60
TOP_WINDOW_MINUTES = 15
TOP_LIVE_PRODUCTS = 10
LATEST_PURCHASES = 10
CUSTOMER_EVENTS = 1000  # the customer lookup shows at most this many of a user's events (the latest), and their total
T = TypeVar("T")
HBASE_ERRORS = (TTransportException, OSError)
HBASE_TIMEOUT_MS = 10_000  # a read never hangs (and never holds a Recent value's refresh) longer


class Unavailable(RuntimeError):
    """A data source cannot answer; ``fix`` is the command that makes it answer."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.message = message
        self.fix = fix


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

    def __init__(self, settings: Settings, pool_size: int = 8, max_age_s: float = 0.25,
                 customer_events: int = CUSTOMER_EVENTS):
        self.settings = settings
        self.customer_events = customer_events
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
        """One user's latest ``customer_events`` events, in time order (one reverse prefix scan of the events table)."""
        events = self._on_hbase(lambda connection: store.user_events(self.settings, user_id, connection,
                                                                     latest=self.customer_events))
        return [_plain(event) for event in events]

    def user_event_count(self, user_id: int) -> int:
        """How many events one user has (a prefix scan of the row keys)."""
        return self._on_hbase(lambda connection: store.count_user_events(self.settings, user_id, connection))


def _minutes_until(latest: str, count: int) -> list[str]:
    """The ``count`` minute keys ("YYYYMMDDHHMM") ending at ``latest``, in time order."""
    end = dt.datetime.strptime(latest, "%Y%m%d%H%M")
    return [(end - dt.timedelta(minutes=n)).strftime("%Y%m%d%H%M") for n in range(count)][::-1]


def event_total(live: Live, user_id: int, events: list[dict]) -> int:
    """How many events the user of ``events`` (``live.user_events(user_id)``) has: as many, unless they are as many
    as the lookup shows at most (``live.customer_events``); then ``live.user_event_count`` counts them all."""
    return len(events) if len(events) < live.customer_events else live.user_event_count(user_id)


def parse_user_id(text: str) -> int | None:
    """A user id as the data contract accepts it (1-19 digits, 1..2^63-1), else None."""
    return contract.identifier(text)


def consumer_lag(settings: Settings) -> list[dict]:
    """The pipeline's consumer groups on the raw topic: lag summed over partitions, and whether each is consuming
    (``labctl.health.consumer_groups``: a group with lag that commits nothing for a while is unhealthy)."""
    try:
        return health.consumer_groups(settings)
    except KafkaError as error:
        raise Unavailable(f"Kafka ({settings.kafka_bootstrap}) could not report the consumer groups: "
                          f"{type(error).__name__}.", "lab start kafka") from error


def services() -> list[dict]:
    """Every service's state and health, as `lab status` reports them."""
    return [{"name": s.service.name, "component": s.service.component, "state": s.state, "healthy": s.healthy,
             "detail": s.detail, "ports": s.service.ports, "ui": s.service.ui}
            for s in stack.status(load_services())]


class Probe(Generic[T]):
    """A slow check of the stack, run in a thread of its own at most once every ``max_age_s`` seconds: the requests
    meanwhile share that run's answer.

    A request waits for a run at most ``timeout_s`` seconds after the run started, then gets ``Unavailable``
    (``what`` did not answer, ``fix``); while a run is within that bound, the previous answer is served at once.
    A run that hangs is never started again before it ends, so it holds one thread, not the server's.
    """

    def __init__(self, run: Callable[[], T], max_age_s: float, timeout_s: float, what: str, fix: str):
        self._run = run
        self.max_age_s = max_age_s
        self.timeout_s = timeout_s
        self.what = what
        self.fix = fix
        self._lock = threading.Lock()
        self._running: Future | None = None
        self._started = 0.0
        self._last: Future | None = None  # the latest finished run
        self._finished = 0.0

    def start(self) -> None:
        """Start a run unless one is under way or the last one is fresh."""
        with self._lock:
            if self._running is not None or (self._last is not None
                                             and time.monotonic() - self._finished < self.max_age_s):
                return
            self._running, self._started = Future(), time.monotonic()
            threading.Thread(target=self._measure, args=(self._running,), daemon=True,
                             name=f"probe: {self.what}").start()

    def get(self) -> T:
        """The answer of the latest run (starting one when due), or ``Unavailable`` when it takes too long."""
        self.start()
        with self._lock:
            running, last, waited = self._running, self._last, time.monotonic() - self._started
        if running is None or (last is not None and waited < self.timeout_s):
            return last.result()
        try:
            return running.result(timeout=max(0.0, self.timeout_s - waited))
        except TimeoutError:
            raise Unavailable(f"{self.what} did not answer within {self.timeout_s:g} s.", self.fix) from None

    def _measure(self, future: Future) -> None:
        try:
            future.set_result(self._run())
        except Exception as error:  # noqa: BLE001 - the requests get it from the future
            future.set_exception(error)
        with self._lock:
            self._last, self._finished, self._running = future, time.monotonic(), None


PROBE_MAX_AGE_S = 5.0  # the Pipeline health page's probes run at most this often
SERVICES_TIMEOUT_S = 8.0  # every service's health check (each gives up after labctl.health.TIMEOUT_S)
LAG_TIMEOUT_S = lag.PROGRESS_WINDOW_S + 5.0  # the consumer groups' watch, then Kafka's answers


class PipelineStatus:
    """The Pipeline health page's data: the services and the consumer groups (each a ``Probe``) and the last clean
    run's quality counts (from the summary)."""

    def __init__(self, summary: Summary, services_probe: Probe, lag_probe: Probe):
        self.summary = summary
        self.services_probe = services_probe
        self.lag_probe = lag_probe

    @classmethod
    def of(cls, settings: Settings, summary: Summary) -> PipelineStatus:
        """The probes of the stack and of ``settings``' consumer groups."""
        return cls(summary,
                   Probe(services, PROBE_MAX_AGE_S, SERVICES_TIMEOUT_S, "The services' health checks", "lab status"),
                   Probe(lambda: consumer_lag(settings), PROBE_MAX_AGE_S, LAG_TIMEOUT_S,
                         f"Kafka ({settings.kafka_bootstrap}), asked for the consumer groups,", "lab status"))

    def get(self) -> dict:
        """``services``, ``lag`` (per consumer group), ``quality`` and its ``computed_at``; each part that cannot be
        read is None, with its reason and fix in ``problems``."""
        result = {"services": None, "lag": None, "quality": None, "computed_at": None, "problems": []}
        probes = {"services": self.services_probe, "lag": self.lag_probe}
        for probe in probes.values():
            probe.start()  # both run at once: a request waits for the slower one only
        for part, probe in probes.items():
            try:
                result[part] = probe.get()
            except Unavailable as problem:
                result["problems"].append({"error": problem.message, "fix": problem.fix})
        try:
            data = self.summary.get()
            result["quality"], result["computed_at"] = data["quality"], data["computed_at"]
        except Unavailable as problem:
            result["problems"].append({"error": problem.message, "fix": problem.fix})
        return result
