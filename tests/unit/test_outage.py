"""outage.retried: transient failures are tried again, logged once, and bounded."""

import logging

import pytest

from pipeline import outage

pytestmark = pytest.mark.unit

LOG = logging.getLogger("test_outage")


class Flaky:
    """Fails with ``error`` ``failures`` times, then returns "done"."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


@pytest.fixture
def slept(monkeypatch):
    delays = []
    monkeypatch.setattr(outage.time, "sleep", delays.append)
    return delays


def retried(action, **overrides):
    arguments = dict(transient=lambda error: isinstance(error, ConnectionError), incident="x: the link broke",
                     recovered="wrote it", fix="is x running?", logger=LOG)
    return outage.retried(action, **{**arguments, **overrides})


def test_transient_failures_are_tried_again_with_growing_delays_and_logged_once(slept, caplog):
    caplog.set_level(logging.WARNING, logger="test_outage")
    action, recoveries = Flaky(8, ConnectionError("refused")), []
    assert retried(action, recover=lambda: recoveries.append(1)) == "done"
    assert action.calls == 9 and len(recoveries) == 8
    assert slept == [0.5, 1, 2, 4, 8, 15, 15, 15]
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("x: the link broke (ConnectionError: refused); wrote it after ")


def test_a_success_at_once_logs_nothing(slept, caplog):
    caplog.set_level(logging.WARNING, logger="test_outage")
    assert retried(Flaky(0, ConnectionError())) == "done"
    assert slept == [] and caplog.records == []


def test_other_errors_are_raised_at_once(slept):
    action = Flaky(1, ValueError("bad record"))
    with pytest.raises(ValueError, match="bad record"):
        retried(action)
    assert action.calls == 1 and slept == []


def test_a_failing_recovery_counts_as_an_attempt(slept):
    action, recoveries = Flaky(1, ConnectionError()), Flaky(2, ConnectionError())
    assert retried(action, recover=recoveries) == "done"
    assert recoveries.calls == 3 and slept == [0.5, 1, 2]


def test_a_service_that_stays_away_ends_in_an_error_with_the_fix(slept, monkeypatch):
    clock = iter(range(0, 10_000, 100))
    monkeypatch.setattr(outage.time, "monotonic", lambda: next(clock))
    with pytest.raises(outage.ServiceAway, match=r"x: the link broke and still failed after 600 s .*is x running\?"):
        retried(Flaky(10**6, ConnectionError("refused")))
