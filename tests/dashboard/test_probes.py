"""The Pipeline health page's probes of the stack (dashboard.sources.Probe) on the app served by waitress, with fake
probes: concurrent requests share one run per cache period, and a probe that hangs holds no request longer than
its bound."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from waitress.server import create_server

from dashboard import create_app
from dashboard.fakes import FakeLive, FakeSummary
from dashboard.sources import PipelineStatus, Probe
from pipeline.settings import Settings

pytestmark = pytest.mark.unit

SERVICES = [{"name": "kafka", "component": "kafka", "state": "RUNNING", "healthy": True, "detail": "1 broker",
             "ports": [9092], "ui": ""}]
LAG = [{"group": "fakes.hbase-sink", "topic": "fakes.events.raw", "partitions": 3, "committed": 5, "lag": 0,
        "healthy": True, "detail": "caught up", "fix": None}]
THREADS = 4  # waitress's worker threads
REQUESTS = 24  # concurrent requests, six per thread
BOUND_S = 1.0


class Counted:
    """A probe's function that counts its runs; with ``hang``, each run waits until ``release`` is set."""

    def __init__(self, answer, hang: bool = False):
        self.answer = answer
        self.hang = hang
        self.runs = 0
        self.release = threading.Event()

    def __call__(self):
        self.runs += 1
        if self.hang:
            self.release.wait()
        return self.answer


@pytest.fixture
def serve():
    """serve(services, lag, max_age_s): the app on fake sources and these probes, served by waitress; its URL."""
    servers = []

    def _serve(services: Counted, lag: Counted, max_age_s: float) -> str:
        pipeline = PipelineStatus(FakeSummary(), Probe(services, max_age_s, BOUND_S, "The services", "lab status"),
                                  Probe(lag, max_age_s, BOUND_S, "Kafka", "lab status"))
        app = create_app(Settings(namespace="fakes"), FakeSummary(), FakeLive(), pipeline)
        server = create_server(app, host="127.0.0.1", port=0, threads=THREADS)
        threading.Thread(target=server.run, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.effective_port}"

    yield _serve
    for server in servers:
        server.close()


def concurrently(url: str, count: int = REQUESTS) -> list[tuple[float, requests.Response]]:
    """``count`` GETs of ``url`` at once: (seconds, response) of each."""
    def get(_):
        started = time.monotonic()
        response = requests.get(url, timeout=30)
        return time.monotonic() - started, response

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(get, range(count)))


def test_concurrent_requests_share_one_probe_run_per_cache_period(serve):
    services, lag = Counted(SERVICES), Counted(LAG)
    url = serve(services, lag, max_age_s=1.0)
    for _, response in concurrently(f"{url}/api/pipeline"):
        assert response.status_code == 200
        assert (response.json()["services"], response.json()["lag"]) == (SERVICES, LAG)
    assert (services.runs, lag.runs) == (1, 1)
    time.sleep(1.1)
    assert requests.get(f"{url}/health", timeout=10).status_code == 200
    assert (services.runs, lag.runs) == (2, 2)


def test_a_hanging_probe_holds_no_request_longer_than_its_bound(serve):
    services, lag = Counted(SERVICES, hang=True), Counted(LAG)
    url = serve(services, lag, max_age_s=0.2)
    try:
        started = time.monotonic()
        answers = concurrently(f"{url}/api/pipeline") + concurrently(f"{url}/health")
        elapsed = time.monotonic() - started
        for seconds, response in answers:
            assert response.status_code == 200
            assert seconds < BOUND_S + 0.5, f"a request waited {seconds:.1f} s for a probe bounded at {BOUND_S} s"
        body = answers[0][1].json()
        assert body["services"] is None and body["lag"] == LAG
        assert {"error": f"The services did not answer within {BOUND_S:g} s.", "fix": "lab status"} in body["problems"]
        assert "The services did not answer within" in answers[-1][1].text
        # the server's threads were never all held: twice 24 requests on 4 threads took about one bound
        assert elapsed < 2 * BOUND_S + 1.0, f"{2 * REQUESTS} requests took {elapsed:.1f} s"
        assert services.runs == 1, "a probe run that hangs must not be started again"
    finally:
        services.release.set()
    deadline = time.monotonic() + 5
    while requests.get(f"{url}/api/pipeline", timeout=10).json()["services"] != SERVICES:
        assert time.monotonic() < deadline, "the probe's answer did not come once it stopped hanging"
        time.sleep(0.05)
    assert services.runs == 1, "the answer is that of the run that hung"
    time.sleep(0.3)
    assert requests.get(f"{url}/api/pipeline", timeout=10).json()["services"] == SERVICES
    assert services.runs == 2, "once its answer is older than the cache period, the probe runs again"
