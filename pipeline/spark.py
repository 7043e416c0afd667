"""The SparkSession every Spark stage uses: the lab's spark-defaults, UTC, the given master.

Lab-size jobs run in one local JVM (``local[*]``: no executor to launch); the standalone
cluster serves what needs it (``--spark-master spark://...``, ``spark-submit``, its UIs).
Most of a short job's time is the JVM starting cold, so a session starts with:

* the classes Spark loads mapped from a class data sharing archive (``class-archive``
  below, written by the playbook). The JVM refuses an archive when a non-empty directory
  is on the class path, so the session's SPARK_CONF_DIR is an empty directory: spark-env.sh
  is sourced here, spark-defaults.conf is passed with ``--properties-file``, log4j2's file
  by name, and Spark's Hadoop client settings are ``spark.hadoop.*`` keys;
* no bytecode verification of Spark's own jars, and the C1 compiler only unless the input is
  large. A job of seconds gains by C1's quick compiles (the sample's clean and analyze: 18 s
  with C1, 25 s with C2 as well); a long stream does too (with C2, the demo's stream spent
  about 0.4 of a core compiling for minutes on end: Spark plans every micro-batch anew); a
  job over 1 M events needs C2's code (its contract ran 2x slower with C1 alone).

    python -m pipeline.spark class-archive PATH    # (re)writes PATH unless the JVM accepts it
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pyspark.sql import SparkSession

from pipeline.settings import Settings, load

SPARK_CONF_DIR = "/etc/spark"
# JVM flags of every session's driver (and executors); then those of its input's size, then its own.
# ArchiveRelocationMode=0 maps the class archives at the address they were written for, so their
# pages stay shared with every other JVM on the host; the JDK's default relocates them (address
# randomisation), which copies about 90 MB into each session's private memory.
JVM_OPTIONS = ("-XX:+UseSerialGC -XX:+UnlockDiagnosticVMOptions -XX:-BytecodeVerificationRemote "
               "-XX:ArchiveRelocationMode=0")
SMALL_INPUT_JVM_OPTIONS = "-XX:TieredStopAtLevel=1"
# C2 compiles Spark's generated code even where a method is long (the contract's projection is).
LARGE_INPUT_JVM_OPTIONS = "-XX:-DontCompileHugeMethods"
LARGE_INPUT_BYTES = 32 * 2**20  # about 150,000 events in the raw zone or a CSV file
# A session that runs for days (the demo's stream): the heap grows only while less than 10 % of it is
# free after a collection and gives memory back above 30 % (the JDK's 40 % / 70 % keep about twice
# what it uses). Not on batch sessions: the student jobs' peak in bench/bench_memory.py stayed the same.
LONG_RUNNING_JVM_OPTIONS = "-XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=30"
# The driver's heap of a batch session below LARGE_INPUT_BYTES (above it: spark.driver.memory of
# spark-defaults.conf), and of a long-running one, whose micro-batches are small.
SMALL_INPUT_DRIVER_MEMORY = "768m"
LONG_RUNNING_DRIVER_MEMORY = "512m"
# Set by the provisioned spark-env.sh: the archive, and the empty directory that stands for SPARK_CONF_DIR.
ARCHIVE_VARIABLE = "LAB_SPARK_CLASS_ARCHIVE"
EMPTY_CONF_VARIABLE = "LAB_SPARK_SESSION_CONF_DIR"


def spark_env(conf_dir: str) -> dict[str, str]:
    """The environment after sourcing ``conf_dir``/spark-env.sh as Spark's launcher does (empty without it)."""
    script = Path(conf_dir, "spark-env.sh")
    if not script.is_file():
        return {}
    dump = subprocess.run(["bash", "-c", 'set -a; . "$1"; unset _ SHLVL PWD OLDPWD; exec env -0', "spark-env",
                           str(script)], capture_output=True, check=True).stdout.decode()
    return dict(line.split("=", 1) for line in dump.split("\0") if "=" in line)


