"""The 4 GiB VM under real use, in a memory cgroup that stands for it; peak memory printed as a table.

    sudo lab-venv-python bench/bench_memory.py                          # the issue's workload
    sudo lab-venv-python bench/bench_memory.py --rows 10000 --check-lab 01 --report out.json   # shorter

The stack moves into a new memory cgroup inside the caller's own (cgroup v1 `memory.limit_in_bytes`,
or v2 `memory.max`), limited to ``--limit-gib``: supervisord is restarted in it, so every daemon and
the demo (ingest consumers, real-time job, producer at its 20 events/s) are charged there. After
``--settle`` seconds, a student's work starts in the same cgroup, both at once: `lab pipeline run` of a
generated ``--rows`` dataset in its own namespace, and `lab check <lab> --reference` (a Spark lab by
default). Every ``--interval`` seconds the proportional set size (PSS: shared pages divided among
their users; page cache that no process maps is not counted) of every process in the cgroup is summed
per group: daemons (supervisord and the stack's programs), demo (the demo's programs), student jobs
(everything else). Goal: no OOM kill, no program restarted, both jobs succeed, peak ≤ ``--goal-gib``.

Afterwards supervisord is moved back (restarted outside the cgroup, with the services and the demo as
they were), the namespace is dropped and the cgroup removed. Exit code 1 when a goal is missed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from labctl import supervisor
from labctl.memory import Cgroup, parents, pss_kib, root_of
from labctl.services import load_services
from pipeline import settings as lab_settings
from pipeline import topics

GIB = 2**30
NAMESPACE = "membench"
GROUPS = ("daemons", "demo", "student jobs")

app = typer.Typer(add_completion=False)
console = Console(width=130)


def main_class(java_arguments: list[str]) -> str:
    """The first argument that is neither an option nor the class path after -cp."""
    after_class_path = False
    for word in java_arguments:
        if not after_class_path and not word.startswith("-"):
            return word
        after_class_path = word in ("-cp", "-classpath")
    return "?"


def command(pid: int) -> str:
    """A process's command line, shortened to what tells it apart (a Java main class, a lab command)."""
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return "(gone)"
    words = [w for w in words if w]
    if words and words[0].endswith("java"):
        main = main_class(words[1:])
        return "java " + ("Spark session (pyspark)" if main.endswith("SparkSubmit") else main.rsplit(".", 1)[-1])
    if len(words) > 1 and words[1].endswith("/lab"):
        return "lab " + " ".join(w for w in words[2:] if not w.startswith("/"))[:60]
    return " ".join(words)[:60]


@dataclass(eq=False)
class Sampler(threading.Thread):
    """Sums the cgroup's processes' PSS per group every interval_s; keeps each group's and the total's peak."""

    group: Cgroup
    interval_s: float
    peaks: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GROUPS, 0))
    peak_total: int = 0
    peak_anon: int = 0
    samples: int = 0

    def __post_init__(self):
        super().__init__(daemon=True)
        self.stopped = threading.Event()
        programs = {s.name: ("demo" if s.demo else "daemons") for s in load_services()}
        # The programs' pids, read once: a program that restarts fails the bench anyway.
        self.owners = {state.pid: programs.get(name, "daemons")
                       for name, state in supervisor.states().items() if state.pid}
        self.owners[supervisor.pid() or 0] = "daemons"
        self.peak_processes: list[tuple[int, str, str]] = []

    def sample(self) -> tuple[dict[str, int], list[tuple[int, str, str]]]:
        """Each group's PSS, and (PSS, group, command) of every process."""
        parent = parents()
        totals = dict.fromkeys(GROUPS, 0)
        processes = []
        for pid in self.group.pids():
            owner = root_of(pid, self.owners, parent)
            kind = "student jobs" if owner is None else self.owners[owner]
            pss = pss_kib(pid) * 1024
            totals[kind] += pss
            processes.append((pss, kind, pid))
        return totals, processes

    def run(self) -> None:
        while not self.stopped.wait(self.interval_s):
            totals, processes = self.sample()
            for kind, value in totals.items():
                self.peaks[kind] = max(self.peaks[kind], value)
            if sum(totals.values()) > self.peak_total:
                self.peak_processes = [(pss, kind, command(pid)) for pss, kind, pid in processes]
            self.peak_total = max(self.peak_total, sum(totals.values()))
            self.peak_anon = max(self.peak_anon, self.group.usage_bytes - self.group.page_cache_bytes())
            self.samples += 1

    def stop(self) -> None:
        self.stopped.set()
        self.join()


