"""Stack benchmarks, printed as a table.

    sudo lab-venv-python bench/bench_stack.py memory     # idle RSS of every daemon
    sudo ... bench/bench_stack.py restart                # `lab stop` -> all healthy after `lab start`
    sudo ... bench/bench_stack.py provision              # warm rerun of the playbook
    sudo ... bench/bench_stack.py provision --cold       # DESTRUCTIVE: wipes the lab, its data and the
                                                         # Maven/pip caches, then provisions from nothing

Bytes downloaded are read from the network interfaces' receive counters (/proc/net/dev).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from labctl import provision as provisioning
from labctl import supervisor
from labctl.services import load_services

app = typer.Typer(add_completion=False, no_args_is_help=True)
console = Console()

COLD_PATHS = [
    "/opt/ecommerce-lab", "/var/lib/hdfs", "/var/lib/zookeeper", "/var/lib/kafka", "/var/lib/spark",
    "/var/lib/ecommerce-lab", str(Path.home() / ".m2/repository"), str(Path.home() / ".cache/pip"),
    str(provisioning.ANSIBLE_VENV),
]


def received_bytes() -> int:
    """Bytes received on every non-loopback interface since boot."""
    total = 0
    for line in Path("/proc/net/dev").read_text().splitlines()[2:]:
        name, counters = line.split(":", 1)
        if name.strip() != "lo":
            total += int(counters.split()[0])
    return total


def rss_kib(pid: int) -> int:
    """Resident set size of a process and its descendants."""
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1])
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        total += rss_kib(int(child))
    return total


def lab(*args: str) -> float:
    started = time.monotonic()
    subprocess.run(["lab", *args], check=True, capture_output=True)
    return time.monotonic() - started


@app.command()
def memory(settle_s: int = typer.Option(30, help="Seconds to let the daemons idle first.")) -> None:
    """Idle resident memory of every daemon and the total (goal: <= 2.5 GB)."""
    time.sleep(settle_s)
    states = supervisor.states()
    table = Table(title=f"Idle RSS after {settle_s}s")
    table.add_column("service")
    table.add_column("pid", justify="right")
    table.add_column("RSS MiB", justify="right")
    total = 0
    for service in load_services():
        state = states.get(service.name)
        if not state or not state.pid:
            table.add_row(service.name, "-", "not running")
            continue
        kib = rss_kib(state.pid)
        total += kib
        table.add_row(service.name, str(state.pid), f"{kib / 1024:.0f}")
    table.add_row("[bold]total[/]", "", f"[bold]{total / 1024:.0f}[/] ({total / 1024 / 1024:.2f} GiB)")
    console.print(table)


@app.command()
def restart(rounds: int = typer.Option(1, help="How many stop/start rounds.")) -> None:
    """Time from `lab stop` to all services healthy after `lab start`."""
    table = Table(title="Restart")
    for column in ("round", "lab stop s", "lab start (to all healthy) s"):
        table.add_column(column, justify="right")
    for number in range(1, rounds + 1):
        table.add_row(str(number), f"{lab('stop'):.1f}", f"{lab('start'):.1f}")
    console.print(table)


@app.command()
def provision(cold: bool = typer.Option(False, help="Wipe the lab and the download caches first.")) -> None:
    """Provisioning time and bytes downloaded (cold: from nothing; warm: a rerun)."""
    if cold:
        lab("stop")
        subprocess.run(["supervisorctl", "shutdown"], check=False, capture_output=True)
        for path in COLD_PATHS:
            shutil.rmtree(path, ignore_errors=True)
    before, started = received_bytes(), time.monotonic()
    provisioning.provision(force=True)
    elapsed, downloaded = time.monotonic() - started, received_bytes() - before
    table = Table(title="Provisioning")
    for column in ("run", "seconds", "MiB received"):
        table.add_column(column, justify="right")
    table.add_row("cold" if cold else "warm", f"{elapsed:.0f}", f"{downloaded / 2**20:.0f}")
    console.print(table)


if __name__ == "__main__":
    app()