@contextmanager
def _launch_environment(java_options: list[str], driver_memory: str | None) -> Iterator[None]:
    """While pyspark launches its JVM: the lab's configuration and class archive (appended to
    ``java_options``), the driver's heap (None: spark.driver.memory) and two malloc arenas instead of
    eight per core. The process's environment is restored afterwards, so that a ``spark-submit`` it
    runs later reads /etc/spark as usual."""
    if SparkSession.getActiveSession() is not None:  # its JVM runs already
        yield
        return
    conf_dir = os.environ.get("SPARK_CONF_DIR", SPARK_CONF_DIR)
    env = spark_env(conf_dir)
    empty = env.get(EMPTY_CONF_VARIABLE)
    submit_args = [*(["--driver-memory", driver_memory] if driver_memory else []), "pyspark-shell"]
    if not empty:  # not provisioned this way: the launcher reads conf_dir itself
        env = {"SPARK_CONF_DIR": conf_dir}
    else:
        submit_args[:0] = ["--properties-file", f"{conf_dir}/spark-defaults.conf"]
        env.update({
            "SPARK_CONF_DIR": empty,
            "SPARK_ENV_LOADED": "1",
            "PYSPARK_PYTHON": env.get("PYSPARK_PYTHON", sys.executable),
        })
        java_options.append(f"-Dlog4j2.configurationFile={conf_dir}/log4j2.properties")
        archive = env.get(ARCHIVE_VARIABLE)
        writing = any("ArchiveClassesAtExit" in flag for flag in java_options)
        if archive and Path(archive).is_file() and not writing:
            # An archive the JVM cannot use (Spark or Java changed since) is skipped without a word.
            java_options.append(f"-XX:SharedArchiveFile={archive} -Xlog:cds=off -Xlog:cds+dynamic=off")
    env.update({"PYSPARK_SUBMIT_ARGS": " ".join(submit_args), "MALLOC_ARENA_MAX": "2"})
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def session(settings: Settings, app_name: str, master: str | None = None, event_log: bool = True,
            java_options: str | None = None, input_bytes: int = 0, long_running: bool = False) -> SparkSession:
    """A session on ``master`` (default: settings.spark_master), e.g. "local[1]" for unit tests.

    The provisioned /etc/spark/spark-defaults.conf supplies HDFS, the event log and the
    Kafka connector jars; event times are UTC whatever the host's time zone.
    event_log=False: no event log on HDFS (for a stream that runs for days: it would grow
    by about 12 KB per micro-batch; its live web UI shows the same while it runs). A local
    session never writes one.
    input_bytes: how much the session will read; from LARGE_INPUT_BYTES on, C2 compiles as well and
    the driver gets spark.driver.memory (below: SMALL_INPUT_DRIVER_MEMORY).
    long_running: a session that runs for days on small inputs (a stream): LONG_RUNNING_JVM_OPTIONS
    and LONG_RUNNING_DRIVER_MEMORY.
    java_options: JVM flags of the driver and the executors, after the others; they take effect only
    when this call starts the session (a session already running in this process is returned as it is).
    An explicit local ``master`` (tests, checks) starts no web UI.
    """
    # Spark's HDFS client acts as the same user as the WebHDFS one (settings.hdfs_user), not as the OS
    # account: else a directory Spark creates may be one the WebHDFS writes cannot enter.
    os.environ["HADOOP_USER_NAME"] = settings.hdfs_user
    explicit_local = bool(master and master.startswith("local"))
    large = input_bytes >= LARGE_INPUT_BYTES
    flags = [JVM_OPTIONS, LARGE_INPUT_JVM_OPTIONS if large else SMALL_INPUT_JVM_OPTIONS,
             *([LONG_RUNNING_JVM_OPTIONS] if long_running else []), *([java_options] if java_options else [])]
    driver_memory = (LONG_RUNNING_DRIVER_MEMORY if long_running else None if large
                     else SMALL_INPUT_DRIVER_MEMORY)
    master = master or settings.spark_master
    with _launch_environment(flags, driver_memory=driver_memory):
        builder = (
            SparkSession.builder.appName(f"{settings.namespace}:{app_name}")
            .master(master)
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.hadoop.fs.defaultFS", settings.hdfs_url)
            # The lab command shows its own progress; Spark's console bars would garble it.
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.extraJavaOptions", " ".join(flags))
            .config("spark.executor.extraJavaOptions", " ".join(flags))
        )
        if explicit_local:  # tests and checks: no web UI to start
            builder = builder.config("spark.ui.enabled", "false")
        if master.startswith("local") or not event_log:
            builder = builder.config("spark.eventLog.enabled", "false")
        return builder.getOrCreate()