def lab(*arguments: str, group: Cgroup | None = None, log: Path | None = None) -> subprocess.Popen:
    """A `lab` command started in the cgroup (when given), its output to log (when given)."""
    output = log.open("w") if log else subprocess.DEVNULL
    return subprocess.Popen(["lab", *arguments], stdout=output, stderr=subprocess.STDOUT,
                            preexec_fn=(lambda: group.join()) if group else None)


def checked(process: subprocess.Popen, what: str, log: Path | None = None) -> None:
    if process.wait() != 0:
        tail = log.read_text()[-3000:] if log else ""
        raise SystemExit(f"{what} exited {process.returncode}\n{tail}")


def move_supervisord(group: Cgroup | None, demo_running: bool) -> None:
    """Restart supervisord (and the services, and the demo when it ran) in the cgroup, or outside it (None)."""
    checked(lab("stop"), "lab stop")
    subprocess.run(["supervisorctl", "-c", supervisor.CONFIG, "shutdown"], capture_output=True, check=False)
    while supervisor.is_running():
        time.sleep(0.5)
    if group is None:
        supervisor.ensure_running()
    else:
        subprocess.run(["supervisord", "-c", supervisor.CONFIG], check=True, preexec_fn=group.join)
    checked(lab("start", group=group), "lab start")
    if demo_running:
        checked(lab("demo", "start", group=group), "lab demo start")


def restarts(before: dict[str, int], after: dict) -> list[str]:
    """Programs whose process changed or that are no longer running."""
    return [name for name, pid in before.items()
            if name not in after or after[name].pid != pid or after[name].state != "RUNNING"]


