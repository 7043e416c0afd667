"""Crash safety: SIGKILLed consumers and a restarted broker neither lose nor double a record."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient

import datasets
from labctl import health
from pipeline import produce, topics
from pipeline.readback import hbase_row_count, raw_zone, topic_records

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EVENTS = 200_000
# stage module -> (its consumer group's settings attribute, run() arguments); landing files every 20,000
# records so that kills fall between many renames.
STAGES = {"hbase_sink": ("hbase_sink_group", ""), "landing": ("landing_group", ", flush_records=20_000")}


def start(lab, stage: str, log) -> subprocess.Popen:
    arguments = STAGES[stage][1]
    code = f"from pipeline import settings, {stage}; {stage}.run(settings.load(namespace={lab.namespace!r}){arguments})"
    return subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT)


def tail(path: str, lines: int = 40) -> str:
    """The end of the stages' log, for a failure message (CI keeps no temp files)."""
    return "\n".join(open(path, errors="replace").read().splitlines()[-lines:])


class Progress:
    """Records a consumer group has committed on the raw topic (its offsets summed over the partitions)."""

    def __init__(self, lab) -> None:
        self.lab = lab
        self.admin = KafkaAdminClient(bootstrap_servers=lab.kafka_bootstrap)

    def __call__(self, group_attribute: str) -> int:
        group = getattr(self.lab, group_attribute)
        partitions = [TopicPartition(self.lab.raw_topic, p) for p in range(3)]
        offsets = self.admin.list_group_offsets({group: partitions}).get(group, {})
        return sum(max(o.offset, 0) for o in offsets.values())


def catch_up(running, committed, log, timeout_s: float = 180) -> None:
    """Wait until every stage has committed the whole input, failing early if one exits."""
    deadline = time.monotonic() + timeout_s
    while behind := {stage: count for stage, (group, _) in STAGES.items() if (count := committed(group)) < EVENTS}:
        exited = {stage: process.returncode for stage, process in running.items() if process.poll() is not None}
        assert not exited and time.monotonic() < deadline, \
            f"not caught up: committed {behind}, exited {exited}\n{tail(log.name)}"
        time.sleep(0.5)


def test_sigkilled_consumers_lose_and_double_nothing(namespace, tmp_path):
    manifest = datasets.generate(tmp_path / "events.csv", rows=EVENTS, seed=2024)
    produce.produce(namespace, tmp_path / "events.csv", progress=False)
    rng = random.Random()
    committed = Progress(namespace)
    log = (tmp_path / "stages.log").open("wb")
    running = {stage: start(namespace, stage, log) for stage in STAGES}
    # Each stage is killed 3 times, at random points of its progress: a random time (under 0.25 s: landing
    # writes about 60,000 records a second, so a later kill could come after its last commit) after a
    # random share of the input (in the first, second and third quarter) has been committed.
    targets = {stage: [EVENTS * rng.uniform(k / 4, (k + 1) / 4) for k in range(3)] for stage in STAGES}
    kill_at: dict[str, float] = {}
    deadline = time.monotonic() + 240
    while any(targets.values()):
        assert time.monotonic() < deadline, f"the kills did not happen in time\n{tail(log.name)}"
        for stage, (group, _) in STAGES.items():
            if not targets[stage]:
                continue
            assert running[stage].poll() is None, f"{stage} exited\n{tail(log.name)}"
            progress = committed(group)
            if stage not in kill_at and progress >= targets[stage][0]:
                kill_at[stage] = time.monotonic() + rng.uniform(0, 0.25)
            if stage in kill_at and time.monotonic() >= kill_at[stage]:
                del kill_at[stage]
                running[stage].send_signal(signal.SIGKILL)
                running[stage].wait()
                assert committed(group) < EVENTS, f"{stage} finished before a kill"
                targets[stage].pop(0)
                running[stage] = start(namespace, stage, log)
        time.sleep(0.1)
    catch_up(running, committed, log)
    stop_and_check(namespace, manifest, running, committed, log)