def hdfs_bytes(settings: Settings, path: str) -> int:
    """The bytes under an HDFS path (0 when it does not exist): a session's ``input_bytes``."""
    return (settings.webhdfs().content(path, strict=False) or {}).get("length", 0)


class Phases:
    """Wall seconds of each phase of a stage, in the order they ran (``lab pipeline clean --timings``).

    Spark is lazy: a phase that ends in an action (a write, a collect) holds the time of every
    transformation before it, e.g. reading the raw zone and applying the contract."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


def write_class_archive(path: Path) -> bool:
    """Write the class archive at ``path`` unless a JVM accepts the one there; True when written.

    The archive holds the classes a session loads while it runs the pipeline's clean and analyze
    functions on a few local records (no service needed), so it is written at provisioning.
    """
    if path.is_file() and archive_accepted(path):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.partial.jsa")  # the JVM writes an archive only by this suffix
    partial.unlink(missing_ok=True)
    subprocess.run([sys.executable, "-m", "pipeline.spark", "_workload", str(partial)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial.chmod(0o644)
    partial.replace(path)
    return True


def archive_accepted(path: Path) -> bool:
    """Does a session start with ``path`` mapped (-Xshare:on fails the JVM otherwise)?"""
    code = ("import sys; from pipeline import settings, spark; "
            "spark.session(settings.load(), 'class-archive-check', master='local[1]', "
            "java_options=f'-XX:SharedArchiveFile={sys.argv[1]} -Xshare:on').stop()")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, check=False)
    return result.returncode == 0


def _workload(archive: Path) -> None:
    """What the archive is made of: a session running clean's and analyze's functions on local files."""
    from pipeline import analyze, clean

    spark = session(load(), "class-archive", master="local[2]", java_options=f"-XX:ArchiveClassesAtExit={archive}")
    records = ["2019-10-01 00:00:00 UTC,purchase,1,2,electronics.phone,acme,9.99,3,s1",
               "2019-10-01 00:00:01 UTC,view,1,2,,,9.99,3,s1", 'bad,"quoted ""field""",x']
    with tempfile.TemporaryDirectory() as tmp:
        raw = spark.createDataFrame([(r, "workload", n, 0, n, 0) for n, r in enumerate(records)], clean.RAW_SCHEMA)
        raw.write.json(f"file://{tmp}/raw")
        checked = clean.apply_contract(spark.read.schema(clean.RAW_SCHEMA).json(f"file://{tmp}/raw")).persist()
        clean.rejected_records(checked).write.partitionBy("reason").parquet(f"file://{tmp}/quarantine")
        clean.deduplicate(clean.valid_events(checked)).repartition("event_date").write.partitionBy(
            "event_date").parquet(f"file://{tmp}/clean")
        events = spark.read.parquet(f"file://{tmp}/clean")
        clean.quality_counts(checked, events)
        for name, mart in analyze.marts(events).items():
            spark.createDataFrame(mart.collect(), mart.schema).write.parquet(f"file://{tmp}/{name}")
    jvm = spark.sparkContext._gateway.proc  # the launcher's process: it ends when the JVM does
    spark.stop()
    jvm.stdin.close()  # the JVM exits when its stdin closes, and writes the archive as it exits
    jvm.wait()


if __name__ == "__main__":
    if sys.argv[1:2] == ["_workload"]:
        _workload(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["class-archive"] and len(sys.argv) == 3:
        print("written" if write_class_archive(Path(sys.argv[2])) else "up to date")
    else:
        sys.exit(__doc__)
