"""Supervisor, the process manager that runs every daemon (with or without systemd)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass

CONFIG = "/etc/supervisor/supervisord.conf"


class SupervisorError(RuntimeError):
    """supervisord is not reachable or refused a command."""


@dataclass(frozen=True)
class ProgramState:
    state: str
    pid: int | None


def _ctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["supervisorctl", "-c", CONFIG, *args], capture_output=True, text=True, check=False)


def pid() -> int | None:
    """supervisord's own pid (None when it is not running)."""
    answer = _ctl("pid").stdout.strip()
    return int(answer) if answer.isdigit() else None


def is_running() -> bool:
    return pid() is not None


def ensure_running(timeout_s: float = 15.0) -> None:
    """Start supervisord where nothing else does (a host without systemd, e.g. CI)."""
    if is_running():
        return
    if os.geteuid() != 0:
        raise SupervisorError("supervisord is not running; start the lab with `sudo lab up` (or `sudo lab start`)")
    if shutil.which("supervisord") is None:
        raise SupervisorError("supervisord is not installed; provision the host with `sudo lab up`")
    subprocess.run(["supervisord", "-c", CONFIG], check=True)
    deadline = time.monotonic() + timeout_s
    while not is_running():
        if time.monotonic() > deadline:
            raise SupervisorError("supervisord did not come up; see /var/log/supervisor/supervisord.log")
        time.sleep(0.2)


def states() -> dict[str, ProgramState]:
    """State and pid of every program supervisord knows."""
    if not is_running():
        return {}
    result = {}
    for line in _ctl("status").stdout.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        pid = None
        if "pid" in parts:
            pid = int(parts[parts.index("pid") + 1].rstrip(","))
        result[parts[0]] = ProgramState(parts[1], pid)
    return result


def _command(action: str, program: str) -> None:
    result = _ctl(action, program)
    output = (result.stdout + result.stderr).strip()
    if "ERROR" in output and "already started" not in output and "not running" not in output:
        raise SupervisorError(f"supervisorctl {action} {program}: {output}")


def start(program: str) -> None:
    _command("start", program)


def stop(program: str) -> None:
    _command("stop", program)