def stop_and_check(namespace, manifest, running, committed, log) -> None:
    """Stop the caught-up stages gracefully; HBase and the raw zone hold each record exactly once."""
    for process in running.values():
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, tail(log.name)
    committed.admin.close()
    assert hbase_row_count(namespace) == manifest.expected["clean_events"]
    names, landed = raw_zone(namespace)
    assert len(landed) == EVENTS
    assert len({(r["partition"], r["offset"]) for r in landed}) == EVENTS
    assert sorted(r["line"] for r in landed) == list(range(2, EVENTS + 2))
    assert not [n for n in names if n.split("/")[1].startswith((".", "_"))]


def test_consumers_stalled_past_their_session_carry_on(namespace, tmp_path):
    """A stage paused longer than its group session (a busy machine) is evicted; once resumed, its
    commit is refused or it rejoins, and it carries on without losing or doubling a record."""
    manifest = datasets.generate(tmp_path / "events.csv", rows=EVENTS, seed=2026)
    produce.produce(namespace, tmp_path / "events.csv", progress=False)
    committed = Progress(namespace)
    log = (tmp_path / "stages.log").open("wb")
    running = {stage: start(namespace, stage, log) for stage in STAGES}
    stalled = set()
    deadline = time.monotonic() + 120
    while len(stalled) < len(STAGES):  # each stage is paused once it has committed a quarter of the input
        assert time.monotonic() < deadline, f"the stages made no progress\n{tail(log.name)}"
        for stage, (group, _) in STAGES.items():
            if stage not in stalled and committed(group) >= EVENTS / 4:
                running[stage].send_signal(signal.SIGSTOP)
                stalled.add(stage)
                assert committed(group) < EVENTS, f"{stage} finished before the stall"
        time.sleep(0.1)
    time.sleep(topics.SESSION_TIMEOUT_MS / 1000 + 5)
    for process in running.values():
        process.send_signal(signal.SIGCONT)
    catch_up(running, committed, log)
    stop_and_check(namespace, manifest, running, committed, log)


def wait_healthy(service, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not health.check(service.health)[0]:
        assert time.monotonic() < deadline, "kafka did not come back"
        time.sleep(1)


def test_broker_restart_during_produce_loses_nothing(namespace, services, tmp_path):
    datasets.generate(tmp_path / "events.csv", rows=EVENTS, seed=2025)
    with ThreadPoolExecutor(1) as pool:  # about 20 s of producing, the broker restarted 5 s in
        produced = pool.submit(produce.produce, namespace, tmp_path / "events.csv", rate=EVENTS / 20,
                               progress=False)
        time.sleep(5)
        subprocess.run(["supervisorctl", "restart", "kafka"], check=True, capture_output=True, timeout=120)
        wait_healthy(services["kafka"])
        assert produced.result(timeout=240).records == EVENTS
    lines = [int(dict(r.headers)["line"]) for r in topic_records(namespace, namespace.raw_topic)]
    assert sorted(lines) == list(range(2, EVENTS + 2))


def consumer_children(pid: int) -> list[int]:
    """The multiprocessing workers a process started (not its resource tracker)."""
    workers = []
    for child in open(f"/proc/{pid}/task/{pid}/children").read().split():
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
            workers.append(int(child))
    return workers


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False


def test_ingest_exits_non_zero_at_once_when_one_consumer_dies(namespace, tmp_path):
    """`lab pipeline ingest` with a SIGKILLed consumer child: the command stops the others and exits 1
    (supervisor then restarts the demo's ingest) instead of running on without it."""
    log = tmp_path / "ingest.log"
    with log.open("w") as output:
        ingest = subprocess.Popen(["lab", "pipeline", "--namespace", namespace.namespace, "ingest",
                                   "--sink-workers", "2"], stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while len(consumer_children(ingest.pid)) < 3 or "consuming" not in log.read_text():
            assert ingest.poll() is None and time.monotonic() < deadline, tail(str(log))
            time.sleep(0.2)
        consumers = consumer_children(ingest.pid)
        killed_at = time.monotonic()
        os.kill(consumers[-1], signal.SIGKILL)
        assert ingest.wait(timeout=60) == 1, tail(str(log))
        assert time.monotonic() - killed_at < 30, "ingest noticed the dead consumer late"
        assert "consumer failed" in log.read_text() and "exit code -9" in log.read_text(), tail(str(log))
        assert not any(alive(pid) for pid in consumers), "a consumer outlived the command"
    finally:
        if ingest.poll() is None:
            ingest.kill()
