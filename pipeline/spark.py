"""The SparkSession every Spark stage uses: the lab's spark-defaults, UTC, the given master."""

from __future__ import annotations

import os

from pyspark.sql import SparkSession

from pipeline.settings import Settings

SPARK_CONF_DIR = "/etc/spark"


def session(settings: Settings, app_name: str, master: str | None = None, event_log: bool = True,
            java_options: str | None = None) -> SparkSession:
    """A session on the standalone master (or `master`, e.g. "local[1]" for unit tests).

    The provisioned /etc/spark/spark-defaults.conf supplies HDFS, the event log and the
    Kafka connector jars; event times are UTC whatever the host's time zone.
    event_log=False: no event log on HDFS (for a stream that runs for days: it would grow
    by about 12 KB per micro-batch; its live web UI shows the same while it runs).
    java_options: JVM flags of the driver and the executors; they take effect only when this
    call starts the session (a session already running in this process is returned as it is).
    """
    os.environ.setdefault("SPARK_CONF_DIR", SPARK_CONF_DIR)
    # Spark's HDFS client acts as the same user as the WebHDFS one (settings.hdfs_user), not as the OS
    # account: else a directory Spark creates may be one the WebHDFS writes cannot enter.
    os.environ["HADOOP_USER_NAME"] = settings.hdfs_user
    builder = (
        SparkSession.builder.appName(f"{settings.namespace}:{app_name}")
        .master(master or settings.spark_master)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.hadoop.fs.defaultFS", settings.hdfs_url)
        # The lab command shows its own progress; Spark's console bars would garble it.
        .config("spark.ui.showConsoleProgress", "false")
    )
    if java_options:
        builder = (builder.config("spark.driver.extraJavaOptions", java_options)
                   .config("spark.executor.extraJavaOptions", java_options))
    local = bool(master and master.startswith("local"))
    if local:
        builder = builder.config("spark.ui.enabled", "false")
    if local or not event_log:
        builder = builder.config("spark.eventLog.enabled", "false")
    return builder.getOrCreate()
