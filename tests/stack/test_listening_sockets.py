"""Every TCP socket that the lab's processes (supervisor's programs and their children) listen on is bound to
loopback and documented in README.md's Services table; every port documented for a running service listens."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
from pathlib import Path

import pytest

from labctl import memory, supervisor

pytestmark = pytest.mark.stack

README = Path(__file__).resolve().parents[2] / "README.md"


def ephemeral_ports() -> range:
    """The ports the kernel hands out to a socket bound to port 0."""
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    return range(low, high + 1)


def documented() -> dict[str, tuple[set[int], bool]]:
    """README's Services table: per service, its ports (``A–B`` a range) and whether it also has ephemeral ones."""
    section = README.read_text(encoding="utf-8").split("\n## Services\n", 1)[1].split("\n## ", 1)[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in section.splitlines()
            if line.startswith("|") and not line.startswith("|---")]
    column = next(i for i, title in enumerate(rows[0]) if title.startswith("ports"))
    services = {}
    for row in rows[1:]:
        cell = row[column]
        ports = {port for low, high in re.findall(r"\b(\d{4,5})(?:–(\d{4,5}))?\b", cell)
                 for port in range(int(low), int(high or low) + 1)}
        for name in row[0].split(", "):
            services[name] = (ports, "ephemeral" in cell)
    return services


def listening() -> list[tuple[str, int, int]]:
    """(address, port, pid) of every listening TCP socket on the host (``ss -ltnpH``)."""
    output = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    sockets = []
    for line in output.splitlines():
        address, port = line.split()[3].rsplit(":", 1)
        address = "::" if address == "*" else address.strip("[]").split("%")[0]  # ss writes the any-address *
        for pid in re.findall(r"pid=(\d+)", line):
            sockets.append((address, int(port), int(pid)))
    return sockets


def loopback(address: str) -> bool:
    """Is it a loopback address? An IPv4 one mapped into IPv6 (a JVM's ::ffff:127.0.0.1) counts as the IPv4 one."""
    ip = ipaddress.ip_address(address)
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback


@pytest.mark.skipif(os.geteuid() != 0, reason="ss names the processes of another account (bigdata) to root only")
def test_the_labs_processes_listen_on_loopback_and_on_documented_ports_only(services):
    programs = {state.pid: name for name, state in supervisor.states().items() if state.pid}
    assert programs, "supervisor runs no program: start the stack with `sudo lab up`"
    parent = memory.parents()
    ports = documented()
    assert set(services) <= set(ports), f"README's Services table lacks {sorted(set(services) - set(ports))}"
    ephemeral_range = ephemeral_ports()
    found: dict[str, set[int]] = {}
    wrong = []
    for address, port, pid in listening():
        root = memory.root_of(pid, programs, parent)
        if root is None:
            continue
        name = programs[root]
        found.setdefault(name, set()).add(port)
        known, ephemeral = ports[name]
        if not loopback(address):
            wrong.append(f"{name} (pid {pid}) listens on {address}:{port}, not on loopback")
        if port not in known and not (ephemeral and port in ephemeral_range):
            wrong.append(f"{name} (pid {pid}) listens on port {port}, which README.md does not document for it")
    assert not wrong, "\n".join(wrong)
    core = {name for name, service in services.items() if not service.demo and name in found}
    assert core == {name for name, service in services.items() if not service.demo}, (
        f"no listening socket found for {sorted(set(services) - core)}: are they running?")
    for name in core:
        known, _ = ports[name]
        assert known <= found[name], f"README.md documents {sorted(known - found[name])} for {name}, which does not " \
                                     f"listen on them (it listens on {sorted(found[name])})"
