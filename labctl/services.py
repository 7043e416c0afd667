"""The stack's services, as the Ansible roles describe them in /etc/ecommerce-lab/services.d."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

SERVICES_DIR = Path(os.environ.get("LAB_SERVICES_DIR", "/etc/ecommerce-lab/services.d"))


@dataclass(frozen=True)
class Service:
    """One daemon: its supervisor program, start position, ports, log, web UI and health check."""

    name: str
    component: str
    order: int
    log: str
    health: dict
    user: str
    ports: list[int] = field(default_factory=list)
    ui: str = ""
    hdfs_dirs: list[dict] = field(default_factory=list)
    start_timeout: int = 120
    demo: bool = False


class UnknownService(LookupError):
    """A service name that the provisioned stack does not have."""


def load_services(directory: Path = SERVICES_DIR) -> list[Service]:
    """All services, in start order. Empty when the host is not provisioned yet."""
    services = []
    for path in sorted(directory.glob("*.yml")):
        data = yaml.safe_load(path.read_text()) or {}
        services.append(Service(**data))
    return sorted(services, key=lambda s: (s.order, s.name))


def select(services: list[Service], name: str | None) -> list[Service]:
    """The named service (or all of them when name is None)."""
    if name is None:
        return services
    chosen = [s for s in services if s.name == name]
    if not chosen:
        known = ", ".join(s.name for s in services) or "none (run `sudo lab up` first)"
        raise UnknownService(f"unknown service {name!r}; known services: {known}")
    return chosen
