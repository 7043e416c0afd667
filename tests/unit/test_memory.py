"""labctl.memory: the cgroup figures it reads and the advice `lab status` prints when memory is short."""

import os
import subprocess
import sys

import pytest

from labctl import memory
from labctl.memory import Cgroup

GIB = 2**30


def v1_group(tmp_path, limit: int, usage: int, inactive_file: int, oom_kills: int = 0) -> Cgroup:
    (tmp_path / "memory.limit_in_bytes").write_text(f"{limit}\n")
    (tmp_path / "memory.usage_in_bytes").write_text(f"{usage}\n")
    (tmp_path / "memory.stat").write_text(f"total_cache 300\ntotal_inactive_file {inactive_file}\ntotal_rss 5\n")
    (tmp_path / "memory.oom_control").write_text(f"oom_kill_disable 0\nunder_oom 0\noom_kill {oom_kills}\n")
    return Cgroup(tmp_path, v2=False)


def test_a_v1_cgroup_reports_its_limit_usage_and_oom_kills(tmp_path):
    group = v1_group(tmp_path, limit=4 * GIB, usage=GIB, inactive_file=100, oom_kills=2)
    assert (group.limit_bytes, group.usage_bytes, group.oom_kills) == (4 * GIB, GIB, 2)
    assert (group.page_cache_bytes(), group.reclaimable_bytes()) == (300, 100)


def test_an_unlimited_v1_cgroup_has_no_limit(tmp_path):
    assert v1_group(tmp_path, limit=9223372036854771712, usage=0, inactive_file=0).limit_bytes is None


def test_a_v2_cgroup_reads_memory_max_and_events(tmp_path):
    (tmp_path / "memory.max").write_text("max\n")
    (tmp_path / "memory.current").write_text("123\n")
    (tmp_path / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n")
    (tmp_path / "memory.stat").write_text("anon 10\nfile 20\ninactive_file 7\n")
    group = Cgroup(tmp_path, v2=True)
    assert (group.limit_bytes, group.usage_bytes, group.oom_kills, group.page_cache_bytes()) == (None, 123, 1, 20)
    (tmp_path / "memory.max").write_text(f"{GIB}\n")
    assert group.limit_bytes == GIB


def test_this_process_has_a_memory_cgroup_and_some_memory():
    group = Cgroup.of()
    assert group is not None and group.path.is_dir(), "the lab's hosts have a memory cgroup controller"
    assert memory.pss_kib(os.getpid()) > 1000
    assert memory.available_kib() > 0


def test_no_advice_while_a_spark_job_fits(monkeypatch):
    monkeypatch.setattr(memory, "available_kib", lambda: (memory.SPARK_JOB_MIB + 1) * 1024)
    assert memory.low_memory_advice(set()) == []


@pytest.fixture
def fake_spark_session(tmp_path):
    """A child process whose command line is a Spark session JVM's (a python renamed `java`)."""
    java = tmp_path / "java"
    java.symlink_to(sys.executable)
    process = subprocess.Popen([str(java), "-c", "import time; time.sleep(60)", "org.apache.spark.deploy.SparkSubmit"])
    yield process
    process.kill()
    process.wait()


def test_short_memory_names_the_demo_and_every_other_spark_session(monkeypatch, fake_spark_session):
    monkeypatch.setattr(memory, "available_kib", lambda: 300 * 1024)
    demo = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        advice = memory.low_memory_advice({demo.pid})
    finally:
        demo.kill()
        demo.wait()
    assert advice[0].startswith("Only 300 MiB of memory available"), advice
    assert any(line.strip().startswith("`lab demo stop`") for line in advice), advice
    # The fake session's owner is this test process.
    assert any(f"a Spark session in pid {os.getpid()}" in line and f"kill {os.getpid()}" in line
               for line in advice), advice
    assert "LAB_VM_MEMORY" in advice[-1]
