"""Riding out a service that is away for a while (a restart, an idle connection it closed, HDFS safe mode):
the consumer stages try the same action again with growing delays, log one line per incident once it
worked, and stop with an error naming the fix when the service stays away."""

from __future__ import annotations

import logging
import time
from typing import Callable, TypeVar

T = TypeVar("T")

# Seconds between attempts; the last one repeats until GIVE_UP_S have passed since the first failure.
DELAYS_S = (0.5, 1, 2, 4, 8, 15)
GIVE_UP_S = 600


class ServiceAway(RuntimeError):
    """A service stayed away for GIVE_UP_S seconds."""


def retried(action: Callable[[], T], transient: Callable[[BaseException], bool], incident: str, recovered: str,
            fix: str, logger: logging.Logger, recover: Callable[[], None] = lambda: None) -> T:
    """``action()``, again after each failure that ``transient`` accepts (``recover()`` first, e.g. to
    reconnect; its own transient failures count as attempts).

    Once it worked after failing, one warning: "<incident> (<first error>); <recovered> after N s".
    Raises ServiceAway, with ``fix``, once the failures have lasted GIVE_UP_S; other errors at once.
    """
    failed_at, cause, attempt = None, "", 0
    while True:
        try:
            if attempt:
                recover()
            result = action()
            break
        except Exception as error:
            if not transient(error):
                raise
            now = time.monotonic()
            if failed_at is None:
                failed_at, cause = now, f"{type(error).__name__}: {error}"
            elif now - failed_at > GIVE_UP_S:
                raise ServiceAway(f"{incident} and still failed after {GIVE_UP_S} s ({error}); {fix}") from error
            time.sleep(DELAYS_S[min(attempt, len(DELAYS_S) - 1)])
            attempt += 1
    if failed_at is not None:
        logger.warning("%s (%s); %s after %.1f s", incident, cause, recovered, time.monotonic() - failed_at)
    return result