@app.command()
def main(
    limit_gib: Annotated[float, typer.Option(help="The cgroup's memory limit (the VM's memory).")] = 4.0,
    goal_gib: Annotated[float, typer.Option(help="Peak PSS goal.")] = 3.6,
    rows: Annotated[int, typer.Option(help="Rows of the dataset the student's `lab pipeline run` processes.")] = 100_000,
    check_lab: Annotated[str, typer.Option(help="The lab whose reference `lab check` runs beside it.")] = "05",
    settle: Annotated[float, typer.Option(help="Seconds the demo runs before the student's work starts.")] = 30,
    interval: Annotated[float, typer.Option(help="Seconds between samples.")] = 1.0,
    report: Annotated[Path | None, typer.Option(help="Also write the figures as JSON here.")] = None,
    top: Annotated[int, typer.Option(help="List this many of the largest processes at the peak.")] = 15,
) -> None:
    if os.geteuid() != 0:
        raise SystemExit("run it as root: it creates a memory cgroup and restarts supervisord")
    home = Cgroup.of()
    if home is None:
        raise SystemExit("this host has no memory cgroup controller")
    states = supervisor.states()
    demo_was_running = any(s.demo and s.name in states and states[s.name].state == "RUNNING"
                           for s in load_services())
    limit = int(limit_gib * GIB)
    group = home.child("ecommerce-lab-bench", limit)
    oom_before = group.oom_kills
    work = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    dataset = work / "events.csv"
    subprocess.run(["lab", "data", "generate", "--rows", str(rows), "--seed", "16", "--out", str(dataset)],
                   check=True, capture_output=True)
    topics.drop_namespace(lab_settings.load(namespace=NAMESPACE))
    console.print(f"moving the stack into {group.path} (limit {limit_gib:g} GiB) and starting the demo")
    move_supervisord(group, demo_running=True)
    try:
        time.sleep(settle)
        before = {name: state.pid for name, state in supervisor.states().items()}
        sampler = Sampler(group, interval)
        sampler.start()
        started = time.monotonic()
        logs = {"run": work / "run.log", "check": work / "check.log"}
        jobs = {"run": lab("pipeline", "--namespace", NAMESPACE, "run", "--input", str(dataset),
                           "--summary-out", str(work / "summary.json"), group=group, log=logs["run"]),
                "check": lab("check", check_lab, "--reference", group=group, log=logs["check"])}
        seconds = {}
        while len(seconds) < len(jobs):
            for name, process in jobs.items():
                if name not in seconds and process.poll() is not None:
                    seconds[name] = time.monotonic() - started
            time.sleep(0.2)
        time.sleep(interval * 2)
        sampler.stop()
        restarted = restarts(before, supervisor.states())
        oom_kills = group.oom_kills - oom_before
        peak_with_cache = group.peak_bytes
    finally:
        move_supervisord(None, demo_running=demo_was_running)
        topics.drop_namespace(lab_settings.load(namespace=NAMESPACE))
        while group.pids():
            time.sleep(0.5)
        group.remove()

    failed = {name: logs[name].read_text()[-1500:] for name, process in jobs.items() if process.returncode != 0}
    figures = {
        "limit_gib": limit_gib, "rows": rows, "check_lab": check_lab, "samples": sampler.samples,
        "peak_gib": {kind: value / GIB for kind, value in sampler.peaks.items()},
        "peak_total_gib": sampler.peak_total / GIB, "peak_anon_gib": sampler.peak_anon / GIB,
        "peak_with_page_cache_gib": peak_with_cache / GIB if peak_with_cache else None,
        "oom_kills": oom_kills, "restarted": restarted, "failed_jobs": sorted(failed),
        "job_seconds": seconds,
    }
    table = Table(title=f"Memory in a {limit_gib:g} GiB cgroup: stack + demo + `lab pipeline run` of {rows:,} "
                        f"rows + `lab check {check_lab}` ({sampler.samples} samples, every {interval:g} s)")
    table.add_column("what")
    table.add_column("peak", justify="right")
    for kind in GROUPS:
        table.add_row(f"{kind} (PSS)", f"{figures['peak_gib'][kind]:.2f} GiB")
    met = sampler.peak_total <= goal_gib * GIB
    table.add_row("[bold]all processes (PSS)[/]", f"[bold]{figures['peak_total_gib']:.2f} GiB[/] "
                  f"(goal ≤ {goal_gib:g}: {'met' if met else 'NOT met'})")
    table.add_row("cgroup, page cache excluded", f"{figures['peak_anon_gib']:.2f} GiB")
    if peak_with_cache:
        table.add_row("cgroup, page cache included", f"{figures['peak_with_page_cache_gib']:.2f} GiB")
    table.add_row("OOM kills", str(oom_kills))
    table.add_row("programs restarted", ", ".join(restarted) or "none")
    for name, value in seconds.items():
        table.add_row(f"{name} job", f"{value:.0f} s, {'FAILED' if name in failed else 'ok'}")
    console.print(table)
    if top:
        biggest = Table(title=f"The {top} largest processes of the peak sample")
        for column in ("PSS MiB", "group", "process"):
            biggest.add_column(column)
        for pss, kind, name in sorted(sampler.peak_processes, reverse=True)[:top]:
            biggest.add_row(f"{pss / 2**20:.0f}", kind, name)
        console.print(biggest)
    for name, tail in failed.items():
        console.print(f"[red]{name} failed; the end of its output:[/]\n{tail}")
    if report:
        report.write_text(json.dumps(figures, indent=2))
    if not met or oom_kills or restarted or failed:
        sys.exit(1)


if __name__ == "__main__":
    app()
