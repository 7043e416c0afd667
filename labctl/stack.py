"""Start, stop and inspect the stack in dependency order, waiting for real health."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from labctl import hdfs_dirs, health, supervisor
from labctl.services import Service

POLL_S = 1.0


@dataclass(frozen=True)
class Status:
    service: Service
    state: str
    pid: int | None
    healthy: bool
    detail: str


class StartFailed(RuntimeError):
    """A service did not become healthy; carries the tail of its log."""

    def __init__(self, service: Service, reason: str):
        self.service = service
        self.reason = reason
        self.log_tail = tail(service.log, 25)
        super().__init__(f"{service.name} did not become healthy: {reason}")


def tail(path: str, lines: int) -> str:
    """The last lines of a log file (empty when it does not exist yet)."""
    try:
        with Path(path).open(errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines))
    except FileNotFoundError:
        return ""


def status(services: list[Service]) -> list[Status]:
    states = supervisor.states()
    rows = []
    for service in services:
        program = states.get(service.name)
        state = program.state if program else ("NOT RUNNING" if states else "SUPERVISOR DOWN")
        healthy, detail = _health(service, state)
        rows.append(Status(service, state, program.pid if program else None, healthy, detail))
    return rows


def _health(service: Service, state: str) -> tuple[bool, str]:
    """The service's protocol check; `supervisor`-kind services are healthy while RUNNING."""
    if state != "RUNNING":
        return False, "not running"
    if service.health.get("kind") == "supervisor":
        return True, "running"
    return health.check(service.health)


def _namenode(services: list[Service]) -> Service:
    return next(s for s in services if s.health.get("kind") == "namenode")


def wait_healthy(service: Service) -> str:
    """Poll the health check until it passes; raise StartFailed on exit or timeout."""
    deadline = time.monotonic() + service.start_timeout
    detail = "not checked"
    while time.monotonic() < deadline:
        state = supervisor.states().get(service.name)
        if state and state.state in {"FATAL", "EXITED", "BACKOFF"}:
            raise StartFailed(service, f"the process is {state.state}")
        healthy, detail = _health(service, state.state if state else "NOT RUNNING")
        if healthy:
            return detail
        time.sleep(POLL_S)
    raise StartFailed(service, f"no healthy answer within {service.start_timeout}s (last: {detail})")


def start(services: list[Service], all_services: list[Service], on_healthy=lambda service, detail: None) -> None:
    """Start each service in order and wait until it is healthy before the next one."""
    supervisor.ensure_running()
    for service in services:
        supervisor.start(service.name)
        detail = wait_healthy(service)
        if service.hdfs_dirs:
            namenode = _namenode(all_services)
            # The account the NameNode runs as is the HDFS superuser.
            hdfs_dirs.ensure(service, namenode.health["url"], namenode.user)
        on_healthy(service, detail)


def stop(services: list[Service]) -> None:
    """Stop in reverse start order."""
    if not supervisor.is_running():
        return
    for service in reversed(services):
        supervisor.stop(service.name)
