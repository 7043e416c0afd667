"""Shared fixtures: the running stack's endpoints, and unique names per test run."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from labctl import health
from labctl.services import load_services


@pytest.fixture(scope="session")
def services():
    """The provisioned services by name; fails (never skips) when the host is not provisioned."""
    every = {s.name: s for s in load_services()}
    assert every, "no services in /etc/ecommerce-lab/services.d: provision with `sudo ./lab up`"
    return every


@pytest.fixture(scope="session")
def require(services):
    """require("kafka") asserts that the service answers its health check."""

    def _require(name: str):
        service = services[name]
        healthy, detail = health.check(service.health)
        assert healthy, f"{name} is not healthy ({detail}); start it with `lab start {name}`"
        return service

    return _require


@pytest.fixture
def unique():
    """A name no other test run uses."""
    return f"t{uuid.uuid4().hex[:12]}"


def run(*command: str, stdin: str | None = None, timeout: int = 120) -> str:
    """Run an upstream CLI tool; fail the test with its output when it exits non-zero."""
    result = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout
