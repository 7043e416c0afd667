"""Memory as the lab sees it: a process's proportional share, the memory cgroup it runs in (the VM's
limit, or a bench's stand-in for it) and how much is still available."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# What one more Spark job of lab size needs (`lab pipeline clean`, a Spark lab's `lab check`): its
# JVM and Python process, measured by bench/bench_memory.py, with room for the page cache.
SPARK_JOB_MIB = 800
CGROUP_ROOT = Path("/sys/fs/cgroup")
UNLIMITED = 2**62  # cgroup v1 reports "no limit" as a number near 2**63


def pss_kib(pid: int) -> int:
    """Proportional set size: the process's resident pages, shared ones divided among their users
    (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def parents() -> dict[int, int]:
    """The parent pid of every process on the host."""
    result = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                result[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return result


def root_of(pid: int, roots: set[int] | dict[int, object], parent: dict[int, int]) -> int | None:
    """The root that is the process itself or its nearest ancestor (None when it descends from none)."""
    while pid > 1 and pid not in roots:
        pid = parent.get(pid, 0)
    return pid if pid in roots else None


def descends_from(pid: int, roots: set[int], parent: dict[int, int]) -> bool:
    """Is the process one of the roots or a descendant of one?"""
    return root_of(pid, roots, parent) is not None


def tree_kib(roots: set[int], parent: dict[int, int]) -> int:
    """PSS of the roots and of all their descendants."""
    return sum(pss_kib(pid) for pid in parent if descends_from(pid, roots, parent))


def spark_sessions(parent: dict[int, int]) -> list[tuple[int, int]]:
    """(pid of the program that started it, PSS in KiB) of every Spark session JVM (pyspark, spark-submit)
    on the host, the program and its JVM together."""
    sessions = []
    for pid in parent:
        try:
            arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if arguments[0].endswith(b"java") and b"org.apache.spark.deploy.SparkSubmit" in arguments:
            owner = parent.get(pid, 0)
            sessions.append((owner, pss_kib(pid) + pss_kib(owner)))
    return sessions


def meminfo_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


@dataclass(frozen=True)
class Cgroup:
    """A memory cgroup directory of cgroup v1 (`memory.limit_in_bytes`) or v2 (`memory.max`)."""

    path: Path
    v2: bool

    @classmethod
    def of(cls, pid: int | str = "self") -> Cgroup | None:
        """The memory cgroup a process is in (None when the host has no memory controller)."""
        try:
            lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            _, controllers, relative = line.split(":", 2)
            if "memory" in controllers.split(",") and (CGROUP_ROOT / "memory").is_dir():
                return cls(CGROUP_ROOT / "memory" / relative.lstrip("/"), v2=False)
        for line in lines:
            _, controllers, relative = line.split(":", 2)
            if controllers == "" and (CGROUP_ROOT / "cgroup.controllers").is_file():
                return cls(CGROUP_ROOT / relative.lstrip("/"), v2=True)
        return None

    def _read(self, name: str) -> str:
        return (self.path / name).read_text()

    def _write(self, name: str, value: str) -> None:
        (self.path / name).write_text(value)

    def child(self, name: str, limit_bytes: int) -> Cgroup:
        """A new cgroup inside this one, limited to limit_bytes (root only)."""
        if self.v2:
            # Children get the memory controller only when their parent hands it down.
            controllers = self._read("cgroup.subtree_control").split()
            if "memory" not in controllers:
                self._write("cgroup.subtree_control", "+memory")
        child = Cgroup(self.path / name, self.v2)
        child.path.mkdir(exist_ok=True)
        child._write("memory.max" if self.v2 else "memory.limit_in_bytes", str(limit_bytes))
        return child

    def join(self, pid: int = 0) -> None:
        """Move a process (0: the calling one) into this cgroup; its children are born in it."""
        self._write("cgroup.procs", str(pid or os.getpid()))

    def pids(self) -> list[int]:
        return [int(pid) for pid in self._read("cgroup.procs").split()]

    def remove(self) -> None:
        self.path.rmdir()

    @property
    def limit_bytes(self) -> int | None:
        value = self._read("memory.max" if self.v2 else "memory.limit_in_bytes").strip()
        return None if value == "max" or int(value) >= UNLIMITED else int(value)

    @property
    def usage_bytes(self) -> int:
        return int(self._read("memory.current" if self.v2 else "memory.usage_in_bytes"))

    @property
    def peak_bytes(self) -> int | None:
        """The highest usage so far, page cache included (None where the kernel does not keep it)."""
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        return int(self._read(name)) if (self.path / name).exists() else None

    def stat(self) -> dict[str, int]:
        pairs = (line.split() for line in self._read("memory.stat").splitlines())
        return {key: int(value) for key, value in pairs}

    def page_cache_bytes(self) -> int:
        stat = self.stat()
        return stat["file"] if self.v2 else stat["total_cache"]

    def reclaimable_bytes(self) -> int:
        """Page cache the kernel can drop before it has to kill (the inactive file pages)."""
        stat = self.stat()
        return stat["inactive_file"] if self.v2 else stat["total_inactive_file"]

    @property
    def oom_kills(self) -> int:
        """Processes the kernel killed because this cgroup ran out of memory."""
        name = "memory.events" if self.v2 else "memory.oom_control"
        for line in self._read(name).splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0


def available_kib() -> int | None:
    """Memory that new processes can still get: the host's MemAvailable, or less when this process's
    cgroup has a lower limit (a VM's systemd slice, a container, a bench's stand-in for the VM)."""
    available = meminfo_kib("MemAvailable")
    group = Cgroup.of()
    try:
        limit = group.limit_bytes if group else None
        if limit is not None:
            free_in_group = (limit - group.usage_bytes + group.reclaimable_bytes()) // 1024
            available = free_in_group if available is None else min(available, free_in_group)
    except (OSError, ValueError, KeyError):
        pass
    return available


def low_memory_advice(demo_pids: set[int]) -> list[str]:
    """When less than SPARK_JOB_MIB is available: what says so and what to stop, one line each
    (empty when there is enough)."""
    available = available_kib()
    if available is None or available >= SPARK_JOB_MIB * 1024:
        return []
    parent = parents()
    lines = [f"Only {available // 1024} MiB of memory available; a Spark job (`lab pipeline clean`, a Spark "
             f"lab's `lab check`) needs about {SPARK_JOB_MIB} MiB. To free memory:"]
    if demo_pids:
        lines.append(f"  `lab demo stop` stops the demo's ingest, stream and producer: "
                     f"{tree_kib(demo_pids, parent) // 1024} MiB")
    for owner, kib in spark_sessions(parent):
        if not descends_from(owner, demo_pids, parent):
            try:
                program = Path(f"/proc/{owner}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                program = "?"
            lines.append(f"  a Spark session in pid {owner} ({program[:70]}): {kib // 1024} MiB; "
                         f"spark.stop() in it, Ctrl-C, or kill {owner}")
    lines.append("  or give the VM more memory: LAB_VM_MEMORY=6144 vagrant reload")
    return lines
