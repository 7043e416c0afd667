"""The whole pipeline in order: produce, ingest (HBase sink + HDFS landing) until caught up,
drain the real-time job, clean, analyze. Used by `lab pipeline run` and the demo."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pyspark.sql import SparkSession

from pipeline import analyze, clean, hbase_sink, landing, lag, outage, produce, realtime, seams, topics
from pipeline import spark as spark_session
from pipeline.settings import Settings

CATCH_UP_TIMEOUT_S = 1800


@dataclass
class RunReport:
    produced: produce.ProduceStats
    summary: dict


# What stops a consumer stage for a reason its message explains (no traceback needed): records the topic
# no longer holds, and a service that stayed away.
STAGE_STOPS = (topics.RecordsExpired, landing.OffsetGap, outage.ServiceAway)


def _exit_with_parent() -> None:
    """SIGTERM to this process (a graceful stop) once its parent is gone: a killed `lab pipeline ingest` must
    not leave its consumers running, polling for ever."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()


def _consume(stage: str, settings: Settings, idle_timeout_s: float | None) -> None:
    """Child process body: one consumer stage until SIGTERM (then it flushes and commits) or idle; STAGE_STOPS,
    and a student's unfinished lab code, end it with one line instead of a traceback."""
    _exit_with_parent()
    try:
        {"hbase-sink": hbase_sink.run, "landing": landing.run}[stage](settings, idle_timeout_s=idle_timeout_s)
    except STAGE_STOPS as error:
        sys.exit(f"{stage}: {error}")
    except Exception as error:
        message = seams.unfinished(error)
        if message is None:
            raise
        sys.exit(f"{stage}: {message}")


class Consumers:
    """The two consumer groups as child processes (`hbase_sink.WORKERS` for the sink, one for landing),
    stopped gracefully with SIGTERM.

    idle_timeout_s: each stops by itself once no record arrived for this many seconds (None: never).
    """

    def __init__(self, settings: Settings, idle_timeout_s: float | None = None,
                 sink_workers: int = hbase_sink.WORKERS):
        context = multiprocessing.get_context("spawn")
        stages = [("hbase-sink", f"hbase-sink-{number}") for number in range(1, sink_workers + 1)]
        self.processes = [context.Process(target=_consume, args=(stage, settings, idle_timeout_s), name=name,
                                          daemon=True)
                          for stage, name in [*stages, ("landing", "landing")]]

    def __enter__(self) -> Consumers:
        for process in self.processes:
            process.start()
        return self

    def wait(self) -> str | None:
        """Until every consumer has ended, or one failed: then "its name (exit code N)" (the others are
        stopped on leaving the ``with`` block)."""
        running = {process.sentinel: process for process in self.processes}
        while running:
            for sentinel in multiprocessing.connection.wait(list(running)):
                process = running.pop(sentinel)
                process.join()
                if process.exitcode:
                    return f"{process.name} (exit code {process.exitcode})"
        return None

    def check(self) -> None:
        for process in self.processes:
            if not process.is_alive():
                raise RuntimeError(f"the {process.name} consumer exited with code {process.exitcode}")

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        for process in self.processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()


def run(settings: Settings, csv_path: str | os.PathLike, summary_out: Path | None = None,
        step: Callable[[str], None] = lambda message: None, progress: bool = True,
        watermark_delay: str = realtime.WATERMARK_DELAY, spark: SparkSession | None = None,
        phases: spark_session.Phases | None = None) -> RunReport:
    """Push one CSV file through every stage; returns the producer's stats and the summary.

    spark: the session of the Spark stages (real-time, clean, analyze); without it one session
    serves them all. ``phases`` receives the seconds of each phase of the clean and analyze stages."""
    topics.ensure_topics(settings)
    with Consumers(settings) as consumers:
        step(f"producing {csv_path} into {settings.raw_topic}")
        produced = produce.produce(settings, csv_path, progress=progress, processes=produce.DEFAULT_PROCESSES)
        step("waiting for the HBase sink and the HDFS landing to catch up")

        def poll(lags: dict) -> None:
            consumers.check()
            step("lag " + ", ".join(f"{group}: {n}" for group, n in lags.items()))

        lag.wait_caught_up(settings, [settings.hbase_sink_group, settings.landing_group],
                           CATCH_UP_TIMEOUT_S, on_poll=poll)
    own_session = spark is None
    session = spark or spark_session.session(settings, "run", event_log=False,
                                             input_bytes=Path(csv_path).stat().st_size)
    try:
        step("draining the raw topic into the real-time aggregates")
        realtime.run(settings, available_now=True, watermark_delay=watermark_delay, spark=session)
        step("cleaning the raw zone")
        clean.run(settings, spark=session, phases=phases)
        step("running the analytics")
        summary = analyze.run(settings, summary_out=summary_out, spark=session, phases=phases)
    finally:
        if own_session:
            session.stop()
    return RunReport(produced, summary)
